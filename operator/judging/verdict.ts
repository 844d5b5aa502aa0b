// The verdict engine: for every audited pod, does its sandbox really run
// with the handler (and runtime type) its RuntimeClass promised? Pure: the
// pods, the node's report and the policy in, verdicts out. No I/O.
import type { IsolationClass, NodeSandboxReportSpec, ReportedSandbox } from '../../api/v1alpha1/node-sandbox-report.ts';

export type VerdictKind = 'Matched' | 'Mismatched' | 'Unverified';

export type VerdictReason =
  | 'Matched'
  | 'HandlerMismatch'
  | 'RuntimeTypeMismatch'
  | 'IsolationMismatch'
  | 'NoSandbox'
  | 'SandboxNotReported'
  | 'NoReport'
  | 'AgentNotReady'
  | 'RuntimeUnreachable'
  | 'RuntimeClassNotFound'
  | 'UnsupportedRuntime'
  | 'AwaitingSandbox'
  | 'EvidenceUnknown'
  | 'EvidenceDisabled'
  | 'RuntimeClassNotAllowed';

/** What the operator keeps of a Pod: only what a verdict needs. */
export interface AuditedPod {
  uid: string;
  namespace: string;
  name: string;
  nodeName?: string;
  runtimeClassName?: string;
  /**
   * The RuntimeClass's handler when the pod was first seen (a RuntimeClass
   * re-created later with another handler must not rewrite history), or
   * null when the RuntimeClass did not exist then.
   */
  expectedHandler?: string | null;
  /** kubernetes.io/config.mirror: a static pod's mirror, whose sandbox carries the static pod's uid (this value). */
  mirrorOf?: string;
  /** When the pod was bound to its node (ms since the epoch). */
  boundAt?: number;
}

export interface NodeView {
  name: string;
  report?: NodeSandboxReportSpec;
  /** The node's agent pod is Ready (its report is current). */
  agentReady: boolean;
}

export interface AuditPolicy {
  /** Expected runtime type per handler, e.g. kata -> io.containerd.kata.v2. */
  expectedRuntimeTypes: Readonly<Record<string, string>>;
  /** Expected isolation per handler, from the host's evidence, e.g. kata -> vm. */
  expectedIsolation: Readonly<Record<string, IsolationClass>>;
  /** How long a bound pod may have no sandbox before that counts. */
  gracePeriodMs: number;
  /** When set, the only RuntimeClasses a covered pod may name (spec.requiredRuntimeClasses). */
  requiredRuntimeClasses?: ReadonlySet<string>;
}

export interface ActualSandbox {
  sandboxId: string;
  requestedHandler: string;
  resolvedHandler?: string;
  runtimeType?: string;
  /** The class of the host's evidence for the sandbox, when gathered. */
  isolation?: IsolationClass;
}

export interface Verdict {
  kind: VerdictKind;
  reason: VerdictReason;
  message: string;
  expectedHandler?: string;
  expectedRuntimeType?: string;
  expectedIsolation?: IsolationClass;
  actual?: ActualSandbox;
}

const verdict = (kind: VerdictKind, reason: VerdictReason, message: string, extra: Partial<Verdict> = {}): Verdict => ({ kind, reason, message, ...extra });

/** The sandbox that speaks for a pod: the newest ready one, else the newest. */
export function currentSandbox(sandboxes: readonly ReportedSandbox[]): ReportedSandbox | undefined {
  const newestFirst = [...sandboxes].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.attempt - a.attempt);
  return newestFirst.find((s) => s.state === 'Ready') ?? newestFirst[0];
}

function actualOf(sandbox: ReportedSandbox): ActualSandbox {
  return {
    sandboxId: sandbox.id,
    requestedHandler: sandbox.requestedHandler,
    ...(sandbox.resolvedHandler === undefined ? {} : { resolvedHandler: sandbox.resolvedHandler }),
    ...(sandbox.runtimeType === undefined ? {} : { runtimeType: sandbox.runtimeType }),
    ...(sandbox.evidence === undefined ? {} : { isolation: sandbox.evidence.class }),
  };
}

