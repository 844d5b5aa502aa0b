// Proof before placement: which nodes get a probe pod of which RuntimeClass
// now, what a finished probe proved, and which node labels follow. Pure: the
// nodes, their records and the probes in flight in; decisions out. The
// probe reconciler does the I/O (docs/design.md, "Proof before placement").
import type { Verdict } from './verdict.ts';

/** The label a node proven for a RuntimeClass carries: runtimeclass.rcaudit.dev/<class>=proven. */
export const PROOF_LABEL_PREFIX = 'runtimeclass.rcaudit.dev/';
export const PROVEN = 'proven';
/** The label that keeps a node's last probe of a class (reason, fingerprint, time), so a new leader has it. */
export const RECORD_LABEL_PREFIX = 'probe.runtimeclass.rcaudit.dev/';

/** The node label for a class, or undefined when its name cannot be a label's name (over 63 characters). */
export function proofLabel(runtimeClass: string): string | undefined {
  return runtimeClass.length <= 63 ? `${PROOF_LABEL_PREFIX}${runtimeClass}` : undefined;
}

export type ProbeOutcome = 'Proven' | 'Failed' | 'Error';

/**
 * Why a probe did not prove its class. Failed: the node ran the probe and it
 * was not what the class promises. Error: the probe could not tell (it never
 * ran, or ran out of time): never proof either way.
 */
export type ProbeReason =
  | 'Proven'
  | 'HandlerDropped'
  | 'HandlerMismatch'
  | 'RuntimeTypeMismatch'
  | 'IsolationMismatch'
  | 'IsolationUnknown'
  | 'NoSuchHandler'
  | 'ProbeDidNotRun'
  | 'DeadlineExceeded'
  | 'NodeGone';

/** What a node keeps of its last probe of a class (in its report's status, so a new leader has it). */
export interface ProbeRecord {
  runtimeClass: string;
  outcome: ProbeOutcome;
  reason: ProbeReason;
  message: string;
  /** When it was judged, ms since the epoch. */
  probedAt: number;
  /** What the answer depended on when it was judged (probeFingerprint). */
  fingerprint: string;
}

/**
 * What a probe's answer depends on: the Node (by uid: one deleted and made
 * again under its name may be another machine, and its labels and the
 * records this replica holds would otherwise carry the last one's proof to
 * it), its kubelet and runtime, the class (by uid: a re-created one is new),
 * and the runtime's handlers.
 */
export interface FingerprintParts {
  nodeUID: string;
  kubeletVersion: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeClassUID: string;
  /** The runtime's configured handlers as the agent reports them ("name=runtimeType"), any order. */
  handlers: readonly string[];
}

/** What the answer depended on, as one text; the view keeps a short hash of it (16 hex digits: it goes in a label value). */
export function fingerprintText(p: FingerprintParts): string {
  return [p.nodeUID, p.kubeletVersion, p.runtimeName, p.runtimeVersion, p.runtimeClassUID, [...p.handlers].sort().join(',')].join('|');
}

const OUTCOME_OF: Readonly<Record<ProbeReason, ProbeOutcome>> = {
  Proven: 'Proven',
  HandlerDropped: 'Failed',
  HandlerMismatch: 'Failed',
  RuntimeTypeMismatch: 'Failed',
  IsolationMismatch: 'Failed',
  IsolationUnknown: 'Failed',
  NoSuchHandler: 'Failed',
  ProbeDidNotRun: 'Error',
  DeadlineExceeded: 'Error',
  NodeGone: 'Error',
};

/** A record as its label keeps it: <reason>.<fingerprint>.<unix seconds> (its message is not kept). */
export function encodeRecord(record: ProbeRecord): string {
  return `${record.reason}.${record.fingerprint}.${String(Math.floor(record.probedAt / 1000))}`;
}

