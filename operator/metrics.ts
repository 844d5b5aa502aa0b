// The operator's one metrics registry. Series per pod exist only for
// mismatched pods (kube-state-metrics' rule: no series for the healthy
// majority), and are removed when the mismatch resolves.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PodVerdictEntry } from '../api/v1alpha1/node-sandbox-report.ts';
import type { CountedVerb } from '../kube/rest.ts';
import type { RestartReason } from '../kube/reflector.ts';
import { heldMismatch, IGNORED_REPORT_REASONS, type IgnoredReportReason } from './status.ts';

const MISMATCH_LABELS = ['audit', 'namespace', 'pod', 'uid', 'node', 'runtime_class', 'expected_handler', 'actual_handler', 'actual_runtime_type', 'actual_isolation', 'reason'] as const;
type MismatchLabels = Record<(typeof MISMATCH_LABELS)[number], string>;

/** The labels of a pod's mismatch series: its mismatch, or the one it holds while Unverified; none when it has neither. */
function mismatchLabels(audit: string, node: string, entry: PodVerdictEntry): MismatchLabels | undefined {
  const mismatch = entry.verdict === 'Mismatched' ? entry : heldMismatch(entry);
  if (mismatch === undefined) return undefined;
  return {
    audit, namespace: entry.namespace, pod: entry.name, uid: entry.uid, node, runtime_class: entry.runtimeClassName ?? '',
    expected_handler: mismatch.expectedHandler ?? '', actual_handler: mismatch.actualHandler ?? '', actual_runtime_type: mismatch.actualRuntimeType ?? '',
    actual_isolation: mismatch.actualIsolation ?? '', reason: mismatch.reason,
  };
}

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly pods = new Gauge({
    name: 'rcaudit_pods',
    help: 'Audited pods by audit, verdict (Matched, Mismatched, Unverified) and reason.',
    labelNames: ['audit', 'verdict', 'reason'] as const,
    registers: [this.registry],
  });
  readonly podMismatch = new Gauge({
    name: 'rcaudit_pod_mismatch_info',
    help: 'One series (value 1) per pod whose sandbox runs with another handler, runtime type or isolation than expected, kept while such a pod is Unverified (nothing says the mismatch ended).',
    labelNames: MISMATCH_LABELS,
    registers: [this.registry],
  });
  readonly nodes = new Gauge({
    name: 'rcaudit_nodes',
    help: 'Nodes by the state of their report (Reporting, NoReport, InvalidReport, AgentNotReady, RuntimeUnreachable).',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly sandboxes = new Gauge({
    name: 'rcaudit_unclaimed_sandboxes',
    help: 'Sandboxes no audited pod claims: orphan (no pod at all) or suspicious (names a pod bound to another node).',
    labelNames: ['audit', 'kind'] as const,
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'rcaudit_reconcile_duration_seconds',
    help: 'Duration of reconciles, by kind (node, audit).',
    labelNames: ['kind'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'rcaudit_reconcile_errors_total',
    help: 'Reconciles that failed (and were retried with backoff), by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly lastReconcile = new Gauge({
    name: 'rcaudit_last_reconcile_timestamp_seconds',
    help: 'When the operator last finished a reconcile without error (Unix time).',
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'rcaudit_workqueue_depth',
    help: 'Keys waiting in the work queue.',
    registers: [this.registry],
  });
  readonly watchRestarts = new Counter({
    name: 'rcaudit_watch_restarts_total',
    help: 'Watches started again, by resource and reason (gone: relisted after 410; error; silent: the watchdog cut a silent watch; closed).',
    labelNames: ['resource', 'reason'] as const,
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'rcaudit_api_requests_total',
    help: 'Requests to the Kubernetes API server, by verb, resource and HTTP code (0: no answer).',
    labelNames: ['verb', 'resource', 'code'] as const,
    registers: [this.registry],
  });
  readonly events = new Counter({
    name: 'rcaudit_events_total',
    help: 'Pod events, by reason and what was done (created, updated, adopted from another replica).',
    labelNames: ['reason', 'action'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'rcaudit_leader',
    help: '1 while this replica holds the leader lease and writes, else 0.',
    registers: [this.registry],
  });
  /** Counted from the cache when Prometheus scrapes (see countIgnoredReportsWith). */
  readonly ignoredReports = new Gauge({
    name: 'rcaudit_ignored_reports',
    help: 'NodeSandboxReports every audit ignores, by reason (NoSuchNode: named after no Node; NotOwnedByNode: not owned by the current Node of that name).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
    collect: () => {
      const counts = this.ignoredReportCounts();
      for (const reason of IGNORED_REPORT_REASONS) this.ignoredReports.set({ reason }, counts.get(reason) ?? 0);
    },
  });
  private ignoredReportCounts: () => ReadonlyMap<IgnoredReportReason, number> = () => new Map();
  private readonly mismatchSeries = new Map<string, MismatchLabels>();
  private readonly auditCounts = new Map<string, { verdict: string; reason: string }[]>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Where the ignored reports are counted at scrape time. */
  countIgnoredReportsWith(counts: () => ReadonlyMap<IgnoredReportReason, number>): void {
    this.ignoredReportCounts = counts;
  }

  observeRequest(verb: CountedVerb, resource: string, code: number): void {
    this.apiRequests.inc({ verb, resource, code: String(code) });
  }

  watchRestarted(resource: string, reason: RestartReason): void {
    this.watchRestarts.inc({ resource, reason });
  }

  /**
   * Makes the pod's mismatch series say `entry` (or vanish when it is not
   * mismatched any more). An Unverified pod that holds a mismatch keeps its
   * series as it was: an agent restart or a runtime outage does not end a
   * finding (operator/README.md), so it must not resolve and re-fire alerts.
   */
  setPodVerdict(audit: string, node: string, entry: PodVerdictEntry): void {
    const key = `${audit}\u0000${entry.uid}`;
    const old = this.mismatchSeries.get(key);
    const labels = mismatchLabels(audit, node, entry);
    if (old !== undefined && (labels === undefined || JSON.stringify(old) !== JSON.stringify(labels))) {
      this.podMismatch.remove(old);
      this.mismatchSeries.delete(key);
    }
    if (labels !== undefined) {
      this.podMismatch.set(labels, 1);
      this.mismatchSeries.set(key, labels);
    }
  }

  /** Removes the series of a pod that is gone (or no longer audited by `audit`; undefined: by any). */
  forgetPod(uid: string, audit?: string): void {
    for (const [key, labels] of this.mismatchSeries) {
      if (labels.uid === uid && (audit === undefined || labels.audit === audit)) {
        this.podMismatch.remove(labels);
        this.mismatchSeries.delete(key);
      }
    }
  }

  /** An audit's pod counts by verdict and reason, and its unclaimed sandboxes, replacing what was said before. */
  setAuditCounts(audit: string, byVerdict: ReadonlyMap<string, number>, unclaimed: { orphan: number; suspicious: number }): void {
    this.removeAuditCounts(audit);
    const said: { verdict: string; reason: string }[] = [];
    for (const [key, n] of byVerdict) {
      const [verdict = '', reason = ''] = key.split('/');
      this.pods.set({ audit, verdict, reason }, n);
      said.push({ verdict, reason });
    }
    this.auditCounts.set(audit, said);
    this.sandboxes.set({ audit, kind: 'orphan' }, unclaimed.orphan);
    this.sandboxes.set({ audit, kind: 'suspicious' }, unclaimed.suspicious);
  }

  /** Every series of an audit that is gone. */
  forgetAudit(audit: string): void {
    for (const [key, labels] of this.mismatchSeries) {
      if (labels.audit === audit) {
        this.podMismatch.remove(labels);
        this.mismatchSeries.delete(key);
      }
    }
    this.removeAuditCounts(audit);
    for (const kind of ['orphan', 'suspicious']) this.sandboxes.remove({ audit, kind });
  }

  private removeAuditCounts(audit: string): void {
    for (const labels of this.auditCounts.get(audit) ?? []) this.pods.remove({ audit, ...labels });
    this.auditCounts.delete(audit);
  }
}
