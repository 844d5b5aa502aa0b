// The operator's view of the cluster: one reflector per watched resource,
// each holding trimmed objects, plus the indexes reconcile needs (pods by
// node, agent readiness by node, static pods behind mirrors) and the
// expected handler captured when each pod was first seen. Every change is
// turned into work-queue keys (node/<name>, audit/<name>); reconcile then
// reads this cache, never the event.
import { isDeepStrictEqual } from 'node:util';
import { GROUP, VERSION } from '../api/v1alpha1/group.ts';
import { NODE_SANDBOX_REPORT, type PodVerdictEntry } from '../api/v1alpha1/node-sandbox-report.ts';
import { RUNTIME_CLASS_AUDIT } from '../api/v1alpha1/runtime-class-audit.ts';
import { Reflector, type KubeObject, type ReflectorOptions, type RestartReason } from '../kube/reflector.ts';
import type { KubeRest } from '../kube/rest.ts';
import type { Logger } from '../observability/logger.ts';
import { trimAudit, trimNamespace, trimNode, trimPod, trimReport, trimRuntimeClass, type AgentPodSelector, type AuditRecord, type PodRecord, type ReportRecord } from './trim.ts';
import type { AuditedPod } from './verdict.ts';

const nodeKey = (name: string): string => `node/${name}`;
export const auditKey = (name: string): string => `audit/${name}`;

export interface CacheOptions {
  agents?: AgentPodSelector;
  watchSilenceMs: number;
  pageSize?: number;
}

export interface CacheHooks {
  enqueue: (key: string) => void;
  /** A pod is gone: forget what was said about it. */
  podGone: (uid: string) => void;
  /** An audit is gone. */
  auditGone: (name: string) => void;
  /** A report is gone (a re-created one starts with no status). */
  reportGone: (name: string) => void;
  watchRestarted: (resource: string, reason: RestartReason, error?: unknown) => void;
  /** A resource's list and watch started failing, or work again. */
  apiHealth: (resource: string, healthy: boolean, error?: unknown) => void;
  /** Our own status writes come back through the watch: these tell them apart from others' edits. */
  isOwnReportStatus: (report: ReportRecord) => boolean;
  isOwnAuditStatus: (audit: AuditRecord) => boolean;
}

const byName = (o: KubeObject): string | undefined => o.metadata?.name;
const byUid = (o: KubeObject): string | undefined => o.metadata?.uid;

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

/** The verdict engine's view of a pod. */
function auditedPod(pod: PodRecord, expectedHandler: string | null | undefined): AuditedPod {
  const audited: AuditedPod = { uid: pod.uid, namespace: pod.namespace, name: pod.name };
  const optional = { nodeName: pod.nodeName, runtimeClassName: pod.runtimeClassName, mirrorOf: pod.mirrorOf, boundAt: pod.boundAt, expectedHandler };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) Object.assign(audited, { [key]: value });
  return audited;
}

/** The handler a stored verdict says its pod expected, when it was about the same RuntimeClass (an Unverified one holds it in lastVerified). */
function expectedIn(entry: PodVerdictEntry | undefined, runtimeClassName: string | undefined): string | undefined {
  if (entry === undefined || entry.runtimeClassName !== runtimeClassName) return undefined;
  return entry.expectedHandler ?? entry.lastVerified?.expectedHandler;
}

function sameApartFromStatus<T extends { status?: unknown }>(old: T | undefined, now: T): boolean {
  return old !== undefined && isDeepStrictEqual({ ...old, status: undefined }, { ...now, status: undefined });
}

export class ClusterCache {
  readonly runtimeClasses: Reflector<{ handler: string }>;
  readonly namespaces: Reflector<Record<string, string>>;
  readonly nodes: Reflector<{ uid: string }>;
  readonly audits: Reflector<AuditRecord>;
  readonly reports: Reflector<ReportRecord>;
  readonly pods: Reflector<PodRecord>;
  private readonly podsByNode = new Map<string, Set<string>>();
  private readonly staticPodNode = new Map<string, string>();
  private readonly agentsByNode = new Map<string, Map<string, boolean>>();
  private readonly expectations = new Map<string, string | null>();
  private readonly hooks: CacheHooks;
  private readonly log: Logger;
  private readonly agentsWatched: boolean;