/** A record from its label; undefined for a value this operator did not write. */
export function decodeRecord(runtimeClass: string, value: string): ProbeRecord | undefined {
  const match = /^([A-Za-z]+)\.([0-9a-f]{16})\.(\d{1,12})$/.exec(value);
  if (match?.[1] === undefined || match[2] === undefined || match[3] === undefined || !Object.hasOwn(OUTCOME_OF, match[1])) return undefined;
  const reason = match[1] as ProbeReason;
  return {
    runtimeClass,
    outcome: OUTCOME_OF[reason],
    reason,
    message: 'kept on the node; the message was not',
    probedAt: Number(match[3]) * 1000,
    fingerprint: match[2],
  };
}

/** The records a node's labels keep, by class. */
export function recordsFromLabels(labels: Readonly<Record<string, string>>): Map<string, ProbeRecord> {
  const records = new Map<string, ProbeRecord>();
  for (const [key, value] of Object.entries(labels)) {
    if (!key.startsWith(RECORD_LABEL_PREFIX)) continue;
    const runtimeClass = key.slice(RECORD_LABEL_PREFIX.length);
    const record = decodeRecord(runtimeClass, value);
    if (record !== undefined) records.set(runtimeClass, record);
  }
  return records;
}

/** A RuntimeClass an audit asks to prove. */
export interface WantedClass {
  name: string;
  handler: string;
  uid: string;
  /** Whether the class's scheduling (node selector, tolerations) admits the node, its own proof label left out: a gated class must still be probed where it is not proven yet. */
  admits(node: string): boolean;
  /** Probed again at least this often (the shortest interval of the audits that ask). */
  intervalMs: number;
  /** A failed or undecided probe of it is tried again after this (the shortest of the audits that ask). */
  retryMs: number;
  /** A probe of it not judged within this is an error (the shortest deadline of the audits that ask). */
  deadlineMs: number;
}

/** A node as the planner sees it. */
export interface ProbeNode {
  name: string;
  /** Its agent is Ready and its runtime answers: a probe can be judged. */
  judgeable: boolean;
  /** The fingerprint per class, from the node's current kubelet, runtime and handlers. */
  fingerprint(runtimeClass: WantedClass): string;
  records: ReadonlyMap<string, ProbeRecord>;
  /** When a workload of the class was last seen Mismatched on this node (ms), if ever. */
  mismatchedAt: ReadonlyMap<string, number>;
  /** Since when its runtime has answered without a break (ms): after a restart, it may have re-read its config. */
  runtimeSince?: number;
}

export interface InFlightProbe {
  node: string;
  runtimeClass: string;
  pod: string;
  /** When the probe pod was created, ms since the epoch. */
  startedAt: number;
}

export interface ProbeLimits {
  /** Probe pods in flight over the whole cluster. */
  maxInFlight: number;
  /** Probe pods started in any minute. */
  perMinute: number;
  /** How many were started in the last minute. */
  startedLastMinute: number;
}

export interface ProbeTarget {
  node: string;
  runtimeClass: string;
  handler: string;
  fingerprint: string;
  /** Why now: never probed, changed, a workload mismatch, its runtime restarted, an earlier probe that failed or could not tell, or the interval. */
  why: 'new' | 'changed' | 'mismatch' | 'restarted' | 'retry' | 'interval';
}

/** Why a node's class is due for a probe now, or undefined when its record still holds. */
export function dueReason(node: ProbeNode, wanted: WantedClass, now: number): ProbeTarget['why'] | undefined {
  const record = node.records.get(wanted.name);
  if (record === undefined) return 'new';
  const since = changedSince(node, wanted, record);
  if (since !== undefined) return since;
  if (record.outcome !== 'Proven' && now - record.probedAt >= wanted.retryMs) return 'retry';
  return now - record.probedAt >= wanted.intervalMs ? 'interval' : undefined;
}