/**
 * The node's report when it can be trusted for its pods, else why not. A
 * report saying the runtime does not answer is believed first, even while
 * the agent's pod reads not Ready: when a runtime is down the kubelet
 * reports its node NotReady, and the node controller then marks every pod
 * on it not Ready, the agent's too. The agent's last word is the more
 * precise reason.
 */
function trustedReport(node: NodeView | undefined): NodeSandboxReportSpec | Verdict {
  if (node?.report === undefined) return verdict('Unverified', 'NoReport', "no sandbox report from this pod's node");
  const { runtime } = node.report;
  if (!runtime.reachable) {
    return verdict(
      'Unverified',
      'RuntimeUnreachable',
      `the CRI runtime on ${node.name} has not answered since ${runtime.unreachableSince ?? 'an unknown time'}`,
    );
  }
  if (!node.agentReady) return verdict('Unverified', 'AgentNotReady', `the agent on ${node.name} is not ready`);
  return node.report;
}

/** The handler the pod should get: its RuntimeClass's, or the node runtime's default for pods without one. */
function expectedHandlerOf(pod: AuditedPod, report: NodeSandboxReportSpec): { handler: string } | Verdict {
  if (pod.runtimeClassName === undefined) {
    const fallback = report.runtime.defaultHandler;
    return fallback === undefined
      ? verdict('Unverified', 'UnsupportedRuntime', "the node's runtime does not say which handler is its default")
      : { handler: fallback };
  }
  if (pod.expectedHandler === null || pod.expectedHandler === undefined) {
    return verdict('Unverified', 'RuntimeClassNotFound', `RuntimeClass ${pod.runtimeClassName} did not exist when the pod was first seen`);
  }
  return { handler: pod.expectedHandler };
}

/**
 * A pod outside the RuntimeClasses the audit requires, if it is. This needs
 * no report: the pod's own spec says it, and no sandbox can make it right, so
 * the verdict names neither a handler nor a sandbox (it lasts, unchanged, as
 * long as the pod and the policy do).
 */
function disallowed(pod: AuditedPod, required: ReadonlySet<string> | undefined): Verdict | undefined {
  if (required === undefined) return undefined;
  if (pod.runtimeClassName !== undefined && required.has(pod.runtimeClassName)) return undefined;
  const allowed = [...required].sort().join(', ');
  const names = pod.runtimeClassName === undefined ? 'names no RuntimeClass' : `names RuntimeClass ${pod.runtimeClassName}`;
  return verdict('Mismatched', 'RuntimeClassNotAllowed', `the pod ${names}; its namespace requires one of ${allowed}`);
}

/**
 * A pod whose sandbox the report does not list: awaited within the grace
 * period, then NoSandbox; but where the agent left sandboxes out to keep the
 * report within its schema, not listed is not missing (SandboxNotReported).
 * Neither message counts anything: it would change from pass to pass, and
 * so would the stored status.
 */
function withoutSandbox(pod: AuditedPod, report: NodeSandboxReportSpec, expectedHandler: string, context: { policy: AuditPolicy; now: number }): Verdict {
  const waited = pod.boundAt === undefined ? 0 : context.now - pod.boundAt;
  const extra = { expectedHandler };
  if (waited < context.policy.gracePeriodMs) return verdict('Unverified', 'AwaitingSandbox', 'bound moments ago; its sandbox may not exist yet', extra);
  if ((report.omitted?.sandboxes ?? 0) > 0) {
    return verdict(
      'Unverified',
      'SandboxNotReported',
      `the report of ${report.nodeName} leaves sandboxes out to stay within its size bound; this pod's may be one`,
      extra,
    );
  }
  const grace = String(Math.round(context.policy.gracePeriodMs / 1000));
  return verdict('Unverified', 'NoSandbox', `no sandbox on ${report.nodeName} within the grace period of ${grace}s`, extra);
}

