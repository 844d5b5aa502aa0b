// The operator's manager (controller-runtime's word): it owns the cache and
// its informers, the expectations, and one work queue per reconciler, turns
// the cache's stream of changes into keys (triggers.ts), and runs the
// workers while this replica leads. The reconcilers never call back into it.
import { ApiOutageLog } from '../../observability/api-outage.ts';
import type { KubeRest } from '../../kube/rest.ts';
import type { Logger } from '../../observability/logger.ts';
import { AuditReconciler } from './audit-reconciler.ts';
import { ClusterCache, type CacheChange } from '../cache/cluster-cache.ts';
import type { AuditRecord, PodRecord } from '../cache/records.ts';
import { ignoredReportCounts, verdictFigures } from '../metrics/collector.ts';
import { Expectations } from '../cache/expectations.ts';
import { EventRecorder } from '../acting/event-recorder.ts';
import { Informers, type InformerOptions } from '../cache/informers.ts';
import type { OperatorMetrics } from '../metrics/metrics.ts';
import { NodeReconciler } from './node-reconciler.ts';
import { PROBE_KEY, ProbeReconciler, type ProbeReconcilerDeps, type ProbeSettings } from './probe-reconciler.ts';
import { probeFigures, type ProbeFigure } from '../views/probe-view.ts';
import { runWorker, type ReconcileResult } from '../machinery/reconcile.ts';
import { Remediator } from '../acting/remediator.ts';
import { NotLeader } from '../machinery/leader-election.ts';
import { formatEqualitySelector } from '../judging/selection.ts';
import { triggeredBy } from './triggers.ts';
import { WorkQueue } from '../machinery/work-queue.ts';

/** The ceiling on real evictions over the cluster, whatever the audits ask, unless --max-evictions-per-minute says another. */
export const DEFAULT_MAX_EVICTIONS_PER_MINUTE = 10;

/** When many nodes change at once (a cold start), each audit is summed up twice a second, not once per change. */
const AUDIT_DEBOUNCE_MS = 500;
/**
 * While nodes wait to be judged (a cold start, a new audit), an audit summed
 * now would judge every one of them itself, on the spot, and again at the
 * next debounce: at 5,000 nodes that was most of the first pass's CPU. So
 * an audit waits for the node queue to drain, but never longer than this.
 */
const AUDIT_MAX_WAIT_MS = 10_000;
/** How often the first pass is checked for its end (one log line, for operators and the benchmark). */
const INITIAL_AUDIT_POLL_MS = 200;

export interface ManagerOptions extends InformerOptions {
  /** This replica's name, in the Events it writes. */
  instance: string;
  /** Node reconciles run at once (audits have one worker: each sums the whole cache). */
  workers: number;
  /** Every key is reconciled again this often, changed or not. */
  resyncMs: number;
  eventSeriesIntervalMs?: number;
  /** Act on the audits' spec.remediation (--remediation): the chart grants the RBAC with it. */
  remediation?: boolean;
  /** Real evictions a minute over the cluster, all audits together (--max-evictions-per-minute). */
  maxEvictionsPerMinute?: number;
  /** Proof before placement (--probe-namespace ...): the audits' spec.probes are acted on only with these. */
  probes?: ProbeSettings;
}

/** The probe reconciler, when probes are on. */
function probeReconcilerFor(settings: ProbeSettings | undefined, deps: Omit<ProbeReconcilerDeps, 'settings'>): ProbeReconciler | undefined {
  return settings === undefined ? undefined : new ProbeReconciler({ ...deps, settings });
}

/** Probes off: the probe queue is never fed, and this never asked. */
const NO_PROBES = { reconcile: (): Promise<ReconcileResult> => Promise.resolve({ kind: 'done' }) };

/** Many changes at once (a cold start, a burst of reports) make one probe pass. */
const PROBE_DEBOUNCE_MS = 250;

export interface ManagerDeps {
  rest: KubeRest;
  log: Logger;
  metrics: OperatorMetrics;
  /** Checked before every write. */
  isLeader: () => boolean;
  now?: () => number;
}

