// An audit over the whole cluster, read from the cache: per node, the
// audit's entry in the node's report status as we last wrote it. A node
// whose report cannot carry one (none, ignored) or does not yet is judged
// from the cache on the spot; its pods are Unverified until its report
// speaks. The audit's status and the metrics are both sums over this.
import type { NodeAuditEntry } from '../api/v1alpha1/node-sandbox-report.ts';
import type { ClusterCache } from './cache.ts';
import type { Expectations } from './expectations.ts';
import { auditedPodsOn, currentStatus, judgeAudit, nodeReport } from './node-view.ts';
import { summarize, type NodeState, type NodeSummary } from './status.ts';
import type { AuditRecord } from './trim.ts';

export interface AuditedNode {
  state: NodeState;
  /** A Node of this name exists. */
  exists: boolean;
  entry: NodeAuditEntry;
}

/** An invalid audit judges nothing: its nodes are empty. */
const empty = (audit: string): NodeAuditEntry => ({
  name: audit,
  counts: { audited: 0, matched: 0, mismatched: 0, unverified: 0, orphanSandboxes: 0, suspiciousSandboxes: 0 },
  pods: [],
});

/** The audit's entry for each node anyone speaks of (a Node, or pods bound to it; a report alone does not make a node). */
export function auditedNodes(cache: ClusterCache, expectations: Expectations, audit: AuditRecord, now: number): Map<string, AuditedNode> {
  const nodes = new Map<string, AuditedNode>();
  for (const name of cache.nodeNames()) {
    const { report, state, exists } = nodeReport(cache, name);
    if (!exists && !cache.hasPodsOn(name)) continue;
    const written = currentStatus(expectations, report, now)?.audits?.find((a) => a.name === audit.name);
    const entry =
      audit.invalid !== undefined
        ? empty(audit.name)
        : (written ?? judgeAudit(cache, audit, { name, report, pods: auditedPodsOn(cache, expectations, name), before: undefined, now }).entry);
    nodes.set(name, { state, exists, entry });
  }
  return nodes;
}

/** Per node, what the audit's status and its metrics need of it. */
export function summariesOf(nodes: ReadonlyMap<string, AuditedNode>): Map<string, NodeSummary> {
  return new Map([...nodes].map(([node, { state, entry }]) => [node, summarize(state, entry)]));
}
