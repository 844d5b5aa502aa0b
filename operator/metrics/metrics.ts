// The operator's one metrics registry. The verdict series are computed from
// the cache when Prometheus scrapes (collector.ts), only on the leader, so
// that a cluster has one set of them. Series per pod exist only for
// mismatched pods (kube-state-metrics' rule: no series for the healthy
// majority).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PodVerdictEntry } from '../../api/v1alpha1/node-sandbox-report.ts';
import type { CountedVerb } from '../../kube/rest.ts';
import type { RestartReason } from '../../kube/reflector.ts';
import type { VerdictFigures } from './collector.ts';
import type { ProbeFigure } from '../views/probe-view.ts';
import { heldMismatch } from '../judging/finding.ts';
import { IGNORED_REPORT_REASONS, type IgnoredReportReason } from '../judging/node-trust.ts';

const MISMATCH_LABELS = [
  'audit',
  'namespace',
  'pod',
  'uid',
  'node',
  'runtime_class',
  'expected_handler',
  'actual_handler',
  'actual_runtime_type',
  'actual_isolation',
  'reason',
] as const;
type MismatchLabels = Record<(typeof MISMATCH_LABELS)[number], string>;

/**
 * The labels of a pod's mismatch series: its mismatch, or the one it holds
 * while Unverified (an agent restart or a runtime outage does not end a
 * finding, so it must not resolve and re-fire alerts); none when it has neither.
 */
function mismatchLabels(audit: string, node: string, entry: PodVerdictEntry): MismatchLabels | undefined {
  const mismatch = entry.verdict === 'Mismatched' ? entry : heldMismatch(entry);
  if (mismatch === undefined) return undefined;
  return {
    audit,
    namespace: entry.namespace,
    pod: entry.name,
    uid: entry.uid,
    node,
    runtime_class: entry.runtimeClassName ?? '',
    expected_handler: mismatch.expectedHandler ?? '',
    actual_handler: mismatch.actualHandler ?? '',
    actual_runtime_type: mismatch.actualRuntimeType ?? '',
    actual_isolation: mismatch.actualIsolation ?? '',
    reason: mismatch.reason,
  };
}

/** What the collector reads at scrape time. */
export interface MetricsSource {
  /** The verdict figures; undefined while this replica does not lead. */
  verdicts: () => VerdictFigures | undefined;
  ignoredReports: () => ReadonlyMap<IgnoredReportReason, number>;
  queueDepth: () => number;
  /** Each wanted class on each node it admits; undefined while this replica does not lead, or probes are off. */
  probes?: () => readonly ProbeFigure[] | undefined;
}