type Kind = 'node' | 'audit' | 'probe';

export class Manager {
  readonly cache: ClusterCache;
  private readonly informers: Informers;
  private readonly expectations = new Expectations();
  private readonly queues: Record<Kind, WorkQueue> = { node: new WorkQueue(), audit: new WorkQueue(), probe: new WorkQueue() };
  private readonly reconcilers: Record<Kind, { reconcile: (name: string) => Promise<ReconcileResult> }>;
  private readonly deps: ManagerDeps;
  private readonly options: ManagerOptions;
  private workers: Promise<void>[] = [];
  private resyncTimer: NodeJS.Timeout | undefined;
  private initialAuditTimer: NodeJS.Timeout | undefined;
  /** Since when each audit has waited for the node queue. */
  private readonly auditWaiting = new Map<string, number>();
  private readonly probeReconciler: ProbeReconciler | undefined;
  /** Whether any agent pod was found where the operator looks, as last said; undefined before the first look. */
  private agentsFound: boolean | undefined;

  constructor(options: ManagerOptions, deps: ManagerDeps) {
    this.options = options;
    this.deps = deps;
    const now = deps.now ?? Date.now;
    this.cache = new ClusterCache({ agentsWatched: options.agents !== undefined });
    const probes = options.probes;
    this.probeReconciler = probeReconcilerFor(probes, { api: deps.rest, cache: this.cache, isLeader: deps.isLeader, now, log: deps.log });
    const writer = { api: deps.rest, isLeader: deps.isLeader, now };
    const recorder = new EventRecorder(deps.rest, {
      instance: options.instance,
      ...(options.eventSeriesIntervalMs === undefined ? {} : { seriesIntervalMs: options.eventSeriesIntervalMs }),
    });
    const remediator =
      options.remediation === true
        ? new Remediator({
            api: deps.rest,
            maxEvictionsPerMinute: options.maxEvictionsPerMinute ?? DEFAULT_MAX_EVICTIONS_PER_MINUTE,
            recorder,
            log: deps.log,
            isLeader: deps.isLeader,
            now,
            count: (audit, action, outcome) => {
              deps.metrics.remediations.inc({ audit, action, outcome });
            },
            halted: (audit) => {
              this.queues.audit.add(audit);
            },
          })
        : undefined;
    this.reconcilers = {
      node: new NodeReconciler({
        ...writer,
        cache: this.cache,
        expectations: this.expectations,
        recorder,
        log: deps.log,
        countEvent: (reason, action) => {
          deps.metrics.events.inc({ reason, action });
        },
        ...(remediator === undefined ? {} : { remediator }),
      }),
      audit: new AuditReconciler({
        ...writer,
        cache: this.cache,
        expectations: this.expectations,
        remediation: options.remediation === true,
        ...(options.agents === undefined ? {} : { agents: options.agents }),
        ...(remediator === undefined ? {} : { haltOf: (audit: AuditRecord) => remediator.haltOf(audit) }),
        probeFigures: () => this.probeFiguresNow(),
      }),
      probe: this.probeReconciler ?? NO_PROBES,
    };
    const outages = new ApiOutageLog(deps.log);
    this.informers = new Informers(
      deps.rest,
      this.cache,
      { ...options, probeNamespace: probes?.namespace },
      {
        changed: (change) => {
          this.changed(change);
        },
        watchRestarted: (resource, reason, error) => {
          deps.metrics.watchRestarted(resource, reason);
          // Routine: a server-side timeout, and the watchdog re-watching a quiet resource (the API server sent
          // no bookmark on a quiet watch within 200 s here). Errors are said once per outage (apiHealth); the metric counts every one.
          deps.log[reason === 'gone' ? 'info' : 'debug']({ resource, reason, err: error instanceof Error ? error.message : undefined }, 'watch restarted');
        },
        apiHealth: (resource, healthy, error) => {
          if (healthy) outages.recovered(resource);
          else outages.failed(resource, error, 'list and watch back off from 0.8 s, doubling, jittered, up to 30 s');
        },
      },
    );
    deps.metrics.collectFrom({
      // Only the leader speaks for the verdicts: two replicas must not double every sum.
      verdicts: () => (deps.isLeader() && this.informers.synced ? verdictFigures(this.cache, this.expectations, now()) : undefined),
      ignoredReports: () => ignoredReportCounts(this.cache),
      queueDepth: () => this.queues.node.length + this.queues.audit.length + this.queues.probe.length,
      probes: () => this.probeFiguresNow(),
    });
  }

