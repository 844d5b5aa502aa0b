// The operator's reconcilers. Two kinds of key: node/<name> judges every
// audited pod bound to that node against the node's report, writes the
// report's status, flags mismatched pods and sets their metric series;
// audit/<name> sums the nodes up into the audit's status. Both read the
// cache, compute with pure functions, and write only what changed. Only the
// leader runs them, and every write first checks it still leads.
import { isDeepStrictEqual } from 'node:util';
import { GROUP, VERSION } from '../api/v1alpha1/group.ts';
import { NODE_SANDBOX_REPORT, type NodeAuditEntry, type NodeSandboxReportStatus, type PodVerdictEntry } from '../api/v1alpha1/node-sandbox-report.ts';
import { RUNTIME_CLASS_AUDIT, type RuntimeClassAuditStatus } from '../api/v1alpha1/runtime-class-audit.ts';
import { ApiOutageLog } from '../kube/api-outage.ts';
import { KubeApiError } from '../kube/errors.ts';
import { MERGE_PATCH, type KubeRest } from '../kube/rest.ts';
import type { Logger } from '../observability/logger.ts';
import { PendingWrites } from './pending-writes.ts';
import { auditKey, ClusterCache, type CacheOptions } from './cluster-cache.ts';
import { EventRecorder, gravestPerPod, heldNotice, noticeFor, podConditionFor, writePodCondition, type GravestVerdict, type JudgedAudit } from './flagging.ts';
import type { OperatorMetrics } from './metrics.ts';
import { done, runWorker, type ReconcileResult } from './reconcile.ts';
import { auditCovers } from './selection.ts';
import {
  auditStatus, capEntries, ignoredReport, nodeAuditEntry, nodeState, reasonTotals, reportStatus, summarize, type IgnoredReportReason, type NodeState, type NodeSummary,
} from './status.ts';
import type { AuditRecord, ReportRecord } from './trim.ts';
import { auditNode, type AuditedPod, type AuditPolicy, type NodeView } from './verdict.ts';
import { WorkQueue } from './work-queue.ts';

const AUDIT_DEBOUNCE_MS = 500;

export interface ControllerOptions extends CacheOptions {
  /** This replica's name, in the Events it writes. */
  instance: string;
  workers: number;
  /** Every key is reconciled again this often, changed or not. */
  resyncMs: number;
  eventSeriesIntervalMs?: number;
}

export interface ControllerDeps {
  rest: KubeRest;
  log: Logger;
  metrics: OperatorMetrics;
  /** Checked before every write. */
  isLeader: () => boolean;
  now?: () => number;
}

class NotLeader extends Error {}

const policyOf = (audit: AuditRecord): AuditPolicy => ({
  expectedRuntimeTypes: audit.spec.expectedRuntimeTypes ?? {},
  expectedIsolation: audit.spec.expectedIsolation ?? {},
  gracePeriodMs: audit.spec.gracePeriodSeconds * 1000,
});

export class AuditController {
  readonly cache: ClusterCache;
  readonly queue = new WorkQueue();
  private readonly deps: ControllerDeps;
  private readonly options: ControllerOptions;
  private readonly recorder: EventRecorder;
  private readonly now: () => number;
  /** Per audit, per node: what the audit's status needs. */
  private readonly summaries = new Map<string, Map<string, NodeSummary>>();
  private readonly nodeStates = new Map<string, NodeState>();
  private readonly reportWrites = new PendingWrites<NodeSandboxReportStatus>();
  private readonly auditWrites = new PendingWrites<RuntimeClassAuditStatus>();
  /** Reports ignored at their node's last reconcile, by node name: logged when that changes. */
  private readonly ignoredReports = new Map<string, IgnoredReportReason>();
  private workers: Promise<void>[] = [];
  private resyncTimer: NodeJS.Timeout | undefined;