const PROBE_OUTCOMES = ['Proven', 'Failed', 'Error', 'NotProbed'] as const;

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly pods = new Gauge({
    name: 'rcaudit_pods',
    help: 'Audited pods by audit, verdict (Matched, Mismatched, Unverified) and reason.',
    labelNames: ['audit', 'verdict', 'reason'] as const,
    registers: [this.registry],
    collect: () => {
      this.pods.reset();
      for (const [audit, figures] of this.figures()?.audits ?? []) {
        for (const [key, n] of figures.pods) {
          const [verdict = '', reason = ''] = key.split('/');
          this.pods.set({ audit, verdict, reason }, n);
        }
      }
    },
  });
  readonly remediationHalted = new Gauge({
    name: 'rcaudit_remediation_halted',
    help: "1 while an audit's evictions are halted by its circuit breaker (its Remediating condition, reason Halted): a person must look at it, and change its spec to resume.",
    labelNames: ['audit'] as const,
    registers: [this.registry],
    collect: () => {
      this.remediationHalted.reset();
      for (const [audit, figures] of this.figures()?.audits ?? []) this.remediationHalted.set({ audit }, figures.remediationHalted ? 1 : 0);
    },
  });
  readonly podMismatch = new Gauge({
    name: 'rcaudit_pod_mismatch_info',
    help: 'One series (value 1) per pod whose sandbox runs with another handler, runtime type or isolation than expected, kept while such a pod is Unverified (nothing says the mismatch ended).',
    labelNames: MISMATCH_LABELS,
    registers: [this.registry],
    collect: () => {
      this.podMismatch.reset();
      for (const [audit, figures] of this.figures()?.audits ?? []) {
        for (const { node, pod } of figures.mismatched) {
          const labels = mismatchLabels(audit, node, pod);
          if (labels !== undefined) this.podMismatch.set(labels, 1);
        }
      }
    },
  });
  readonly nodes = new Gauge({
    name: 'rcaudit_nodes',
    help: 'Nodes by the state of their report (Reporting, NoReport, InvalidReport, AgentNotReady, RuntimeUnreachable).',
    labelNames: ['state'] as const,
    registers: [this.registry],
    collect: () => {
      this.nodes.reset();
      for (const [state, n] of this.figures()?.nodes ?? []) this.nodes.set({ state }, n);
    },
  });
  readonly sandboxes = new Gauge({
    name: 'rcaudit_unclaimed_sandboxes',
    help: 'Sandboxes no audited pod claims: orphan (no pod at all) or suspicious (names a pod bound to another node).',
    labelNames: ['audit', 'kind'] as const,
    registers: [this.registry],
    collect: () => {
      this.sandboxes.reset();
      for (const [audit, figures] of this.figures()?.audits ?? []) {
        this.sandboxes.set({ audit, kind: 'orphan' }, figures.orphanSandboxes);
        this.sandboxes.set({ audit, kind: 'suspicious' }, figures.suspiciousSandboxes);
      }
    },
  });
  readonly runtimeClassNodes = new Gauge({
    name: 'rcaudit_runtimeclass_nodes',
    help: "Nodes each RuntimeClass's scheduling admits, by coverage: covered (the runtime has its handler), uncovered (it has not), unknown (nothing says).",
    labelNames: ['runtime_class', 'handler', 'coverage'] as const,
    registers: [this.registry],
    collect: () => {
      this.runtimeClassNodes.reset();
      for (const c of this.figures()?.coverage ?? []) {
        for (const coverage of ['covered', 'uncovered', 'unknown'] as const)
          this.runtimeClassNodes.set({ runtime_class: c.name, handler: c.handler, coverage }, c[coverage]);
      }
    },
  });
  readonly runtimeClassRuntimes = new Gauge({
    name: 'rcaudit_runtimeclass_handler_runtimes',
    help: "How many different runtimes each RuntimeClass's handler is on the nodes that have it (runtime types within one runtime, or the isolation the host shows): above 1 is drift.",
    labelNames: ['runtime_class', 'handler'] as const,
    registers: [this.registry],
    collect: () => {
      this.runtimeClassRuntimes.reset();
      for (const c of this.figures()?.coverage ?? []) {
        if (c.covered > 0) this.runtimeClassRuntimes.set({ runtime_class: c.name, handler: c.handler }, Math.max(1, c.drift.length));
      }
    },
  });
  readonly probeNodes = new Gauge({
    name: 'rcaudit_probe_nodes',
    help: "Nodes each probed RuntimeClass's scheduling admits, by its probes' outcome there: Proven (labelled runtimeclass.rcaudit.dev/<class>=proven), Failed, Error (the probe could not tell), NotProbed (yet, or since a change).",
    labelNames: ['runtime_class', 'outcome'] as const,
    registers: [this.registry],
    collect: () => {
      this.probeNodes.reset();
      const figures = this.source?.probes?.();
      if (figures === undefined) return;
      const counts = new Map<string, number>();
      for (const f of figures) counts.set(`${f.runtimeClass}\0${f.outcome}`, (counts.get(`${f.runtimeClass}\0${f.outcome}`) ?? 0) + 1);
      for (const runtimeClass of new Set(figures.map((f) => f.runtimeClass)))
        for (const outcome of PROBE_OUTCOMES) this.probeNodes.set({ runtime_class: runtimeClass, outcome }, counts.get(`${runtimeClass}\0${outcome}`) ?? 0);
    },
  });
  readonly probeFailed = new Gauge({
    name: 'rcaudit_probe_failed_info',
    help: 'One series (value 1) per node whose last probe of a RuntimeClass did not prove it: outcome Failed (the node ran it and it was not what the class promises) or Error (the probe could not run or tell), with the reason.',
    labelNames: ['runtime_class', 'node', 'outcome', 'reason'] as const,
    registers: [this.registry],
    collect: () => {
      this.probeFailed.reset();
      for (const f of this.source?.probes?.() ?? [])
        if (f.outcome === 'Failed' || f.outcome === 'Error')
          this.probeFailed.set({ runtime_class: f.runtimeClass, node: f.node, outcome: f.outcome, reason: f.reason }, 1);
    },
  });
  readonly reconcileDuration = new Histogram({
    name: 'rcaudit_reconcile_duration_seconds',
    help: 'Duration of reconciles, by kind (node, audit, probe).',
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
    help: 'Keys waiting in the work queues.',
    registers: [this.registry],
    collect: () => {
      this.queueDepth.set(this.source?.queueDepth() ?? 0);
    },
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
  readonly remediations = new Counter({
    name: 'rcaudit_remediations_total',
    help: 'Remediation actions (evict, label, unlabel) by outcome: done, dry-run (only the Event), blocked (a PodDisruptionBudget said no), forbidden (no RBAC), gone, failed.',
    labelNames: ['audit', 'action', 'outcome'] as const,
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
  readonly ignoredReports = new Gauge({
    name: 'rcaudit_ignored_reports',
    help: 'NodeSandboxReports every audit ignores, by reason (NoSuchNode: named after no Node; NotOwnedByNode: not owned by the current Node of that name).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
    collect: () => {
      const counts = this.source?.ignoredReports() ?? new Map<IgnoredReportReason, number>();
      for (const reason of IGNORED_REPORT_REASONS) this.ignoredReports.set({ reason }, counts.get(reason) ?? 0);
    },
  });
  private source: MetricsSource | undefined;
  /** One scrape computes the verdict figures once, for all the gauges that read them. */
  private scraped: VerdictFigures | undefined;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Where the scrape-time series are read from. */
  collectFrom(source: MetricsSource): void {
    this.source = source;
  }

  observeRequest(verb: CountedVerb, resource: string, code: number): void {
    this.apiRequests.inc({ verb, resource, code: String(code) });
  }

  watchRestarted(resource: string, reason: RestartReason): void {
    this.watchRestarts.inc({ resource, reason });
  }

  private figures(): VerdictFigures | undefined {
    if (this.scraped === undefined) {
      this.scraped = this.source?.verdicts();
      // Computed afresh at the next scrape: a scrape collects every gauge in one turn of the event loop.
      setImmediate(() => {
        this.scraped = undefined;
      });
    }
    return this.scraped;
  }
}