  /** The probes' figures, for the metrics: only the leader speaks for them, once its cache is filled. */
  private probeFiguresNow(): ProbeFigure[] | undefined {
    if (this.probeReconciler === undefined || !this.deps.isLeader() || !this.informers.synced) return undefined;
    return probeFigures(this.cache, this.probeReconciler.records);
  }

  /** Fills the cache; resolves once every resource is listed. */
  async start(): Promise<void> {
    const listMs = await this.informers.start();
    this.deps.log.info({ pods: this.cache.pods.size, nodes: this.cache.nodes.size, reports: this.cache.reports.size, listMs }, 'cache synced');
    this.noteAgents();
  }

  get synced(): boolean {
    return this.informers.synced;
  }

  /** The leader's part: reconcile everything now, then whatever changes. */
  runWorkers(): void {
    this.enqueueAll();
    this.resyncTimer = setInterval(() => {
      this.enqueueAll();
    }, this.options.resyncMs);
    for (let i = 0; i < this.options.workers; i++) this.workers.push(this.runWorker('node'));
    this.workers.push(this.runWorker('audit'));
    if (this.options.probes !== undefined) this.workers.push(this.runWorker('probe'));
    this.sayWhenFirstPassEnds();
  }

  async stop(): Promise<void> {
    clearInterval(this.resyncTimer);
    clearInterval(this.initialAuditTimer);
    for (const queue of Object.values(this.queues)) queue.shutDown();
    await Promise.all(this.workers);
    await this.informers.stop();
  }

  /**
   * Logs once when every node and audit has been reconciled after taking the
   * lead and every status written meanwhile has come back through the watch:
   * how long a failover or an upgrade leaves the audits unchecked.
   */
  private sayWhenFirstPassEnds(): void {
    const now = this.deps.now ?? Date.now;
    const started = now();
    clearInterval(this.initialAuditTimer);
    this.initialAuditTimer = setInterval(() => {
      const t = now();
      const { reportWrites, auditWrites } = this.expectations;
      if (!this.queues.node.idle() || !this.queues.audit.idle(AUDIT_DEBOUNCE_MS) || reportWrites.awaiting(t) + auditWrites.awaiting(t) > 0) return;
      clearInterval(this.initialAuditTimer);
      this.deps.log.info({ seconds: (t - started) / 1000, nodes: this.cache.nodes.size, audits: this.cache.audits.size }, 'initial audit complete');
    }, INITIAL_AUDIT_POLL_MS);
  }

  private enqueueAll(): void {
    for (const name of this.cache.nodeNames()) this.queues.node.add(name);
    for (const name of this.cache.audits.keys()) this.queues.audit.add(name);
    if (this.options.probes !== undefined) this.queues.probe.add(PROBE_KEY);
  }

  private changed(change: CacheChange): void {
    this.noteInvalid(change);
    if (change.resource === 'pods') this.podChanged(change.key, change.old, change.now);
    const t = triggeredBy(change, this.cache, {
      report: (r) => this.expectations.reportWrites.arrived(r.name, r.status),
      audit: (a) => this.expectations.auditWrites.arrived(a.name, a.status),
    });
    for (const name of t.allNodes ? this.cache.nodeNames() : t.nodes) this.queues.node.add(name);
    if (t.audit !== undefined) this.queues.audit.add(t.audit);
    if (t.allAudits) for (const name of this.cache.audits.keys()) this.queues.audit.addAfter(name, AUDIT_DEBOUNCE_MS);
    if (this.options.probes !== undefined && probeRelevant(change)) this.queues.probe.addAfter(PROBE_KEY, PROBE_DEBOUNCE_MS);
  }