  constructor(rest: KubeRest, options: CacheOptions, hooks: CacheHooks, log: Logger) {
    this.hooks = hooks;
    this.log = log;
    this.agentsWatched = options.agents !== undefined;
    const common = (resource: string): Pick<ReflectorOptions<unknown>, 'resource' | 'watchSilenceMs' | 'pageSize' | 'onRestart' | 'onHealth'> => ({
      resource,
      watchSilenceMs: options.watchSilenceMs,
      pageSize: options.pageSize ?? 500,
      onRestart: (reason, error) => {
        hooks.watchRestarted(resource, reason, error);
      },
      onHealth: (healthy, error) => {
        hooks.apiHealth(resource, healthy, error);
      },
    });
    const crPath = (plural: string): string => `/apis/${GROUP}/${VERSION}/${plural}`;
    this.runtimeClasses = new Reflector(rest, {
      ...common('runtimeclasses'), path: '/apis/node.k8s.io/v1/runtimeclasses', keyOf: byName, trim: trimRuntimeClass,
      onChange: (name) => {
        this.forPods((p) => p.runtimeClassName === name);
      },
    });
    this.namespaces = new Reflector(rest, {
      ...common('namespaces'), path: '/api/v1/namespaces', keyOf: byName, trim: trimNamespace,
      onChange: (name) => {
        this.forPods((p) => p.namespace === name);
      },
    });
    this.nodes = new Reflector(rest, {
      ...common('nodes'), path: '/api/v1/nodes', keyOf: byName, trim: trimNode,
      onChange: (name) => {
        hooks.enqueue(nodeKey(name));
        this.enqueueAudits();
      },
    });
    this.audits = new Reflector(rest, {
      ...common(RUNTIME_CLASS_AUDIT.plural), path: crPath(RUNTIME_CLASS_AUDIT.plural), keyOf: byName, trim: trimAudit,
      onChange: (name, old, now) => {
        this.auditChanged(name, old, now);
      },
    });
    this.reports = new Reflector(rest, {
      ...common(NODE_SANDBOX_REPORT.plural), path: crPath(NODE_SANDBOX_REPORT.plural), keyOf: byName, trim: trimReport,
      onChange: (name, old, now) => {
        this.reportChanged(name, old, now);
      },
    });
    this.pods = new Reflector(rest, {
      ...common('pods'), path: '/api/v1/pods', keyOf: byUid,
      trim: (o) => trimPod(o, options.agents),
      onChange: (uid, old, now) => {
        this.podChanged(uid, old, now);
      },
    });
  }