/** What happened on the node since its record, that could change the answer. */
function changedSince(node: ProbeNode, wanted: WantedClass, record: ProbeRecord): 'changed' | 'mismatch' | 'restarted' | undefined {
  if (record.fingerprint !== node.fingerprint(wanted)) return 'changed';
  const mismatched = node.mismatchedAt.get(wanted.name);
  if (mismatched !== undefined && mismatched > record.probedAt && record.outcome === 'Proven') return 'mismatch';
  // Its label stays meanwhile: a restart with the same version and handlers most likely changed nothing.
  if (node.runtimeSince !== undefined && node.runtimeSince > record.probedAt) return 'restarted';
  return undefined;
}

const URGENCY: Readonly<Record<ProbeTarget['why'], number>> = { changed: 0, mismatch: 1, restarted: 2, new: 3, retry: 4, interval: 5 };

/**
 * The probes to start now: each (node, class) that is due, whose node can
 * judge it and whose class admits it, with none in flight; the most urgent
 * first (a change or a mismatch before a new node before the interval),
 * then by node and class, up to the limits.
 */
export function probesToStart(
  nodes: readonly ProbeNode[],
  wanted: readonly WantedClass[],
  inFlight: readonly InFlightProbe[],
  limits: ProbeLimits & { now: number },
): ProbeTarget[] {
  const { now } = limits;
  const busy = new Set(inFlight.map((p) => `${p.node}\0${p.runtimeClass}`));
  const due: ProbeTarget[] = [];
  for (const node of nodes) {
    if (!node.judgeable) continue;
    for (const cls of wanted) {
      if (!cls.admits(node.name) || busy.has(`${node.name}\0${cls.name}`)) continue;
      const why = dueReason(node, cls, now);
      if (why !== undefined) due.push({ node: node.name, runtimeClass: cls.name, handler: cls.handler, fingerprint: node.fingerprint(cls), why });
    }
  }
  due.sort((a, b) => URGENCY[a.why] - URGENCY[b.why] || a.node.localeCompare(b.node) || a.runtimeClass.localeCompare(b.runtimeClass));
  const room = Math.max(0, Math.min(limits.maxInFlight - inFlight.length, limits.perMinute - limits.startedLastMinute));
  return due.slice(0, room);
}

/** When a node's record of a class is next due (for the reconciler's timer), if it has one. */
export function nextDue(record: ProbeRecord | undefined, wanted: WantedClass): number | undefined {
  if (record === undefined) return undefined;
  return record.probedAt + (record.outcome === 'Proven' ? wanted.intervalMs : wanted.retryMs);
}

/** What a probe's verdict (judged like any pod's, by the audit's policy) proves; undefined while it cannot tell yet. */
export function probeOutcome(verdict: Verdict): { outcome: ProbeOutcome; reason: ProbeReason; message: string } | undefined {
  const { message } = verdict;
  switch (verdict.reason) {
    case 'Matched':
      return { outcome: 'Proven', reason: 'Proven', message };
    case 'HandlerMismatch':
      return { outcome: 'Failed', reason: verdict.actual?.requestedHandler === '' ? 'HandlerDropped' : 'HandlerMismatch', message };
    case 'RuntimeTypeMismatch':
    case 'IsolationMismatch':
      return { outcome: 'Failed', reason: verdict.reason, message };
    case 'EvidenceUnknown':
    case 'EvidenceDisabled':
      return { outcome: 'Failed', reason: 'IsolationUnknown', message };
    default:
      // No sandbox yet, the agent not ready, the runtime not answering: not yet; the deadline decides.
      return undefined;
  }
}

/**
 * The labels a node should carry for the wanted classes: a class's proof
 * label exactly when its last probe proved it for the node's current
 * fingerprint (a change of kubelet, runtime, handlers or class takes it away
 * until a new probe proves it again: placement pauses rather than trusting
 * an answer the change could have made false), and each record's own label.
 */