  private podChanged(uid: string, old: PodRecord | undefined, now: PodRecord | undefined): void {
    this.expectations.podChanged(this.cache, uid, old, now);
    if (old?.agentReady !== undefined || now?.agentReady !== undefined) this.noteAgents();
  }

  /**
   * Whether agent pods exist where the operator looks, said once when it
   * turns: a wrong --agent-namespace or --agent-selector would otherwise
   * only show as every node AgentNotReady. The audits say it too, in their
   * Ready condition, so they are summed again when it turns.
   */
  private noteAgents(): void {
    const { agents } = this.options;
    if (agents === undefined || !this.informers.synced) return;
    const found = this.cache.agentPodCount() > 0;
    if (found === this.agentsFound) return;
    const first = this.agentsFound === undefined;
    this.agentsFound = found;
    const where = { namespace: agents.namespace, selector: formatEqualitySelector(agents.matchLabels) };
    if (!found)
      this.deps.log.warn(
        where,
        "no agent pod found: no pod in that namespace matches the agent selector (check --agent-namespace and --agent-selector); no node's report is taken as current until one does",
      );
    else if (!first) this.deps.log.info({ ...where, pods: this.cache.agentPodCount() }, 'agent pods found');
    if (!first) for (const name of this.cache.audits.keys()) this.queues.audit.addAfter(name, AUDIT_DEBOUNCE_MS);
  }

  /** A report or audit whose spec turned invalid is said once, when it turns. */
  private noteInvalid(change: CacheChange): void {
    if (change.resource !== 'reports' && change.resource !== 'audits') return;
    const problem = change.now?.invalid;
    if (problem === undefined || problem === change.old?.invalid) return;
    if (change.resource === 'reports')
      this.deps.log.warn({ report: change.key, problem }, "report ignored: its spec does not match the schema; the node's pods are unverified");
    else this.deps.log.warn({ audit: change.key, problem }, 'audit spec is invalid');
  }

  private runWorker(kind: Kind): Promise<void> {
    const { metrics, log } = this.deps;
    const reconcile = async (name: string): Promise<ReconcileResult> => {
      if (kind === 'audit') {
        const wait = auditWait(this.queues.node.length, this.auditWaiting, name, (this.deps.now ?? Date.now)());
        if (wait !== undefined) return wait;
      }
      const timer = metrics.reconcileDuration.startTimer({ kind });
      try {
        const result = await this.reconcilers[kind].reconcile(name);
        metrics.lastReconcile.set(Date.now() / 1000);
        return result;
      } catch (err) {
        if (err instanceof NotLeader) return { kind: 'terminal', error: err };
        throw err;
      } finally {
        timer();
      }
    };
    return runWorker(this.queues[kind], reconcile, (key, error, terminal) => {
      metrics.reconcileErrors.inc({ kind });
      log.warn({ key: `${kind}/${key}`, terminal, err: error instanceof Error ? error.message : String(error) }, 'reconcile failed');
    });
  }
}

/** Whether a change can move a probe: anything but a pod, and a pod only when it is a probe. */
const probeRelevant = (change: CacheChange): boolean => change.resource !== 'pods' || change.old?.probe !== undefined || change.now?.probe !== undefined;

/** Whether audit `name` waits for the node queue (`nodesQueued` keys) a little longer: when to look again, or undefined to sum it now. */
export function auditWait(nodesQueued: number, waiting: Map<string, number>, name: string, now: number): ReconcileResult | undefined {
  const since = waiting.get(name) ?? now;
  if (nodesQueued > 0 && now - since < AUDIT_MAX_WAIT_MS) {
    waiting.set(name, since);
    return { kind: 'requeueAfter', ms: AUDIT_DEBOUNCE_MS };
  }
  waiting.delete(name);
  return undefined;
}
