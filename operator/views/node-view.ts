// One node as the reconcilers and the metrics read it from the cache: its
// report (when it speaks for the node), how far that can be trusted, its
// pods, and one audit's verdicts on them. Reads only; the pure rules live in
// judging/ (verdict.ts, report-status.ts, node-trust.ts).
import type { NodeAuditEntry, NodeSandboxReportStatus } from '../../api/v1alpha1/node-sandbox-report.ts';
import type { ClusterCache } from '../cache/cluster-cache.ts';
import type { Expectations } from '../cache/expectations.ts';
import { auditCovers } from '../judging/selection.ts';
import { ignoredReport, nodeState, type IgnoredReportReason, type NodeState } from '../judging/node-trust.ts';
import { nodeAuditEntry } from '../judging/report-status.ts';
import type { AuditRecord, PodRecord, ReportRecord } from '../cache/records.ts';
import { auditNode, type AuditedPod, type AuditPolicy, type NodeView } from '../judging/verdict.ts';

const policyOf = (audit: AuditRecord): AuditPolicy => ({
  expectedRuntimeTypes: audit.spec.expectedRuntimeTypes ?? {},
  expectedIsolation: audit.spec.expectedIsolation ?? {},
  gracePeriodMs: audit.spec.gracePeriodSeconds * 1000,
  ...(audit.spec.requiredRuntimeClasses === undefined ? {} : { requiredRuntimeClasses: new Set(audit.spec.requiredRuntimeClasses) }),
});

/** The audits whose spec is valid, by name. */
export function validAudits(cache: ClusterCache): AuditRecord[] {
  return [...cache.audits.values()].filter((a) => a.invalid === undefined).sort((a, b) => a.name.localeCompare(b.name));
}

export interface NodeReport {
  /** The report, when it speaks for the node (stored, and not ignored). */
  report: ReportRecord | undefined;
  /** Why a stored report is ignored, if it is. */
  ignored: IgnoredReportReason | undefined;
  state: NodeState;
  /** A Node of this name exists. */
  exists: boolean;
}

export function nodeReport(cache: ClusterCache, name: string): NodeReport {
  const stored = cache.reports.get(name);
  const node = cache.nodes.get(name);
  const ignored = stored === undefined ? undefined : ignoredReport(stored, node?.uid);
  const report = ignored === undefined ? stored : undefined;
  return { report, ignored, state: ignored === undefined ? nodeState(report, cache.agentReady(name)) : 'InvalidReport', exists: node !== undefined };
}

/** The report's status as we last wrote it: our write in flight, else what is stored. */
export function currentStatus(expectations: Expectations, report: ReportRecord | undefined, now: number): NodeSandboxReportStatus | undefined {
  return report === undefined ? undefined : (expectations.reportWrites.get(report.name, now) ?? report.status);
}

/** The verdict engine's view of a pod. */
function auditedPod(pod: PodRecord, expectedHandler: string | null | undefined): AuditedPod {
  const audited: AuditedPod = { uid: pod.uid, namespace: pod.namespace, name: pod.name };
  const optional = { nodeName: pod.nodeName, runtimeClassName: pod.runtimeClassName, mirrorOf: pod.mirrorOf, boundAt: pod.boundAt, expectedHandler };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) Object.assign(audited, { [key]: value });
  return audited;
}

/** The running pods bound to `node`, as the verdict engine takes them; never the operator's probe pods, which prove nodes, not workloads. */
export function auditedPodsOn(cache: ClusterCache, expectations: Expectations, node: string): AuditedPod[] {
  return cache
    .podsOn(node)
    .filter((p) => p.probe === undefined)
    .map((p) => auditedPod(p, expectations.handlerFor(cache, p)));
}

export interface JudgedNode {
  entry: NodeAuditEntry;
  /** When a verdict in it can change with nothing else changing (a grace period running out). */
  nextChangeAt: number | undefined;
}

/** One audit's verdicts for the pods of one node, continuing what `before` said. */
export function judgeAudit(
  cache: ClusterCache,
  audit: AuditRecord,
  on: { name: string; report: ReportRecord | undefined; pods: readonly AuditedPod[]; before: NodeAuditEntry | undefined; now: number },
): JudgedNode {
  const view: NodeView | undefined =
    on.report?.spec === undefined ? undefined : { name: on.name, report: on.report.spec, agentReady: cache.agentReady(on.name) };
  const covered = on.pods.filter((p) => auditCovers(audit.spec, p, cache.namespaceLabels(p.namespace)));
  const result = auditNode(view, covered, cache.boundNodeOf, { policy: policyOf(audit), now: on.now });
  return { entry: nodeAuditEntry(audit.name, covered, result, { previous: on.before, now: on.now }), nextChangeAt: result.nextChangeAt };
}