/** Judges one pod bound to `node`, given the sandboxes its node's report lists for it. */
export function judgePod(
  pod: AuditedPod,
  node: NodeView | undefined,
  sandboxes: readonly ReportedSandbox[],
  context: { policy: AuditPolicy; now: number },
): Verdict {
  const outside = disallowed(pod, context.policy.requiredRuntimeClasses);
  if (outside !== undefined) return outside;
  const report = trustedReport(node);
  // Not judged now, but what the pod expects is known: keep saying it.
  if ('kind' in report) return typeof pod.expectedHandler === 'string' ? { ...report, expectedHandler: pod.expectedHandler } : report;
  const expected = expectedHandlerOf(pod, report);
  if ('kind' in expected) return expected;
  const sandbox = currentSandbox(sandboxes);
  if (sandbox === undefined) return withoutSandbox(pod, report, expected.handler, context);
  return compare(expected.handler, sandbox, { policy: context.policy, evidenceGathered: report.isolationEvidence !== 'Disabled', node: report.nodeName });
}

/** What was expected of a sandbox (its handler, and the policy's runtime type and isolation for it), with what it has. */
type ExpectedOfSandbox = Pick<Verdict, 'expectedHandler' | 'expectedRuntimeType' | 'expectedIsolation'> & { expectedHandler: string; actual: ActualSandbox };

/** What the audit's policy asks of a handler beyond its name, with what the sandbox has. */
function expectedOfSandbox(expectedHandler: string, actual: ActualSandbox, policy: AuditPolicy): ExpectedOfSandbox {
  const extra: ExpectedOfSandbox = { expectedHandler, actual };
  const runtimeType = policy.expectedRuntimeTypes[expectedHandler];
  if (runtimeType !== undefined) extra.expectedRuntimeType = runtimeType;
  const isolation = policy.expectedIsolation[expectedHandler];
  if (isolation !== undefined) extra.expectedIsolation = isolation;
  return extra;
}

function compare(expectedHandler: string, sandbox: ReportedSandbox, context: { policy: AuditPolicy; evidenceGathered: boolean; node: string }): Verdict {
  const extra = expectedOfSandbox(expectedHandler, actualOf(sandbox), context.policy);
  const { expectedRuntimeType, expectedIsolation } = extra;
  const got = sandbox.resolvedHandler;
  if (got === undefined) {
    // "" on a runtime whose default we do not know: never guess.
    return verdict('Unverified', 'UnsupportedRuntime', 'the sandbox asked for the default handler and the runtime does not say which that is', extra);
  }
  if (got !== expectedHandler) {
    const shown = sandbox.requestedHandler === '' ? `"" (the default, ${got})` : got;
    return verdict('Mismatched', 'HandlerMismatch', `expected handler ${expectedHandler}, sandbox ${sandbox.id.slice(0, 12)} got ${shown}`, extra);
  }
  if (expectedRuntimeType !== undefined && sandbox.runtimeType !== expectedRuntimeType) {
    return verdict(
      'Mismatched',
      'RuntimeTypeMismatch',
      `handler ${got} runs with runtime type ${sandbox.runtimeType ?? 'unknown'}, expected ${expectedRuntimeType}`,
      extra,
    );
  }
  if (expectedIsolation !== undefined) {
    const isolation = judgeIsolation(expectedIsolation, sandbox, context);
    if (isolation !== undefined) return { ...isolation, ...extra };
  }
  return verdict('Matched', 'Matched', `sandbox runs with handler ${got}${sandbox.runtimeType === undefined ? '' : ` (${sandbox.runtimeType})`}`, extra);
}

/**
 * The host's evidence against what the audit asks of the handler: undefined
 * when it agrees. Evidence that is unknown, or not gathered, never counts
 * as a mismatch: the pod is Unverified, with the reason.
 */
function judgeIsolation(expected: IsolationClass, sandbox: ReportedSandbox, context: { evidenceGathered: boolean; node: string }): Verdict | undefined {
  const { evidence } = sandbox;
  if (!context.evidenceGathered) {
    return verdict('Unverified', 'EvidenceDisabled', `the audit expects isolation ${expected}, and the agent on ${context.node} gathers no isolation evidence`);
  }
  if (evidence === undefined || evidence.class === 'unknown') {
    return verdict(
      'Unverified',
      'EvidenceUnknown',
      `the audit expects isolation ${expected}; the host's evidence is unknown${evidence?.reason === undefined ? '' : `: ${evidence.reason}`}`,
    );
  }
  if (evidence.class === expected) return undefined;
  const seen = [evidence.process, evidence.parent === undefined ? undefined : `under ${evidence.parent}`].filter((x) => x !== undefined).join(' ');
  return verdict(
    'Mismatched',
    'IsolationMismatch',
    `handler ${sandbox.resolvedHandler ?? ''} is expected to isolate as ${expected}, but the host shows ${evidence.class}${seen === '' ? '' : ` (${seen})`}`,
  );
}

