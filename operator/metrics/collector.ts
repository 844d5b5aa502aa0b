// What the verdict metrics say, computed from the cache and the report
// statuses when Prometheus scrapes (kube-state-metrics' way): nothing is
// pushed from reconcile, so nothing has to be retracted when a pod, node or
// audit goes. Pure over the cache.
import type { PodVerdictEntry } from '../../api/v1alpha1/node-sandbox-report.ts';
import { auditedNodes, coverageNodes, summariesOf } from '../views/audit-view.ts';
import type { ClusterCache } from '../cache/cluster-cache.ts';
import { coverage, type Coverage } from '../judging/coverage.ts';
import type { Expectations } from '../cache/expectations.ts';
import { nodeReport } from '../views/node-view.ts';
import type { AuditRecord } from '../cache/records.ts';
import { heldMismatch } from '../judging/finding.ts';
import { ignoredReport, type IgnoredReportReason, type NodeState } from '../judging/node-trust.ts';
import { reasonTotals, sumCounts } from '../judging/audit-status.ts';
import { storedHalt } from '../judging/remediation-plan.ts';

const NODE_STATES: readonly NodeState[] = ['Reporting', 'NoReport', 'InvalidReport', 'AgentNotReady', 'RuntimeUnreachable'];

export interface AuditFigures {
  /** Pods by "verdict/reason". */
  pods: Map<string, number>;
  orphanSandboxes: number;
  suspiciousSandboxes: number;
  /** The pods mismatched, or Unverified and holding a mismatch, by node, as the report statuses say them. */
  mismatched: { node: string; pod: PodVerdictEntry }[];
  /** Its evictions are halted by its circuit breaker, as its status says. */
  remediationHalted: boolean;
}

export interface VerdictFigures {
  audits: Map<string, AuditFigures>;
  /** Handler coverage of every RuntimeClass. */
  coverage: Coverage[];
  /** Node objects by the state of their report. */
  nodes: Map<NodeState, number>;
}

function auditFigures(cache: ClusterCache, expectations: Expectations, audit: AuditRecord, now: number): AuditFigures {
  const nodes = auditedNodes(cache, expectations, audit, now);
  const summaries = summariesOf(nodes);
  // The same sums as the audit's status (judging/audit-status.ts).
  const { orphanSandboxes, suspiciousSandboxes } = sumCounts(summaries, new Set(cache.nodes.keys()));
  const mismatched: AuditFigures['mismatched'] = [];
  for (const [node, { entry }] of nodes) {
    for (const pod of entry.pods) if (pod.verdict === 'Mismatched' || heldMismatch(pod) !== undefined) mismatched.push({ node, pod });
  }
  return { pods: reasonTotals(summaries), orphanSandboxes, suspiciousSandboxes, mismatched, remediationHalted: storedHalt(audit) !== undefined };
}

export function verdictFigures(cache: ClusterCache, expectations: Expectations, now: number): VerdictFigures {
  const audits = new Map<string, AuditFigures>();
  for (const audit of cache.audits.values()) audits.set(audit.name, auditFigures(cache, expectations, audit, now));
  const nodes = new Map<NodeState, number>(NODE_STATES.map((s) => [s, 0]));
  for (const name of cache.nodes.keys()) {
    const { state } = nodeReport(cache, name);
    nodes.set(state, (nodes.get(state) ?? 0) + 1);
  }
  return { audits, nodes, coverage: coverage([...cache.runtimeClasses.keys()], cache.runtimeClasses, coverageNodes(cache)) };
}

/** Reports every audit ignores, by reason, as the cache has them now. */
export function ignoredReportCounts(cache: ClusterCache): Map<IgnoredReportReason, number> {
  const counts = new Map<IgnoredReportReason, number>();
  for (const report of cache.reports.values()) {
    const reason = ignoredReport(report, cache.nodes.get(report.name)?.uid);
    if (reason !== undefined) counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }
  return counts;
}
