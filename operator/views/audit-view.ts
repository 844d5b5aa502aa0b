// An audit over the whole cluster, read from the cache: per node, the
// audit's entry in the node's report status as we last wrote it. A node
// whose report cannot carry one (none, ignored) or does not yet is judged
// from the cache on the spot; its pods are Unverified until its report
// speaks. The audit's status and the metrics are both sums over this.
import type { IsolationClass, NodeAuditEntry, ReportedSandbox } from '../../api/v1alpha1/node-sandbox-report.ts';
import type { ClusterCache } from '../cache/cluster-cache.ts';
import { coverage, type AuditCoverage, type CoverageNode } from '../judging/coverage.ts';
import type { Expectations } from '../cache/expectations.ts';
import { auditedPodsOn, currentStatus, judgeAudit, nodeReport } from './node-view.ts';
import { summarize, type NodeSummary } from '../judging/audit-status.ts';
import type { NodeState } from '../judging/node-trust.ts';
import type { AuditRecord } from '../cache/records.ts';

/** The schema's bound on status.runtimeClasses. */
const MAX_COVERED_CLASSES = 64;

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

/** Per handler, the isolation classes the host showed for its sandboxes on a node (unknown left out). */
function isolationByHandler(sandboxes: readonly ReportedSandbox[]): Map<string, Set<IsolationClass>> {
  const byHandler = new Map<string, Set<IsolationClass>>();
  for (const s of sandboxes) {
    const isolation = s.evidence?.class;
    if (s.resolvedHandler === undefined || isolation === undefined || isolation === 'unknown') continue;
    const seen = byHandler.get(s.resolvedHandler) ?? new Set<IsolationClass>();
    seen.add(isolation);
    byHandler.set(s.resolvedHandler, seen);
  }
  return byHandler;
}

/** Every Node as handler coverage sees it: its scheduling facts and, when a report speaks for it, what its runtime says. */
export function coverageNodes(cache: ClusterCache): CoverageNode[] {
  const nodes: CoverageNode[] = [];
  for (const [name, node] of cache.nodes) {
    const spec = nodeReport(cache, name).report?.spec;
    const seen: CoverageNode = { name, labels: node.labels, taints: node.taints };
    if (node.runtimeHandlers !== undefined) seen.runtimeHandlers = node.runtimeHandlers;
    if (spec !== undefined) {
      seen.runtime = spec.runtime;
      seen.isolation = isolationByHandler(spec.sandboxes);
    }
    nodes.push(seen);
  }
  return nodes;
}

/** Coverage of the RuntimeClasses an audit requires, or of every RuntimeClass when it requires none. */
export function auditCoverage(cache: ClusterCache, audit: AuditRecord, nodes: readonly CoverageNode[]): AuditCoverage {
  const names = audit.spec.requiredRuntimeClasses ?? [...cache.runtimeClasses.keys()];
  return {
    coverage: coverage(names, cache.runtimeClasses, nodes).slice(0, MAX_COVERED_CLASSES),
    missing: names.filter((n) => !cache.runtimeClasses.has(n)).sort(),
  };
}
