// The operator's reconcilers in-process, for unit tests: a cache filled with
// API objects as the API server returns them (uid, generation, bound time
// and the report's owner filled in as the server and the agent would), put
// through the same trim functions and `ClusterCache.apply` the informers
// use, and a fake API that records every request. Its status writes can be
// delivered back into the cache, as the watch would.
import { GROUP, VERSION } from '../../api/v1alpha1/group.ts';
import { NODE_SANDBOX_REPORT, type NodeSandboxReportStatus } from '../../api/v1alpha1/node-sandbox-report.ts';
import type { RuntimeClassAuditStatus } from '../../api/v1alpha1/runtime-class-audit.ts';
import { KubeApiError } from '../../kube/errors.ts';
import type { KubeObject } from '../../kube/reflector.ts';
import type { KubeRequester, RequestOptions, Verb } from '../../kube/rest.ts';
import { createLogger } from '../../observability/logger.ts';
import { AuditReconciler } from '../../operator/reconcilers/audit-reconciler.ts';
import { ClusterCache, type CacheChange, type CachedKinds, type Resource } from '../../operator/cache/cluster-cache.ts';
import { Expectations } from '../../operator/cache/expectations.ts';
import { EventRecorder } from '../../operator/acting/event-recorder.ts';
import { NodeReconciler } from '../../operator/reconcilers/node-reconciler.ts';
import { ProbeReconciler } from '../../operator/reconcilers/probe-reconciler.ts';
import { Remediator } from '../../operator/acting/remediator.ts';
import { trimAudit, trimNamespace, trimNode, trimPod, trimReport, trimRuntimeClass } from '../../operator/cache/trim.ts';
import type { AuditRecord } from '../../operator/cache/records.ts';

export const T0 = Date.parse('2026-11-23T10:00:00Z');
/** The probe settings of the recorded operator: its pods in this namespace are its probes. */
export const PROBES = { namespace: 'rcaudit-probes', image: 'localhost/rcaudit/pause:testbed', maxInFlight: 10, perMinute: 30 };
export const AGENTS = { namespace: 'rcaudit', matchLabels: { 'app.kubernetes.io/name': 'runtimeclass-audit', 'app.kubernetes.io/component': 'agent' } };

export interface ApiCall {
  verb: Verb;
  path: string;
  body: unknown;
}

/** Answers as the API server would the few requests the reconcilers make, and remembers them. */
export class RecordingApi implements KubeRequester {
  readonly calls: ApiCall[] = [];
  readonly events = new Map<string, { count: number; lastTimestamp: string; message: string; reason: string }>();

  /** Pods ("namespace/name") whose PodDisruptionBudget allows no eviction: the API server answers 429. */
  readonly disruptionBudgetHolds = new Set<string>();
  /** Pods ("namespace/name") whose eviction the API server fails (500). */
  readonly failingEvictions = new Set<string>();

