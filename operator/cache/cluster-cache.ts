// The operator's view of the cluster: the trimmed objects of each watched
// resource, and the indexes reconcile reads them by (pods by node, agent
// readiness by node, static pods behind their mirrors). It only caches: it
// decides nothing, queues nothing and calls nobody. The informers fill it;
// a test fills it with recorded objects through the same `apply`.
import type { RuntimeClassRecord } from '../judging/coverage.ts';
import type { AuditRecord, NodeRecord, PodRecord, ReportRecord } from './records.ts';

export interface CachedKinds {
  runtimeclasses: RuntimeClassRecord;
  namespaces: Record<string, string>;
  nodes: NodeRecord;
  audits: AuditRecord;
  reports: ReportRecord;
  pods: PodRecord;
}

export type Resource = keyof CachedKinds;

/** One object added (old undefined), changed, or deleted (now undefined). Pods are keyed by uid, the rest by name. */
export type CacheChange = {
  [R in Resource]: { resource: R; key: string; old: CachedKinds[R] | undefined; now: CachedKinds[R] | undefined };
}[Resource];

function addTo<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const set = index.get(key);
  if (set === undefined) index.set(key, new Set([value]));
  else set.add(value);
}

function removeFrom<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}

export class ClusterCache {
  readonly stores: { [R in Resource]: Map<string, CachedKinds[R]> } = {
    runtimeclasses: new Map(),
    namespaces: new Map(),
    nodes: new Map(),
    audits: new Map(),
    reports: new Map(),
    pods: new Map(),
  };
  private readonly podsByNode = new Map<string, Set<string>>();
  private readonly staticPodNode = new Map<string, string>();
  private readonly agentsByNode = new Map<string, Map<string, boolean>>();
  /** Whether agent pods are watched; when not, every report is taken as current. */
  private readonly agentsWatched: boolean;

  constructor(options: { agentsWatched: boolean }) {
    this.agentsWatched = options.agentsWatched;
  }

  /** Stores `now` under `key` (deletes on undefined) and keeps the indexes true; returns the change. */
  apply<R extends Resource>(resource: R, key: string, now: CachedKinds[R] | undefined): CacheChange {
    const store = this.stores[resource] as Map<string, CachedKinds[R]>;
    const old = store.get(key);
    if (now === undefined) store.delete(key);
    else store.set(key, now);
    const change = { resource, key, old, now } as CacheChange;
    this.index(change);
    return change;
  }

  /** Keeps the indexes true after a store changed in place (an informer writes the store itself). */
  index(change: CacheChange): void {
    if (change.resource !== 'pods') return;
    this.unindexPod(change.key, change.old);
    if (change.now !== undefined) this.indexPod(change.key, change.now);
  }

  get audits(): ReadonlyMap<string, AuditRecord> {
    return this.stores.audits;
  }

  get reports(): ReadonlyMap<string, ReportRecord> {
    return this.stores.reports;
  }

  get nodes(): ReadonlyMap<string, NodeRecord> {
    return this.stores.nodes;
  }

  get pods(): ReadonlyMap<string, PodRecord> {
    return this.stores.pods;
  }

  runtimeClass(name: string): RuntimeClassRecord | undefined {
    return this.stores.runtimeclasses.get(name);
  }

  get runtimeClasses(): ReadonlyMap<string, RuntimeClassRecord> {
    return this.stores.runtimeclasses;
  }

  namespaceLabels(name: string): Record<string, string> | undefined {
    return this.stores.namespaces.get(name);
  }

  /** Every node anyone speaks of: Node objects, reports, and nodes pods are bound to. */
  nodeNames(): Set<string> {
    return new Set([...this.stores.nodes.keys(), ...this.stores.reports.keys(), ...this.podsByNode.keys()]);
  }

  /** The agent on `node` is Ready; true when agent pods are not watched (then a report is taken as current). */
  agentReady(node: string): boolean {
    if (!this.agentsWatched) return true;
    for (const ready of this.agentsByNode.get(node)?.values() ?? []) if (ready) return true;
    return false;
  }

  /** How many agent pods are bound to a node, Ready or not. */
  agentPodCount(): number {
    let n = 0;
    for (const agents of this.agentsByNode.values()) n += agents.size;
    return n;
  }

  /** The node a pod uid (or a static pod's uid behind its mirror) is bound to. */
  readonly boundNodeOf = (uid: string): string | undefined => this.stores.pods.get(uid)?.nodeName ?? this.staticPodNode.get(uid);

  /** The pods bound to `node` that still run (not Succeeded or Failed). */
  podsOn(node: string): PodRecord[] {
    const pods: PodRecord[] = [];
    for (const uid of this.podsByNode.get(node) ?? []) {
      const pod = this.stores.pods.get(uid);
      if (pod !== undefined && !pod.terminated) pods.push(pod);
    }
    return pods;
  }

  /** Whether a pod that still runs is bound to `node`, without listing them. */
  hasPodsOn(node: string): boolean {
    for (const uid of this.podsByNode.get(node) ?? []) if (this.stores.pods.get(uid)?.terminated === false) return true;
    return false;
  }

  /** The nodes with a pod that `predicate` picks. */
  nodesWithPods(predicate: (pod: PodRecord) => boolean): Set<string> {
    const nodes = new Set<string>();
    for (const pod of this.stores.pods.values()) if (pod.nodeName !== undefined && predicate(pod)) nodes.add(pod.nodeName);
    return nodes;
  }

  private indexPod(uid: string, pod: PodRecord): void {
    if (pod.nodeName === undefined) return;
    addTo(this.podsByNode, pod.nodeName, uid);
    if (pod.mirrorOf !== undefined) this.staticPodNode.set(pod.mirrorOf, pod.nodeName);
    if (pod.agentReady !== undefined) {
      const agents = this.agentsByNode.get(pod.nodeName) ?? new Map<string, boolean>();
      agents.set(uid, pod.agentReady);
      this.agentsByNode.set(pod.nodeName, agents);
    }
  }

  private unindexPod(uid: string, pod: PodRecord | undefined): void {
    if (pod?.nodeName === undefined) return;
    removeFrom(this.podsByNode, pod.nodeName, uid);
    if (pod.mirrorOf !== undefined) this.staticPodNode.delete(pod.mirrorOf);
    const agents = this.agentsByNode.get(pod.nodeName);
    agents?.delete(uid);
    if (agents?.size === 0) this.agentsByNode.delete(pod.nodeName);
  }
}