export function desiredLabels(node: ProbeNode, wanted: readonly WantedClass[]): Map<string, string> {
  const labels = new Map<string, string>();
  for (const cls of wanted) {
    const key = proofLabel(cls.name);
    const record = node.records.get(cls.name);
    if (key === undefined || record === undefined) continue;
    labels.set(`${RECORD_LABEL_PREFIX}${cls.name}`, encodeRecord(record));
    if (record.outcome === 'Proven' && record.fingerprint === node.fingerprint(cls) && cls.admits(node.name)) labels.set(key, PROVEN);
  }
  return labels;
}

const ours = (key: string): boolean => key.startsWith(PROOF_LABEL_PREFIX) || key.startsWith(RECORD_LABEL_PREFIX);

/** The label changes that bring a node's probe labels to `desired`: the operator's own two prefixes only. */
export function labelChanges(current: Readonly<Record<string, string>>, desired: ReadonlyMap<string, string>): Record<string, string | null> {
  const patch: Record<string, string | null> = {};
  for (const [key, value] of Object.entries(current)) if (ours(key) && desired.get(key) !== value) patch[key] = desired.get(key) ?? null;
  for (const [key, value] of desired) if (current[key] !== value) patch[key] = value;
  return patch;
}

/** One admitted (node, class): its last outcome, or not probed yet (the views make them; the metrics and the audits' status read them). */
export interface ProbeFigure {
  runtimeClass: string;
  node: string;
  outcome: ProbeOutcome | 'NotProbed';
  reason: string;
  /** The record's message, where the replica that judged it still leads. */
  message?: string;
}

export interface ProbeSummary {
  runtimeClass: string;
  exists: boolean;
  label?: string;
  nodes: number;
  proven: number;
  failed: number;
  errors: number;
  notProbed: number;
  failures?: { node: string; outcome: 'Failed' | 'Error'; reason: string; message?: string }[];
}

const MAX_FAILURE_SAMPLE = 20;

/** What an audit's status says of the classes it asks to prove: per class, the admitted nodes by outcome, and a sample of the failures. */
export function probeSummaries(asked: readonly string[], existing: ReadonlySet<string>, figures: readonly ProbeFigure[]): ProbeSummary[] {
  return asked.map((runtimeClass) => {
    const mine = figures.filter((f) => f.runtimeClass === runtimeClass);
    const count = (outcome: ProbeFigure['outcome']): number => mine.filter((f) => f.outcome === outcome).length;
    const failures = mine
      .filter((f) => f.outcome === 'Failed' || f.outcome === 'Error')
      .sort((a, b) => a.node.localeCompare(b.node))
      .slice(0, MAX_FAILURE_SAMPLE)
      .map((f) => ({
        node: f.node,
        outcome: f.outcome as 'Failed' | 'Error',
        reason: f.reason,
        ...(f.message === undefined ? {} : { message: f.message.slice(0, 512) }),
      }));
    const label = proofLabel(runtimeClass);
    return {
      runtimeClass,
      exists: existing.has(runtimeClass),
      ...(label === undefined ? {} : { label }),
      nodes: mine.length,
      proven: count('Proven'),
      failed: count('Failed'),
      errors: count('Error'),
      notProbed: count('NotProbed'),
      ...(failures.length === 0 ? {} : { failures }),
    };
  });
}

/** An operator pod as the withdrawal of the proofs sees it: its phase and its containers' arguments. */
export interface OperatorPod {
  name: string;
  phase?: string | undefined;
  args: readonly (readonly string[])[];
}

/**
 * The operator pods that may still write probe labels: running (or about
 * to) with a probe namespace. After an upgrade that turns probes off, the
 * new operator runs without one and is no reason to wait; the old one is.
 */
export function stillProbing(pods: readonly OperatorPod[]): string[] {
  const probes = (args: readonly string[]): boolean => args.some((a) => a === '--probe-namespace' || a.startsWith('--probe-namespace='));
  return pods.filter((p) => p.phase !== 'Succeeded' && p.phase !== 'Failed' && p.args.some(probes)).map((p) => p.name);
}