  constructor(options: ControllerOptions, deps: ControllerDeps) {
    this.options = options;
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    const outages = new ApiOutageLog(deps.log);
    this.recorder = new EventRecorder(deps.rest, { instance: options.instance, ...(options.eventSeriesIntervalMs === undefined ? {} : { seriesIntervalMs: options.eventSeriesIntervalMs }) });
    this.cache = new ClusterCache(deps.rest, options, {
      enqueue: (key) => {
        this.queue.add(key);
      },
      podGone: (uid) => {
        this.recorder.forgetPod(uid);
        deps.metrics.forgetPod(uid);
      },
      auditGone: (name) => {
        this.summaries.delete(name);
        this.auditWrites.forget(name);
        deps.metrics.forgetAudit(name);
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
      reportGone: (name) => {
        this.reportWrites.forget(name);
      },
      isOwnReportStatus: (r) => this.reportWrites.arrived(r.name, r.status),
      isOwnAuditStatus: (a) => this.auditWrites.arrived(a.name, a.status),
    }, deps.log);
    deps.metrics.countIgnoredReportsWith(() => this.ignoredReportCounts());
  }

  /** Reports every audit ignores, by reason, as the cache has them now. */
  private ignoredReportCounts(): Map<IgnoredReportReason, number> {
    const counts = new Map<IgnoredReportReason, number>();
    for (const report of this.cache.reports.store.values()) {
      const reason = ignoredReport(report, this.cache.nodes.store.get(report.name)?.uid);
      if (reason !== undefined) counts.set(reason, (counts.get(reason) ?? 0) + 1);
    }
    return counts;
  }

  /** Fills the cache; resolves once every resource is listed. */
  async start(): Promise<void> {
    await this.cache.start();
    this.deps.log.info({ pods: this.cache.pods.store.size, nodes: this.cache.nodes.store.size, reports: this.cache.reports.store.size }, 'cache synced');
  }

  get synced(): boolean {
    return this.cache.synced;
  }

  /** The leader's part: reconcile everything now, then whatever changes. */
  runWorkers(): void {
    this.cache.enqueueAllNodes();
    this.cache.enqueueAudits();
    this.resyncTimer = setInterval(() => {
      this.cache.enqueueAllNodes();
      this.cache.enqueueAudits();
    }, this.options.resyncMs);
    const onError = (key: string, error: unknown, terminal: boolean): void => {
      this.deps.metrics.reconcileErrors.inc({ kind: key.split('/')[0] ?? 'unknown' });
      this.deps.log.warn({ key, terminal, err: error instanceof Error ? error.message : String(error) }, 'reconcile failed');
    };
    for (let i = 0; i < this.options.workers; i++) this.workers.push(runWorker(this.queue, (key) => this.reconcile(key), onError));
  }

  async stop(): Promise<void> {
    clearInterval(this.resyncTimer);
    this.queue.shutDown();
    await Promise.all(this.workers);
    await this.cache.stop();
  }

  private async reconcile(key: string): Promise<ReconcileResult> {
    this.deps.metrics.queueDepth.set(this.queue.length);
    const [kind = '', ...rest] = key.split('/');
    const name = rest.join('/');
    const timer = this.deps.metrics.reconcileDuration.startTimer({ kind });
    try {
      const result = kind === 'node' ? await this.reconcileNode(name) : await this.reconcileAudit(name);
      this.deps.metrics.lastReconcile.set(Date.now() / 1000);
      return result;
    } catch (err) {
      if (err instanceof NotLeader) return { kind: 'terminal', error: err };
      throw err;
    } finally {
      timer();
    }
  }

  private mustLead(): void {
    if (!this.deps.isLeader()) throw new NotLeader('not the leader: not writing');
  }

  private validAudits(): AuditRecord[] {
    return [...this.cache.audits.store.values()].filter((a) => a.invalid === undefined).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** What reconcile knows of a node: its report as the verdict engine reads it (none when it is ignored), its state, its pods. */
  private nodeInputs(name: string): { report: ReportRecord | undefined; view: NodeView | undefined; state: NodeState; pods: AuditedPod[]; exists: boolean; known: boolean } {
    const stored = this.cache.reports.store.get(name);
    const node = this.cache.nodes.store.get(name);
    const ignored = stored === undefined ? undefined : ignoredReport(stored, node?.uid);
    this.noteIgnored(name, ignored, stored !== undefined);
    const report = ignored === undefined ? stored : undefined;
    const agentReady = this.cache.agentReady(name);
    const view: NodeView | undefined = report?.spec === undefined ? undefined : { name, report: report.spec, agentReady };
    const pods = this.cache.podsOn(name);
    const exists = node !== undefined;
    // A node nobody speaks of any more drops out of the counts; a report alone does not make a node.
    const known = exists || pods.length > 0;
    return { report, view, state: ignored === undefined ? nodeState(report, agentReady) : 'InvalidReport', pods, exists, known };
  }

  /** Logs a report that starts or stops being ignored, once per change, with its node's name. */
  private noteIgnored(name: string, reason: IgnoredReportReason | undefined, reportExists: boolean): void {
    const was = this.ignoredReports.get(name);
    if (was === reason) return;
    if (reason === undefined) {
      this.ignoredReports.delete(name);
      // A deleted report was not forgiven: nothing to say.
      if (reportExists) this.deps.log.info({ node: name, was }, 'report no longer ignored: its Node exists and owns it');
      return;
    }
    this.ignoredReports.set(name, reason);
    const why = reason === 'NoSuchNode' ? 'no Node of that name exists' : 'it is not owned by the current Node of that name';
    this.deps.log.warn({ node: name, reason }, `report ignored by every audit: ${why}`);
  }

  private async reconcileNode(name: string): Promise<ReconcileResult> {
    const now = this.now();
    const { report, view, state, pods, exists, known } = this.nodeInputs(name);
    this.setNodeState(name, exists ? state : undefined);
    const previous = new Map((this.reportWrites.get(name, now) ?? report?.status)?.audits?.map((a) => [a.name, a]));
    const judged: JudgedAudit[] = [];
    for (const audit of this.validAudits()) {
      const before = previous.get(audit.name);
      const entry = this.judge(audit, { view, pods, before, now });
      judged.push({ audit, entry, before });
      this.remember(audit.name, name, known ? summarize(state, entry) : undefined);
      this.setPodMetrics(audit.name, name, entry, before);
      // Debounced: when many nodes change at once (a cold start), the audit is summed up twice a second, not once per node.
      this.queue.addAfter(auditKey(audit.name), AUDIT_DEBOUNCE_MS);
    }
    await this.flag(judged);
    const entries = judged.map((j) => j.entry);
    if (report !== undefined) await this.writeReportStatus(report, entries);
    return this.untilGraceEnds(pods, entries, now);
  }

  private async writeReportStatus(report: ReportRecord, entries: readonly NodeAuditEntry[]): Promise<void> {
    const status = reportStatus(report.generation, capEntries(entries), report.spec?.sandboxes.length ?? 0);
    await this.writeStatus({ kind: NODE_SANDBOX_REPORT, name: report.name, pending: this.reportWrites }, status, report.status);
  }

  /** One audit's verdicts for the pods of one node. */
  private judge(audit: AuditRecord, on: { view: NodeView | undefined; pods: readonly AuditedPod[]; before: NodeAuditEntry | undefined; now: number }): NodeAuditEntry {
    const covered = on.pods.filter((p) => auditCovers(audit.spec, p, this.cache.namespaces.store.get(p.namespace)));
    const result = auditNode(on.view, covered, this.cache.boundNodeOf, { policy: policyOf(audit), now: on.now });
    return nodeAuditEntry(audit.name, covered, result, { previous: on.before, now: on.now });
  }

  private async reconcileAudit(name: string): Promise<ReconcileResult> {
    const audit = this.cache.audits.store.get(name);
    if (audit === undefined) return done;
    const summaries = this.summaries.get(name) ?? new Map<string, NodeSummary>();
    const nodes = new Set(this.cache.nodes.store.keys());
    const now = this.now();
    const stored = this.auditWrites.get(name, now) ?? audit.status;
    const status = auditStatus({ ...audit, ...(stored === undefined ? {} : { status: stored }) }, summaries, nodes, now);
    const totals = reasonTotals(summaries);
    this.deps.metrics.setAuditCounts(name, totals, { orphan: status.counts.orphanSandboxes, suspicious: status.counts.suspiciousSandboxes });
    await this.writeStatus({ kind: RUNTIME_CLASS_AUDIT, name, pending: this.auditWrites }, status, audit.status);
    return done;
  }

  /**
   * Writes an object's status (JSON merge patch on the status subresource),
   * unless it is what is stored, or what we wrote and the watch has not
   * brought back yet. An object deleted meanwhile is not an error: its
   * deletion queues the work again.
   */
  private async writeStatus<T>(target: { kind: { kind: string; plural: string }; name: string; pending: PendingWrites<T> }, status: T, stored: T | undefined): Promise<void> {
    const now = this.now();
    if (isDeepStrictEqual(stored, status) || isDeepStrictEqual(target.pending.get(target.name, now), status)) return;
    this.mustLead();
    // Pending before the request: the watch can bring the write back before the request's own answer arrives.
    target.pending.wrote(target.name, status, now);
    try {
      await this.deps.rest.request('PATCH', `/apis/${GROUP}/${VERSION}/${target.kind.plural}/${target.name}/status`, {
        what: `patch ${target.kind.kind} ${target.name} status`, contentType: MERGE_PATCH, body: { status },
      });
    } catch (err) {
      target.pending.forget(target.name);
      if (!(err instanceof KubeApiError && err.reason === 'NotFound')) throw err;
    }
  }

  private remember(audit: string, node: string, summary: NodeSummary | undefined): void {
    const byNode = this.summaries.get(audit) ?? new Map<string, NodeSummary>();
    if (summary === undefined) byNode.delete(node);
    else byNode.set(node, summary);
    this.summaries.set(audit, byNode);
  }

  private setNodeState(name: string, state: NodeState | undefined): void {
    const old = this.nodeStates.get(name);
    if (old === state) return;
    if (old !== undefined) this.deps.metrics.nodes.dec({ state: old });
    if (state === undefined) this.nodeStates.delete(name);
    else {
      this.nodeStates.set(name, state);
      this.deps.metrics.nodes.inc({ state });
    }
  }

  private setPodMetrics(audit: string, node: string, entry: NodeAuditEntry, before: NodeAuditEntry | undefined): void {
    for (const p of entry.pods) this.deps.metrics.setPodVerdict(audit, node, p);
    const now = new Set(entry.pods.map((p) => p.uid));
    for (const p of before?.pods ?? []) if (!now.has(p.uid)) this.deps.metrics.forgetPod(p.uid, audit);
  }

  /**
   * Events, and where an audit asks for it a pod condition, for the node's
   * pods: once per pod per pass, saying the gravest verdict among the audits
   * that flag that way (a pod one audit finds mismatched is flagged even if
   * another, laxer one finds it matched).
   */
  private async flag(judged: readonly JudgedAudit[]): Promise<void> {
    const events = gravestPerPod(judged.filter((j) => j.audit.spec.flagging?.events ?? true));
    const conditions = gravestPerPod(judged.filter((j) => j.audit.spec.flagging?.podCondition ?? false));
    for (const verdict of events.values()) await this.flagPod(() => this.recordEvent(verdict), verdict.now);
    for (const { now } of conditions.values()) await this.flagPod(() => this.setPodCondition(now), now);
  }

  private async flagPod(write: () => Promise<void>, p: PodVerdictEntry): Promise<void> {
    try {
      await write();
    } catch (err) {
      if (err instanceof NotLeader) throw err;
      // One pod that cannot be flagged (its namespace is being deleted, say) must not hold up its node.
      this.deps.log.warn({ pod: `${p.namespace}/${p.name}`, err: err instanceof Error ? err.message : String(err) }, 'could not flag pod');
    }
  }

  private async recordEvent({ now: p, before, audit }: GravestVerdict): Promise<void> {
    const notice = noticeFor(p, before, audit);
    if (notice !== undefined) this.mustLead();
    const outcome = await this.recorder.record(p.uid, notice, this.now(), heldNotice(p, audit));
    if (outcome !== 'skipped' && notice !== undefined) this.deps.metrics.events.inc({ reason: notice.reason, action: outcome });
  }

  private async setPodCondition(p: PodVerdictEntry): Promise<void> {
    const wanted = podConditionFor(p);
    const current = this.cache.pod(p.uid)?.verified;
    if (current?.status === wanted.status && current.reason === wanted.reason) return;
    this.mustLead();
    await writePodCondition(this.deps.rest, p, wanted, this.now());
  }

  /** Come back when the first pod still within its grace period runs out of it. */
  private untilGraceEnds(pods: readonly AuditedPod[], entries: readonly NodeAuditEntry[], now: number): ReconcileResult {
    let soonest = Infinity;
    for (const entry of entries) {
      const audit = this.cache.audits.store.get(entry.name);
      if (audit === undefined) continue;
      const grace = policyOf(audit).gracePeriodMs;
      for (const p of entry.pods) {
        if (p.reason !== 'AwaitingSandbox') continue;
        const boundAt = pods.find((x) => x.uid === p.uid)?.boundAt ?? now;
        soonest = Math.min(soonest, boundAt + grace - now);
      }
    }
    return soonest === Infinity ? done : { kind: 'requeueAfter', ms: Math.max(1000, soonest + 100) };
  }
}