  /** Lists everything, smallest first and pods last, so a pod's RuntimeClass and stored verdicts are known when it is first seen. */
  async start(): Promise<void> {
    for (const reflector of this.reflectors()) await reflector.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.reflectors().map((r) => r.stop()));
  }

  get synced(): boolean {
    return this.reflectors().every((r) => r.synced);
  }

  /** Every node anyone speaks of: Node objects, reports, and nodes pods are bound to. */
  nodeNames(): Set<string> {
    return new Set([...this.nodes.store.keys(), ...this.reports.store.keys(), ...this.podsByNode.keys()]);
  }

  /** The agent on `node` is Ready; true when agent pods are not watched (then a report is taken as current). */
  agentReady(node: string): boolean {
    if (!this.agentsWatched) return true;
    return [...(this.agentsByNode.get(node)?.values() ?? [])].some(Boolean);
  }

  /** The node a pod uid (or a static pod's uid behind its mirror) is bound to. */
  readonly boundNodeOf = (uid: string): string | undefined => this.pods.store.get(uid)?.nodeName ?? this.staticPodNode.get(uid);

  /** The running pods bound to `node`, as the verdict engine takes them. */
  podsOn(node: string): AuditedPod[] {
    const pods: AuditedPod[] = [];
    for (const uid of this.podsByNode.get(node) ?? []) {
      const pod = this.pods.store.get(uid);
      if (pod === undefined || pod.terminated) continue;
      pods.push(auditedPod(pod, this.expectedHandler(pod)));
    }
    return pods;
  }

  pod(uid: string): PodRecord | undefined {
    return this.pods.store.get(uid);
  }

  enqueueAllNodes(): void {
    for (const name of this.nodeNames()) this.hooks.enqueue(nodeKey(name));
  }

  enqueueAudits(): void {
    for (const name of this.audits.store.keys()) this.hooks.enqueue(auditKey(name));
  }

  private reflectors(): Reflector<unknown>[] {
    return [this.runtimeClasses, this.namespaces, this.nodes, this.audits, this.reports, this.pods] as Reflector<unknown>[];
  }

  /**
   * The handler the pod's RuntimeClass had when the pod was first seen with
   * that class existing. Captured once; a RuntimeClass re-created later with
   * another handler does not change it.
   */
  private expectedHandler(pod: PodRecord): string | null | undefined {
    if (pod.runtimeClassName === undefined) return undefined;
    const captured = this.expectations.get(pod.uid);
    if (captured !== undefined && captured !== null) return captured;
    const handler = this.runtimeClasses.store.get(pod.runtimeClassName)?.handler ?? null;
    this.expectations.set(pod.uid, handler);
    return handler;
  }

  /** What an earlier leader captured for this pod, from its node's report status. */
  private storedExpectation(pod: PodRecord): string | undefined {
    const status = pod.nodeName === undefined ? undefined : this.reports.store.get(pod.nodeName)?.status;
    for (const audit of status?.audits ?? []) {
      const expected = expectedIn(audit.pods.find((p) => p.uid === pod.uid), pod.runtimeClassName);
      if (expected !== undefined) return expected;
    }
    return undefined;
  }

  /** First sight of a pod: what does its RuntimeClass (or an earlier leader's record) say now? */
  private capture(pod: PodRecord): void {
    if (pod.runtimeClassName === undefined || this.expectations.has(pod.uid)) return;
    this.expectations.set(pod.uid, this.storedExpectation(pod) ?? this.runtimeClasses.store.get(pod.runtimeClassName)?.handler ?? null);
  }

  private podChanged(uid: string, old: PodRecord | undefined, now: PodRecord | undefined): void {
    this.unindex(uid, old);
    if (now === undefined) {
      this.expectations.delete(uid);
      this.hooks.podGone(uid);
    } else {
      this.index(uid, now);
      if (old === undefined) this.capture(now);
    }
    for (const node of new Set([old?.nodeName, now?.nodeName])) if (node !== undefined) this.hooks.enqueue(nodeKey(node));
  }

  private index(uid: string, pod: PodRecord): void {
    if (pod.nodeName === undefined) return;
    addTo(this.podsByNode, pod.nodeName, uid);
    if (pod.mirrorOf !== undefined) this.staticPodNode.set(pod.mirrorOf, pod.nodeName);
    if (pod.agentReady !== undefined) {
      const agents = this.agentsByNode.get(pod.nodeName) ?? new Map<string, boolean>();
      agents.set(uid, pod.agentReady);
      this.agentsByNode.set(pod.nodeName, agents);
    }
  }

  private unindex(uid: string, pod: PodRecord | undefined): void {
    if (pod?.nodeName === undefined) return;
    removeFrom(this.podsByNode, pod.nodeName, uid);
    if (pod.mirrorOf !== undefined) this.staticPodNode.delete(pod.mirrorOf);
    const agents = this.agentsByNode.get(pod.nodeName);
    agents?.delete(uid);
    if (agents?.size === 0) this.agentsByNode.delete(pod.nodeName);
  }

  private forPods(predicate: (pod: PodRecord) => boolean): void {
    const nodes = new Set<string>();
    for (const pod of this.pods.store.values()) if (pod.nodeName !== undefined && predicate(pod)) nodes.add(pod.nodeName);
    for (const node of nodes) this.hooks.enqueue(nodeKey(node));
  }

  private reportChanged(name: string, old: ReportRecord | undefined, now: ReportRecord | undefined): void {
    if (now === undefined) {
      this.hooks.reportGone(name);
      this.hooks.enqueue(nodeKey(name));
      return;
    }
    if (now.invalid !== undefined && now.invalid !== old?.invalid) {
      this.log.warn({ report: name, problem: now.invalid }, 'report ignored: its spec does not match the schema; the node\'s pods are unverified');
    }
    // Our own status write coming back changes nothing: no work for it.
    const own = this.hooks.isOwnReportStatus(now);
    if (!own || !sameApartFromStatus(old, now)) this.hooks.enqueue(nodeKey(name));
  }

  private auditChanged(name: string, old: AuditRecord | undefined, now: AuditRecord | undefined): void {
    if (now === undefined) {
      this.hooks.auditGone(name);
      this.enqueueAllNodes();
      return;
    }
    if (now.invalid !== undefined && now.invalid !== old?.invalid) this.log.warn({ audit: name, problem: now.invalid }, 'audit spec is invalid');
    const own = this.hooks.isOwnAuditStatus(now);
    const onlyStatus = sameApartFromStatus(old, now);
    if (onlyStatus && own) return;
    this.hooks.enqueue(auditKey(name));
    // A new or changed policy changes every node's verdicts.
    if (!onlyStatus) this.enqueueAllNodes();
  }
}
