// From every node's entry for an audit to the audit's status: counts, a
// bounded sample of mismatches, conditions. Pure, table-tested; the audit
// reconciler only compares the result with what is stored.
import type { NodeAuditEntry, PodVerdictEntry } from '../../api/v1alpha1/node-sandbox-report.ts';
import type { RuntimeClassAuditStatus } from '../../api/v1alpha1/runtime-class-audit.ts';
import type { NodeState } from './node-trust.ts';
import type { ProbeSummary } from './probe-plan.ts';
import type { NodeCounts } from './report-status.ts';
import type { policyStatus } from './policy.ts';

export const MAX_MISMATCH_SAMPLE = 50;

/** What the audit's status and metrics need of one node: its state, counts and mismatches. */
export interface NodeSummary {
  state: NodeState;
  counts: NodeCounts;
  /** Pods by "verdict/reason". */
  reasons: Record<string, number>;
  mismatches: PodVerdictEntry[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Pods a capped entry counts but does not list (capEntries): their reason is not known, unless they matched. */
const UNLISTED_REASON = 'NotListed';

export function summarize(state: NodeState, entry: NodeAuditEntry): NodeSummary {
  const reasons: Record<string, number> = {};
  const listed = { Matched: 0, Mismatched: 0, Unverified: 0 };
  for (const p of entry.pods) {
    reasons[`${p.verdict}/${p.reason}`] = (reasons[`${p.verdict}/${p.reason}`] ?? 0) + 1;
    listed[p.verdict]++;
  }
  const unlisted = {
    'Matched/Matched': entry.counts.matched - listed.Matched,
    [`Mismatched/${UNLISTED_REASON}`]: entry.counts.mismatched - listed.Mismatched,
    [`Unverified/${UNLISTED_REASON}`]: entry.counts.unverified - listed.Unverified,
  };
  for (const [key, n] of Object.entries(unlisted)) if (n > 0) reasons[key] = (reasons[key] ?? 0) + n;
  return { state, counts: entry.counts, reasons, mismatches: entry.pods.filter((p) => p.verdict === 'Mismatched') };
}

/** Pods by "verdict/reason" over every node of an audit. */
export function reasonTotals(summaries: ReadonlyMap<string, NodeSummary>): Map<string, number> {
  const totals = new Map<string, number>();
  for (const s of summaries.values()) for (const [key, n] of Object.entries(s.reasons)) totals.set(key, (totals.get(key) ?? 0) + n);
  return totals;
}

type Condition = NonNullable<RuntimeClassAuditStatus['conditions']>[number];
type AuditCounts = NonNullable<RuntimeClassAuditStatus['counts']>;
type MismatchSample = NonNullable<RuntimeClassAuditStatus['mismatches']>[number];

/** A condition that keeps its lastTransitionTime while its status holds. */
function condition(wanted: Omit<Condition, 'lastTransitionTime'>, previous: readonly Condition[] | undefined, now: number): Condition {
  const old = previous?.find((c) => c.type === wanted.type);
  const lastTransitionTime = old !== undefined && old.status === wanted.status ? old.lastTransitionTime : iso(now);
  return { ...wanted, lastTransitionTime };
}

const SAMPLED_REASONS = new Set<string>(['RuntimeTypeMismatch', 'IsolationMismatch', 'RuntimeClassNotAllowed']);

function sampleEntry(node: string, p: PodVerdictEntry): MismatchSample {
  const entry: MismatchSample = {
    namespace: p.namespace,
    pod: p.name,
    node,
    expectedHandler: p.expectedHandler ?? '',
    reason: SAMPLED_REASONS.has(p.reason) ? (p.reason as MismatchSample['reason']) : 'HandlerMismatch',
    since: p.since,
  };
  if (p.runtimeClassName !== undefined) entry.runtimeClassName = p.runtimeClassName;
  if (p.actualHandler !== undefined) entry.actualHandler = p.actualHandler;
  if (p.actualRuntimeType !== undefined) entry.actualRuntimeType = p.actualRuntimeType;
  if (p.actualIsolation !== undefined) entry.actualIsolation = p.actualIsolation;
  return entry;
}

export function sumCounts(summaries: ReadonlyMap<string, NodeSummary>, nodes: ReadonlySet<string>): AuditCounts {
  const counts: AuditCounts = {
    audited: 0,
    matched: 0,
    mismatched: 0,
    unverified: 0,
    nodesReporting: 0,
    nodes: nodes.size,
    orphanSandboxes: 0,
    suspiciousSandboxes: 0,
  };
  for (const [node, s] of summaries) {
    counts.audited += s.counts.audited;
    counts.matched += s.counts.matched;
    counts.mismatched += s.counts.mismatched;
    counts.unverified += s.counts.unverified;
    counts.orphanSandboxes += s.counts.orphanSandboxes;
    counts.suspiciousSandboxes += s.counts.suspiciousSandboxes;
    if (s.state === 'Reporting' && nodes.has(node)) counts.nodesReporting++;
  }
  return counts;
}

/** The oldest mismatches first (they have waited longest), at most MAX_MISMATCH_SAMPLE. */
function mismatchSample(summaries: ReadonlyMap<string, NodeSummary>): MismatchSample[] {
  const all: MismatchSample[] = [];
  for (const [node, s] of summaries) for (const p of s.mismatches) all.push(sampleEntry(node, p));
  all.sort((a, b) => a.since.localeCompare(b.since) || a.namespace.localeCompare(b.namespace) || a.pod.localeCompare(b.pod));
  return all.slice(0, MAX_MISMATCH_SAMPLE);
}

function readyCondition(counts: AuditCounts, invalid: string | undefined, agents: AgentSearch | undefined): Omit<Condition, 'lastTransitionTime'> {
  if (invalid !== undefined) return { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: invalid };
  if (agents !== undefined && agents.found === 0 && counts.nodes > 0) {
    return {
      type: 'Ready',
      status: 'False',
      reason: 'NoAgentPods',
      message: `no pod in namespace ${agents.namespace} matches the agent selector ${agents.selector} (--agent-namespace, --agent-selector): until one does, no node's report is taken as current and every pod is unverified`,
    };
  }
  const silent = counts.nodes - counts.nodesReporting;
  if (silent > 0) {
    return {
      type: 'Ready',
      status: 'False',
      reason: 'NodesNotReporting',
      message: `${String(silent)} of ${String(counts.nodes)} nodes have no current report; their pods are unverified`,
    };
  }
  return { type: 'Ready', status: 'True', reason: 'AllNodesReporting', message: `every node reports; ${String(counts.audited)} pods audited` };
}

function compliantCondition(counts: AuditCounts): Omit<Condition, 'lastTransitionTime'> {
  return counts.mismatched > 0
    ? {
        type: 'Compliant',
        status: 'False',
        reason: 'PodsMismatched',
        message: `${String(counts.mismatched)} pods do not run as this audit requires (another handler, runtime type or isolation than their RuntimeClass asks for, or a RuntimeClass the audit does not allow)`,
      }
    : { type: 'Compliant', status: 'True', reason: 'NoMismatches', message: 'every audited pod runs as this audit requires' };
}

/** Where the operator looks for its agents (--agent-namespace, --agent-selector), and how many pods it found there. */
export interface AgentSearch {
  namespace: string;
  /** As the flag says it: k=v,k2=v2. */
  selector: string;
  found: number;
}

/** What an audit's status needs beyond its nodes' summaries: the Node objects that exist, its policy's status (policy.ts), where agents were looked for. */
export interface ClusterFacts {
  nodes: ReadonlySet<string>;
  policy?: ReturnType<typeof policyStatus>;
  /** Absent when agents are not looked for (reports are taken as current). */
  agents?: AgentSearch;
  /** The classes the audit asks to prove (spec.probes), when probes are on. */
  probes?: ProbeSummary[];
}

/** The audit's status from every node's summary. */
export function auditStatus(
  audit: { generation: number; invalid?: string; status?: RuntimeClassAuditStatus },
  summaries: ReadonlyMap<string, NodeSummary>,
  cluster: ClusterFacts,
  now: number,
): RuntimeClassAuditStatus & { counts: AuditCounts } {
  const { policy } = cluster;
  const counts = { ...sumCounts(summaries, cluster.nodes), ...policy?.counts };
  const previous = audit.status?.conditions;
  const conditions = [readyCondition(counts, audit.invalid, cluster.agents), compliantCondition(counts), ...(policy?.conditions ?? [])].map((c) =>
    condition({ ...c, observedGeneration: audit.generation }, previous, now),
  );
  const status = { observedGeneration: audit.generation, conditions, counts, mismatches: mismatchSample(summaries) };
  const probes = cluster.probes === undefined ? {} : { probes: cluster.probes };
  return policy === undefined ? { ...status, ...probes } : { ...status, runtimeClasses: policy.runtimeClasses, ...probes };
}
