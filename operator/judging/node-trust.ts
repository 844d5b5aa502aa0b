// How far a node's report can be trusted: whether it speaks for its node at
// all (a Node of its name exists and owns it), and then whether the runtime
// answers and the agent is Ready. Pure.
import type { NodeSandboxReportSpec } from '../../api/v1alpha1/node-sandbox-report.ts';

/** What trust needs of a stored report: whose Node owns it, and its spec when that is valid. */
export interface StoredReport {
  /** The uid of the Node that owns the report (the agent sets it), if any. */
  nodeOwnerUid?: string;
  spec?: NodeSandboxReportSpec;
}

/** How far a node's report can be trusted. */
export type NodeState = 'Reporting' | 'NoReport' | 'InvalidReport' | 'AgentNotReady' | 'RuntimeUnreachable';

/** Why a report is not listened to at all. */
export type IgnoredReportReason = 'NoSuchNode' | 'NotOwnedByNode';
export const IGNORED_REPORT_REASONS: readonly IgnoredReportReason[] = ['NoSuchNode', 'NotOwnedByNode'];

/**
 * A report speaks for its node only while a Node of its name exists and owns
 * it, as the agent writes it. One named after no Node (made by hand), or
 * owned by an earlier Node of that name (deleted and re-created, its report
 * not yet collected), is ignored by every audit: no verdicts, no orphan
 * sandboxes, no status.
 */
export function ignoredReport(report: Pick<StoredReport, 'nodeOwnerUid'>, nodeUid: string | undefined): IgnoredReportReason | undefined {
  if (nodeUid === undefined) return 'NoSuchNode';
  return report.nodeOwnerUid === nodeUid ? undefined : 'NotOwnedByNode';
}

/** How far a node's report can be trusted, for counts and metrics (verdicts say the same per pod). */
export function nodeState(report: Pick<StoredReport, 'spec'> | undefined, agentReady: boolean): NodeState {
  if (report === undefined) return 'NoReport';
  if (report.spec === undefined) return 'InvalidReport';
  // In the verdicts' order (verdict.ts, trustedReport).
  if (!report.spec.runtime.reachable) return 'RuntimeUnreachable';
  return agentReady ? 'Reporting' : 'AgentNotReady';
}