  request<T>(verb: Verb, path: string, options: RequestOptions): Promise<T> {
    this.calls.push({ verb, path, body: options.body });
    const eviction = /\/namespaces\/([^/]+)\/pods\/([^/]+)\/eviction$/.exec(path);
    const evicted = eviction === null ? undefined : `${eviction[1] ?? ''}/${eviction[2] ?? ''}`;
    if (evicted !== undefined && this.disruptionBudgetHolds.has(evicted)) {
      return Promise.reject(new KubeApiError('TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.", 429));
    }
    if (evicted !== undefined && this.failingEvictions.has(evicted))
      return Promise.reject(new KubeApiError('ServerError', 'etcdserver: request timed out', 500));
    const event = /\/namespaces\/[^/]+\/events(?:\/([^/]+))?$/.exec(path);
    if (event !== null) return Promise.resolve(this.eventRequest(verb, event[1], options) as T);
    return Promise.resolve({} as T);
  }

  /** The writes (not the reads) since `from`, as "VERB path". */
  writes(from = 0): string[] {
    return this.calls
      .slice(from)
      .filter((c) => c.verb !== 'GET')
      .map((c) => `${c.verb} ${c.path}`);
  }

  private eventRequest(verb: Verb, name: string | undefined, options: RequestOptions): unknown {
    const body = options.body as { metadata?: { name?: string }; count: number; lastTimestamp: string; message: string; reason: string };
    const key = name ?? body.metadata?.name ?? '';
    const stored = this.events.get(key);
    if (verb === 'POST') {
      if (stored !== undefined) throw new KubeApiError('AlreadyExists', `event ${key} exists`, 409);
      this.events.set(key, { count: body.count, lastTimestamp: body.lastTimestamp, message: body.message, reason: body.reason });
      return {};
    }
    if (stored === undefined) throw new KubeApiError('NotFound', `event ${key} not found`, 404);
    if (verb === 'PATCH') Object.assign(stored, { count: body.count, lastTimestamp: body.lastTimestamp });
    return stored;
  }
}

const TRIM: { [R in Resource]: (o: KubeObject) => CachedKinds[R] } = {
  runtimeclasses: trimRuntimeClass,
  namespaces: trimNamespace,
  nodes: trimNode,
  audits: trimAudit,
  reports: trimReport,
  pods: (o) => trimPod(o, AGENTS, PROBES.namespace),
};

const RESOURCE_OF_KIND: Record<string, Resource> = {
  RuntimeClass: 'runtimeclasses',
  Namespace: 'namespaces',
  Node: 'nodes',
  RuntimeClassAudit: 'audits',
  NodeSandboxReport: 'reports',
  Pod: 'pods',
};

interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; generation?: number; ownerReferences?: unknown[]; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export const uidOf = (kind: string, name: string, namespace = ''): string => `uid-${kind.toLowerCase()}-${namespace}-${name}`;

export class RecordedCluster {
  readonly cache = new ClusterCache({ agentsWatched: true });
  readonly expectations = new Expectations();
  readonly api = new RecordingApi();
  readonly logged: Record<string, unknown>[] = [];
  now = T0;
  leader = true;
  readonly nodes: NodeReconciler;
  readonly audits: AuditReconciler;
  readonly probes: ProbeReconciler;

  /** Remediations counted, as "audit action outcome". */
  readonly remediations: string[] = [];

  constructor(options: { eventSeriesIntervalMs?: number; remediation?: boolean; maxEvictionsPerMinute?: number } = {}) {
    const log = createLogger('operator', { write: (line: string) => this.logged.push(JSON.parse(line) as Record<string, unknown>) });
    const writer = { api: this.api, isLeader: () => this.leader, now: () => this.now };
    const recorder = new EventRecorder(this.api, {
      instance: 'test',
      ...(options.eventSeriesIntervalMs === undefined ? {} : { seriesIntervalMs: options.eventSeriesIntervalMs }),
    });
    const remediator = new Remediator({
      ...writer,
      maxEvictionsPerMinute: options.maxEvictionsPerMinute ?? 600,
      recorder,
      log,
      count: (audit, action, outcome) => this.remediations.push(`${audit} ${action} ${outcome}`),
      halted: () => undefined,
    });
    this.nodes = new NodeReconciler({
      ...writer,
      cache: this.cache,
      expectations: this.expectations,
      recorder,
      log,
      countEvent: () => undefined,
      ...(options.remediation === true ? { remediator } : {}),
    });
    this.probes = new ProbeReconciler({ ...writer, cache: this.cache, log, settings: PROBES });
    this.audits = new AuditReconciler({
      ...writer,
      cache: this.cache,
      expectations: this.expectations,
      remediation: options.remediation === true,
      ...(options.remediation === true ? { haltOf: (audit: AuditRecord) => remediator.haltOf(audit) } : {}),
    });
  }

  /** Stores each object as the API server would hand it to a watch. */
  add(...objects: object[]): void {
    for (const object of objects) {
      const m = this.completed(structuredClone(object) as Manifest);
      const resource = RESOURCE_OF_KIND[m.kind];
      if (resource === undefined) throw new Error(`no cache for kind ${m.kind}`);
      const key = resource === 'pods' ? (m.metadata.uid ?? '') : m.metadata.name;
      const trimmed = TRIM[resource](m as KubeObject);
      // With a status subresource, writing the object keeps the stored status.
      const stored = this.cache.stores[resource].get(key);
      if (stored !== undefined && 'status' in stored && !('status' in trimmed)) Object.assign(trimmed, { status: stored.status });
      this.applied(this.cache.apply(resource, key, trimmed));
    }
  }

  remove(resource: Resource, key: string): void {
    this.applied(this.cache.apply(resource, key, undefined));
  }

  /** The status writes made so far (reports', audits', pods' conditions), delivered back into the cache as the watch would. */
  deliverWrites(): void {
    for (const call of this.api.calls.splice(0)) {
      if (call.verb === 'PATCH' && /^\/api\/v1\/namespaces\/[^/]+\/pods\/[^/]+\/status$/.test(call.path)) {
        this.deliverPodCondition(call);
        continue;
      }
      const status = /^\/apis\/[^/]+\/[^/]+\/(nodesandboxreports|runtimeclassaudits)\/([^/]+)\/status$/.exec(call.path);
      if (call.verb === 'PATCH' && status !== null) this.deliverStatus(status[1] === NODE_SANDBOX_REPORT.plural ? 'reports' : 'audits', status[2] ?? '', call);
    }
  }

  private deliverStatus(resource: 'reports' | 'audits', name: string, call: ApiCall): void {
    const stored = this.cache.stores[resource].get(name);
    if (stored === undefined) return;
    const written = (call.body as { status: NodeSandboxReportStatus & RuntimeClassAuditStatus }).status;
    const arrived = resource === 'reports' ? this.expectations.reportWrites.arrived(name, written) : this.expectations.auditWrites.arrived(name, written);
    if (!arrived) throw new Error(`${name}: a status write the expectations did not hold`);
    this.cache.apply(resource, name, { ...stored, status: written });
  }

  private deliverPodCondition(call: ApiCall): void {
    const [, , , namespace, , name] = call.path.split('/').slice(1);
    const pod = [...this.cache.pods.values()].find((p) => p.namespace === namespace && p.name === name);
    const condition = (call.body as { status: { conditions: { status: string; reason: string }[] } }).status.conditions[0];
    if (pod === undefined || condition === undefined) return;
    this.cache.apply('pods', pod.uid, { ...pod, verified: { status: condition.status, reason: condition.reason } });
  }

  reportStatus(node: string): NodeSandboxReportStatus | undefined {
    return this.cache.reports.get(node)?.status;
  }

  auditStatus(name: string): RuntimeClassAuditStatus | undefined {
    return this.cache.audits.get(name)?.status;
  }

  private applied(change: CacheChange): void {
    if (change.resource === 'pods') this.expectations.podChanged(this.cache, change.key, change.old, change.now);
  }

  /** What the API server (and, for a report, the agent) fills in. */
  private completed(m: Manifest): Manifest {
    m.metadata.uid ??= uidOf(m.kind, m.metadata.name, m.metadata.namespace);
    m.metadata.generation ??= 1;
    Object.assign(m.metadata, { creationTimestamp: new Date(this.now).toISOString() });
    if (m.kind === 'NodeSandboxReport' && m.metadata.ownerReferences === undefined && this.cache.nodes.has(m.metadata.name)) {
      m.metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'Node', name: m.metadata.name, uid: uidOf('Node', m.metadata.name) }];
    }
    if (m.kind === 'Pod') {
      const scheduled = { type: 'PodScheduled', status: 'True', lastTransitionTime: new Date(this.now).toISOString() };
      m.status = { phase: 'Running', ...m.status, conditions: [scheduled, ...((m.status?.['conditions'] as unknown[] | undefined) ?? [])] };
    }
    return m;
  }
}

export const reportPath = (node: string): string => `/apis/${GROUP}/${VERSION}/nodesandboxreports/${node}/status`;
