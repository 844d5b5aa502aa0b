// One reflector per watched resource, each listing and watching into the
// cache's own store, so an object is held once. Every change reaches one
// listener, after the cache's indexes are true, as a single stream.
import { GROUP, VERSION } from '../../api/v1alpha1/group.ts';
import { NODE_SANDBOX_REPORT } from '../../api/v1alpha1/node-sandbox-report.ts';
import { RUNTIME_CLASS_AUDIT } from '../../api/v1alpha1/runtime-class-audit.ts';
import { Reflector, type KubeObject, type RestartReason } from '../../kube/reflector.ts';
import type { KubeRest } from '../../kube/rest.ts';
import type { CacheChange, CachedKinds, ClusterCache, Resource } from './cluster-cache.ts';
import { trimAudit, trimNamespace, trimNode, trimPod, trimReport, trimRuntimeClass, type AgentPodSelector } from './trim.ts';

export interface InformerOptions {
  agents?: AgentPodSelector;
  /** The probe pods' namespace, when probes are on: its pods are marked as probes. */
  probeNamespace?: string | undefined;
  watchSilenceMs: number;
  pageSize?: number;
}

export interface InformerListener {
  changed: (change: CacheChange) => void;
  watchRestarted: (resource: string, reason: RestartReason, error?: unknown) => void;
  /** A resource's list and watch started failing, or work again. */
  apiHealth: (resource: string, healthy: boolean, error?: unknown) => void;
}

const byName = (o: KubeObject): string | undefined => o.metadata?.name;
const byUid = (o: KubeObject): string | undefined => o.metadata?.uid;
const crPath = (plural: string): string => `/apis/${GROUP}/${VERSION}/${plural}`;

/** Where each resource is listed, how it is keyed and trimmed. Smallest first, pods last: a pod's RuntimeClass and stored verdicts are known when it is first seen. */
function sources(
  agents: AgentPodSelector | undefined,
  probeNamespace: string | undefined,
): {
  [R in Resource]: { path: string; keyOf: (o: KubeObject) => string | undefined; trim: (o: KubeObject) => CachedKinds[R] };
} {
  return {
    runtimeclasses: { path: '/apis/node.k8s.io/v1/runtimeclasses', keyOf: byName, trim: trimRuntimeClass },
    namespaces: { path: '/api/v1/namespaces', keyOf: byName, trim: trimNamespace },
    nodes: { path: '/api/v1/nodes', keyOf: byName, trim: trimNode },
    audits: { path: crPath(RUNTIME_CLASS_AUDIT.plural), keyOf: byName, trim: trimAudit },
    reports: { path: crPath(NODE_SANDBOX_REPORT.plural), keyOf: byName, trim: trimReport },
    pods: { path: '/api/v1/pods', keyOf: byUid, trim: (o) => trimPod(o, agents, probeNamespace) },
  };
}

/** The names metrics and logs use for each resource. */
const RESOURCE_NAMES: Record<Resource, string> = {
  runtimeclasses: 'runtimeclasses',
  namespaces: 'namespaces',
  nodes: 'nodes',
  audits: RUNTIME_CLASS_AUDIT.plural,
  reports: NODE_SANDBOX_REPORT.plural,
  pods: 'pods',
};

type Running = Pick<Reflector<unknown>, 'start' | 'stop' | 'synced'>;

export class Informers {
  private readonly reflectors: { resource: Resource; reflector: Running }[];

  constructor(rest: KubeRest, cache: ClusterCache, options: InformerOptions, listener: InformerListener) {
    const all = sources(options.agents, options.probeNamespace);
    const informer = <R extends Resource>(resource: R): Reflector<CachedKinds[R]> => {
      const name = RESOURCE_NAMES[resource];
      return new Reflector<CachedKinds[R]>(rest, {
        ...all[resource],
        resource: name,
        store: cache.stores[resource],
        watchSilenceMs: options.watchSilenceMs,
        pageSize: options.pageSize ?? 500,
        onChange: (key, old, now) => {
          const change = { resource, key, old, now } as CacheChange;
          cache.index(change);
          listener.changed(change);
        },
        onRestart: (reason, error) => {
          listener.watchRestarted(name, reason, error);
        },
        onHealth: (healthy, error) => {
          listener.apiHealth(name, healthy, error);
        },
      });
    };
    this.reflectors = (Object.keys(all) as Resource[]).map((resource) => ({ resource, reflector: informer(resource) }));
  }

  /** Lists every resource in turn; resolves once all are listed, with how long each took (ms). */
  async start(): Promise<Record<string, number>> {
    const took: Record<string, number> = {};
    for (const { resource, reflector } of this.reflectors) {
      const t = performance.now();
      await reflector.start();
      took[RESOURCE_NAMES[resource]] = Math.round(performance.now() - t);
    }
    return took;
  }

  async stop(): Promise<void> {
    await Promise.all(this.reflectors.map(({ reflector }) => reflector.stop()));
  }

  get synced(): boolean {
    return this.reflectors.every(({ reflector }) => reflector.synced);
  }
}