export interface NodeAudit {
  /** Verdicts by pod uid, for the audited pods bound to this node. */
  verdicts: Map<string, Verdict>;
  /** Running sandboxes that belong to no pod known anywhere: reported, never guessed at. */
  orphans: ReportedSandbox[];
  /** Sandboxes naming a pod bound to another node: ignored and counted. */
  suspicious: ReportedSandbox[];
  /** The soonest a verdict here changes with nothing else changing: a pod awaiting its sandbox runs out of grace. */
  nextChangeAt?: number;
}

/**
 * Judges every audited pod bound to `node`. `boundNodeOf` tells, for a pod
 * uid (or a static pod's uid behind its mirror), which node the pod is bound
 * to, so the sandboxes no audited pod claims are told apart: a pod known on
 * this node but not audited, a pod bound elsewhere (suspicious), or no pod at
 * all (an orphan; only running ones count, since a stopped sandbox of a
 * deleted pod is the kubelet's garbage until it collects it).
 */
export function auditNode(
  node: NodeView | undefined,
  podsOnNode: readonly AuditedPod[],
  boundNodeOf: (uid: string) => string | undefined,
  context: { policy: AuditPolicy; now: number },
): NodeAudit {
  const byUid = sandboxesByPod(node?.report?.sandboxes ?? []);
  const verdicts = new Map<string, Verdict>();
  const claimed = new Set<string>();
  for (const pod of podsOnNode) {
    const sandboxUid = pod.mirrorOf ?? pod.uid;
    claimed.add(sandboxUid);
    verdicts.set(pod.uid, judgePod(pod, node, byUid.get(sandboxUid) ?? [], context));
  }
  for (const uid of claimed) byUid.delete(uid);
  const nextChangeAt = graceEnds(podsOnNode, verdicts, context);
  return { verdicts, ...unclaimed(byUid, node?.name, boundNodeOf), ...(nextChangeAt === undefined ? {} : { nextChangeAt }) };
}

/** When the first pod awaiting its sandbox runs out of grace (its verdict turns NoSandbox), if any awaits. */
function graceEnds(pods: readonly AuditedPod[], verdicts: ReadonlyMap<string, Verdict>, context: { policy: AuditPolicy; now: number }): number | undefined {
  let soonest: number | undefined;
  for (const pod of pods) {
    if (verdicts.get(pod.uid)?.reason !== 'AwaitingSandbox') continue;
    const ends = (pod.boundAt ?? context.now) + context.policy.gracePeriodMs;
    soonest = soonest === undefined ? ends : Math.min(soonest, ends);
  }
  return soonest;
}

function unclaimed(
  byUid: ReadonlyMap<string, ReportedSandbox[]>,
  node: string | undefined,
  boundNodeOf: (uid: string) => string | undefined,
): Omit<NodeAudit, 'verdicts'> {
  const orphans: ReportedSandbox[] = [];
  const suspicious: ReportedSandbox[] = [];
  for (const [uid, sandboxes] of byUid) {
    const boundTo = boundNodeOf(uid);
    if (boundTo === undefined) orphans.push(...sandboxes.filter((s) => s.state === 'Ready'));
    else if (boundTo !== node) suspicious.push(...sandboxes);
  }
  return { orphans, suspicious };
}

function sandboxesByPod(sandboxes: readonly ReportedSandbox[]): Map<string, ReportedSandbox[]> {
  const byUid = new Map<string, ReportedSandbox[]>();
  for (const s of sandboxes) {
    const list = byUid.get(s.podUID);
    if (list === undefined) byUid.set(s.podUID, [s]);
    else list.push(s);
  }
  return byUid;
}
