// From verdicts to a report's status: per audit, one entry per pod (each
// finding continued from what the previous pass wrote), the node's counts,
// and the bound on the whole. Pure, table-tested; the node reconciler only
// compares the result with what is stored and writes the difference.
import type { NodeAuditEntry, NodeSandboxReportStatus, PodVerdictEntry } from '../../api/v1alpha1/node-sandbox-report.ts';
import { continueFinding } from './finding.ts';
import type { AuditedPod, NodeAudit, Verdict } from './verdict.ts';

/**
 * The report status lists at most this many pods per audit (the schema's
 * bound), and at most MAX_PODS_PER_STATUS over all audits: an entry is about
 * 350 bytes and an object must stay well under etcd's 1.5 MB. Counts cover all.
 */
export const MAX_PODS_PER_ENTRY = 2000;
export const MAX_PODS_PER_STATUS = 3000;

export type NodeCounts = NodeAuditEntry['counts'];
export type ReportCounts = NonNullable<NodeSandboxReportStatus['counts']>;

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

/** Bounds a report's status (see MAX_PODS_PER_STATUS). */
export function capEntries(entries: readonly NodeAuditEntry[]): NodeAuditEntry[] {
  const cap = Math.min(MAX_PODS_PER_ENTRY, Math.floor(MAX_PODS_PER_STATUS / Math.max(1, entries.length)));
  // What is left out is what matched: the pods that need a look stay listed.
  const kept = (pods: readonly PodVerdictEntry[]): PodVerdictEntry[] =>
    [...pods.filter((p) => p.verdict !== 'Matched'), ...pods.filter((p) => p.verdict === 'Matched')].slice(0, cap);
  return entries.map((entry) => (entry.pods.length <= cap ? entry : { ...entry, pods: kept(entry.pods) }));
}
