// From verdicts to what the operator writes: each report's status (per audit,
// one entry per pod) and each audit's status (counts, a bounded sample of
// mismatches, conditions). Pure functions, table-tested; the controller only
// compares their output with what is stored and writes the difference.
import type { LastVerified, NodeAuditEntry, NodeSandboxReportStatus, PodVerdictEntry } from '../../api/v1alpha1/node-sandbox-report.ts';
import type { RuntimeClassAuditStatus } from '../../api/v1alpha1/runtime-class-audit.ts';
import type { policyStatus } from './policy.ts';
import type { ReportRecord } from '../cache/trim.ts';
import type { AuditedPod, NodeAudit, Verdict } from './verdict.ts';

export const MAX_MISMATCH_SAMPLE = 50;

/**
 * The report status lists at most this many pods per audit (the schema's
 * bound), and at most MAX_PODS_PER_STATUS over all audits: an entry is about
 * 350 bytes and an object must stay well under etcd's 1.5 MB. Counts cover all.
 */
export const MAX_PODS_PER_ENTRY = 2000;
export const MAX_PODS_PER_STATUS = 3000;

/** How far a node's report can be trusted. */
export type NodeState = 'Reporting' | 'NoReport' | 'InvalidReport' | 'AgentNotReady' | 'RuntimeUnreachable';

export type NodeCounts = NodeAuditEntry['counts'];
export type ReportCounts = NonNullable<NodeSandboxReportStatus['counts']>;

/** What the audit's status and metrics need of one node: its state, counts and mismatches. */
export interface NodeSummary {
  state: NodeState;
  counts: NodeCounts;
  /** Pods by "verdict/reason". */
  reasons: Record<string, number>;
  mismatches: PodVerdictEntry[];
}

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
export function ignoredReport(report: Pick<ReportRecord, 'nodeOwnerUid'>, nodeUid: string | undefined): IgnoredReportReason | undefined {
  if (nodeUid === undefined) return 'NoSuchNode';
  return report.nodeOwnerUid === nodeUid ? undefined : 'NotOwnedByNode';
}

/** How far a node's report can be trusted, for counts and metrics (verdicts say the same per pod). */
export function nodeState(report: ReportRecord | undefined, agentReady: boolean): NodeState {
  if (report === undefined) return 'NoReport';
  if (report.spec === undefined) return 'InvalidReport';
  // In the verdicts' order (verdict.ts trustedReport).
  if (!report.spec.runtime.reachable) return 'RuntimeUnreachable';
  return agentReady ? 'Reporting' : 'AgentNotReady';
}

const iso = (ms: number): string => new Date(ms).toISOString();

function entryOf(pod: AuditedPod, v: Verdict, since: string): PodVerdictEntry {
  const entry: PodVerdictEntry = { uid: pod.uid, namespace: pod.namespace, name: pod.name, verdict: v.kind, reason: v.reason, since };
  const optional: Record<string, string | undefined> = {
    runtimeClassName: pod.runtimeClassName,
    expectedHandler: v.expectedHandler,
    expectedRuntimeType: v.expectedRuntimeType,
    expectedIsolation: v.expectedIsolation,
    actualHandler: v.actual?.resolvedHandler ?? v.actual?.requestedHandler,
    actualRuntimeType: v.actual?.runtimeType,
    actualIsolation: v.actual?.isolation,
    sandboxId: v.actual?.sandboxId,
  };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) Object.assign(entry, { [key]: value });
  return entry;
}

/** What a finding is: the verdict and what was expected and seen. Not the sandbox: a re-created sandbox with the same handler is the same finding. */
const FINDING_FIELDS = ['verdict', 'reason', 'expectedHandler', 'expectedRuntimeType', 'expectedIsolation', 'actualHandler', 'actualRuntimeType'] as const;
type Finding = Pick<PodVerdictEntry, (typeof FINDING_FIELDS)[number] | 'actualIsolation'>;

