// The node reconciler: judges every audited pod bound to one node against
// the node's report, writes the report's status, and flags the pods. Reads
// the cache, computes with pure functions, writes only what changed.
import { NODE_SANDBOX_REPORT, type NodeAuditEntry, type PodVerdictEntry } from '../../api/v1alpha1/node-sandbox-report.ts';
import type { Logger } from '../../observability/logger.ts';
import type { ClusterCache } from '../cache/cluster-cache.ts';
import type { Expectations } from '../cache/expectations.ts';
import { gravestPerPod, heldNotice, toldBefore, noticeFor, podConditionFor, type GravestVerdict, type JudgedAudit } from '../judging/notices.ts';
import { writePodCondition } from '../acting/pod-condition.ts';
import type { EventOutcome, EventRecorder } from '../acting/event-recorder.ts';
import { auditedPodsOn, currentStatus, judgeAudit, nodeReport, validAudits } from '../views/node-view.ts';
import { done, type ReconcileResult } from '../machinery/reconcile.ts';
import { capEntries, reportStatus } from '../judging/report-status.ts';
import type { IgnoredReportReason } from '../judging/node-trust.ts';
import { mustLead, NotLeader } from '../machinery/leader-election.ts';
import { writeStatus, type WriterDeps } from '../acting/status-writer.ts';
import type { Remediator } from '../acting/remediator.ts';
import type { AuditRecord, ReportRecord } from '../cache/records.ts';

export interface NodeReconcilerDeps extends WriterDeps {
  cache: ClusterCache;
  expectations: Expectations;
  recorder: EventRecorder;
  log: Logger;
  countEvent: (reason: string, action: EventOutcome) => void;
  /** Set only with --remediation. */
  remediator?: Remediator;
}

/** A reconcile that is due again is never sooner than this: a clock skewed against boundAt must not spin. */
const MIN_REQUEUE_MS = 1000;

export class NodeReconciler {
  private readonly deps: NodeReconcilerDeps;
  /** The pods each node's last reconcile flagged: a pod no longer among them is gone, and its event series with it. */
  private readonly flagged = new Map<string, Set<string>>();
  /** Reports ignored at their node's last reconcile, by node name: logged when that changes. */
  private readonly ignored = new Map<string, IgnoredReportReason>();

  constructor(deps: NodeReconcilerDeps) {
    this.deps = deps;
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const { cache, expectations } = this.deps;
    const now = this.deps.now();
    const { report, ignored } = nodeReport(cache, name);
    this.noteIgnored(name, ignored, cache.reports.has(name));
    // A report that is gone (or ignored) takes our write in flight with it; a re-created one starts with no status.
    if (report === undefined) expectations.reportWrites.forget(name);
    const pods = auditedPodsOn(cache, expectations, name);
    const previous = new Map(currentStatus(expectations, report, now)?.audits?.map((a) => [a.name, a]));
    const judged: (JudgedAudit & { audit: AuditRecord })[] = [];
    let nextChangeAt = Infinity;
    for (const audit of validAudits(cache)) {
      const before = previous.get(audit.name);
      const result = judgeAudit(cache, audit, { name, report, pods, before, now });
      judged.push({ audit, entry: result.entry, before });
      nextChangeAt = Math.min(nextChangeAt, result.nextChangeAt ?? Infinity);
    }
    await this.flag(name, judged);
    nextChangeAt = Math.min(nextChangeAt, (await this.remediate(name, report, judged)) ?? Infinity);
    if (report !== undefined)
      await this.writeReportStatus(
        report,
        judged.map((j) => j.entry),
      );
    return nextChangeAt === Infinity ? done : { kind: 'requeueAfter', ms: Math.max(MIN_REQUEUE_MS, nextChangeAt - now + 100) };
  }

  /**
   * Opt-in remediation (only with --remediation): evictions, and the label of
   * a node that drops handlers. Judged from what this pass found, before the
   * status is written: an action never waits on our own write. Returns when
   * to look again, if a pod will be due.
   */
  private async remediate(
    name: string,
    report: ReportRecord | undefined,
    judged: readonly { audit: AuditRecord; entry: NodeAuditEntry }[],
  ): Promise<number | undefined> {
    const { remediator } = this.deps;
    if (remediator === undefined) return undefined;
    const onNode = judged.map((j) => ({ audit: j.audit, pods: j.entry.pods }));
    try {
      await remediator.labelNode({ name, record: this.deps.cache.nodes.get(name), report: report?.spec }, onNode);
      return await remediator.evict(name, onNode, this.deps.now(), report?.spec?.runtime.defaultHandler);
    } catch (err) {
      if (err instanceof NotLeader) throw err;
      // An eviction or a label that fails must not hold up the node's verdicts.
      this.deps.log.warn({ node: name, err: err instanceof Error ? err.message : String(err) }, 'remediation failed');
      return undefined;
    }
  }

  private async writeReportStatus(report: ReportRecord, entries: readonly NodeAuditEntry[]): Promise<void> {
    const status = reportStatus(report.generation, capEntries(entries), report.spec?.sandboxes.length ?? 0);
    await writeStatus(this.deps, { kind: NODE_SANDBOX_REPORT, name: report.name, pending: this.deps.expectations.reportWrites }, status, report.status);
  }

  /** Logs a report that starts or stops being ignored, once per change, with its node's name. */
  private noteIgnored(name: string, reason: IgnoredReportReason | undefined, reportExists: boolean): void {
    const was = this.ignored.get(name);
    if (was === reason) return;
    if (reason === undefined) {
      this.ignored.delete(name);
      // A deleted report was not forgiven: nothing to say.
      if (reportExists) this.deps.log.info({ node: name, was }, 'report no longer ignored: its Node exists and owns it');
      return;
    }
    this.ignored.set(name, reason);
    const why = reason === 'NoSuchNode' ? 'no Node of that name exists' : 'it is not owned by the current Node of that name';
    this.deps.log.warn({ node: name, reason }, `report ignored by every audit: ${why}`);
  }

  /**
   * Events, and where an audit asks for it a pod condition, for the node's
   * pods: once per pod per pass, saying the gravest verdict among the audits
   * that flag that way (a pod one audit finds mismatched is flagged even if
   * another, laxer one finds it matched). A pod flagged last time and not
   * judged now is gone: its event series is forgotten here.
   */
  private async flag(node: string, judged: readonly JudgedAudit[]): Promise<void> {
    const events = gravestPerPod(judged.filter((j) => j.audit.spec.flagging?.events ?? true));
    const conditions = gravestPerPod(judged.filter((j) => j.audit.spec.flagging?.podCondition ?? false));
    for (const uid of this.flagged.get(node) ?? []) if (!events.has(uid)) this.deps.recorder.forgetPod(uid);
    if (events.size === 0) this.flagged.delete(node);
    else this.flagged.set(node, new Set(events.keys()));
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
    if (notice !== undefined) mustLead(this.deps);
    const outcome = await this.deps.recorder.record(p.uid, notice, this.deps.now(), {
      held: heldNotice(p, audit),
      told: () => toldBefore(notice, before, audit),
    });
    if (outcome !== 'skipped' && notice !== undefined) this.deps.countEvent(notice.reason, outcome);
  }

  private async setPodCondition(p: PodVerdictEntry): Promise<void> {
    const wanted = podConditionFor(p);
    const current = this.deps.cache.pods.get(p.uid)?.verified;
    if (current?.status === wanted.status && current.reason === wanted.reason) return;
    mustLead(this.deps);
    await writePodCondition(this.deps.api, p, wanted, this.deps.now());
  }
}