/** Evidence that cannot tell (not gathered, or unknown) is no other isolation: it never ends a finding. */
const known = (isolation: Finding['actualIsolation']): boolean => isolation !== undefined && isolation !== 'unknown';
const sameIsolation = (a: Finding, b: Finding): boolean => !known(a.actualIsolation) || !known(b.actualIsolation) || a.actualIsolation === b.actualIsolation;

const sameFinding = (a: Finding, b: Finding): boolean => FINDING_FIELDS.every((f) => a[f] === b[f]) && sameIsolation(a, b);

/** The reasons a verified finding can have (what lastVerified keeps). */
const VERIFIED_REASONS = new Set<string>(['Matched', 'RuntimeTypeMismatch', 'IsolationMismatch']);

/** What a stored entry says the pod was last verified to be: the entry itself, or what an Unverified entry holds. */
export function lastVerifiedOf(entry: PodVerdictEntry | undefined): LastVerified | undefined {
  if (entry === undefined) return undefined;
  if (entry.verdict === 'Unverified') return entry.lastVerified;
  // A pod outside the required RuntimeClasses is judged from its spec at every pass, never Unverified: nothing to hold.
  if (entry.reason === 'RuntimeClassNotAllowed') return undefined;
  const reason = VERIFIED_REASONS.has(entry.reason) ? (entry.reason as LastVerified['reason']) : 'HandlerMismatch';
  const held: LastVerified = { verdict: entry.verdict, reason, since: entry.since };
  const optional = {
    expectedHandler: entry.expectedHandler,
    expectedRuntimeType: entry.expectedRuntimeType,
    expectedIsolation: entry.expectedIsolation,
    actualHandler: entry.actualHandler,
    actualRuntimeType: entry.actualRuntimeType,
    actualIsolation: entry.actualIsolation,
  };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) Object.assign(held, { [key]: value });
  return held;
}

/** The mismatch an Unverified entry holds (it was mismatched when last verified), if any. */
export function heldMismatch(entry: PodVerdictEntry): LastVerified | undefined {
  return entry.verdict === 'Unverified' && entry.lastVerified?.verdict === 'Mismatched' ? entry.lastVerified : undefined;
}

/**
 * The finding-continuity rule. A Matched or Mismatched finding ends only
 * when the pod is gone, its verdict changes, or its expected or actual
 * handler, runtime type or isolation changes (evidence that cannot tell,
 * not gathered or unknown, is no change). An Unverified spell in between (agent
 * restarted or rolled, runtime or API server down, operator reinstalled)
 * does not end it: the Unverified entry holds it as `lastVerified`, and when
 * the same finding is seen again it keeps its first `since`. A re-created
 * sandbox with the same handler is the same finding. An Unverified entry
 * keeps its own `since` while its reason stays the same.
 */
export function continueFinding(fresh: PodVerdictEntry, before: PodVerdictEntry | undefined): PodVerdictEntry {
  const held = lastVerifiedOf(before);
  if (fresh.verdict === 'Unverified') {
    const since = before !== undefined && sameFinding(before, fresh) ? before.since : fresh.since;
    return held === undefined ? { ...fresh, since } : { ...fresh, since, lastVerified: held };
  }
  // A policy finding is never held (lastVerifiedOf), so it is continued from the stored entry itself.
  if (before !== undefined && before.verdict !== 'Unverified' && sameFinding(before, fresh)) return { ...fresh, since: before.since };
  return held !== undefined && sameFinding(held, fresh) ? { ...fresh, since: held.since } : fresh;
}

const byPod = (a: PodVerdictEntry, b: PodVerdictEntry): number =>
  a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name) || a.uid.localeCompare(b.uid);

/**
 * One audit's entry in a node's report status. A pod whose finding did not
 * change keeps its `since` from `previous`, so an unchanged node gives an
 * identical entry and nothing is written.
 */
export function nodeAuditEntry(
  audit: string,
  pods: readonly AuditedPod[],
  result: NodeAudit,
  context: { previous: NodeAuditEntry | undefined; now: number },
): NodeAuditEntry {
  const before = new Map((context.previous?.pods ?? []).map((e) => [e.uid, e]));
  const entries: PodVerdictEntry[] = [];
  const counts: NodeCounts = {
    audited: 0,
    matched: 0,
    mismatched: 0,
    unverified: 0,
    orphanSandboxes: result.orphans.length,
    suspiciousSandboxes: result.suspicious.length,
  };
  for (const pod of pods) {
    const v = result.verdicts.get(pod.uid);
    if (v === undefined) continue;
    entries.push(continueFinding(entryOf(pod, v, iso(context.now)), before.get(pod.uid)));
    counts.audited++;
    if (v.kind === 'Matched') counts.matched++;
    else if (v.kind === 'Mismatched') counts.mismatched++;
    else counts.unverified++;
  }
  return { name: audit, counts, pods: entries.sort(byPod) };
}

/** How grave a verdict is, when several audits judge one pod. */
export const VERDICT_GRAVITY = { Matched: 0, Unverified: 1, Mismatched: 2 } as const;

/** Per pod, the gravest verdict any audit gives it: the node's counts at a glance. */
export function nodeCounts(entries: readonly NodeAuditEntry[], sandboxes: number): ReportCounts {
  const gravest = new Map<string, PodVerdictEntry['verdict']>();
  for (const entry of entries) {
    for (const p of entry.pods) {
      const seen = gravest.get(p.uid);
      if (seen === undefined || VERDICT_GRAVITY[p.verdict] > VERDICT_GRAVITY[seen]) gravest.set(p.uid, p.verdict);
    }
  }
  const counts: ReportCounts = { sandboxes, audited: gravest.size, matched: 0, mismatched: 0, unverified: 0 };
  for (const verdict of gravest.values()) counts[verdict === 'Matched' ? 'matched' : verdict === 'Mismatched' ? 'mismatched' : 'unverified']++;
  return counts;
}

/** A report's whole status: the node's counts, and the entries sorted by audit name. */
export function reportStatus(generation: number, entries: readonly NodeAuditEntry[], sandboxes: number): NodeSandboxReportStatus {
  return { observedGeneration: generation, counts: nodeCounts(entries, sandboxes), audits: [...entries].sort((a, b) => a.name.localeCompare(b.name)) };
}

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

function readyCondition(counts: AuditCounts, invalid: string | undefined): Omit<Condition, 'lastTransitionTime'> {
  if (invalid !== undefined) return { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: invalid };
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

/** What an audit's status needs beyond its nodes' summaries: the Node objects that exist, and its policy's status (policy-status.ts). */
export interface ClusterFacts {
  nodes: ReadonlySet<string>;
  policy?: ReturnType<typeof policyStatus>;
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
  const conditions = [readyCondition(counts, audit.invalid), compliantCondition(counts), ...(policy?.conditions ?? [])].map((c) =>
    condition({ ...c, observedGeneration: audit.generation }, previous, now),
  );
  const status = { observedGeneration: audit.generation, conditions, counts, mismatches: mismatchSample(summaries) };
  return policy === undefined ? status : { ...status, runtimeClasses: policy.runtimeClasses };
}

/** Bounds a report's status (see MAX_PODS_PER_STATUS). */
export function capEntries(entries: readonly NodeAuditEntry[]): NodeAuditEntry[] {
  const cap = Math.min(MAX_PODS_PER_ENTRY, Math.floor(MAX_PODS_PER_STATUS / Math.max(1, entries.length)));
  // What is left out is what matched: the pods that need a look stay listed.
  const kept = (pods: readonly PodVerdictEntry[]): PodVerdictEntry[] =>
    [...pods.filter((p) => p.verdict !== 'Matched'), ...pods.filter((p) => p.verdict === 'Matched')].slice(0, cap);
  return entries.map((entry) => (entry.pods.length <= cap ? entry : { ...entry, pods: kept(entry.pods) }));
}
