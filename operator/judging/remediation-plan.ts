// Remediation, opt-in per audit (spec.remediation): which mismatched pods to
// evict, and whether a node's kubelet is seen dropping handlers. Pure
// decisions; operator/acting/remediator.ts acts on them, at the rates
// kube/rate-window.ts keeps.
import type { PodVerdictEntry, ReportedSandbox } from '../../api/v1alpha1/node-sandbox-report.ts';
import type { RuntimeClassAuditSpec } from '../../api/v1alpha1/runtime-class-audit.ts';

export type RemediationMode = 'Disabled' | 'DryRun' | 'Enabled';

export interface EvictionPolicy {
  mode: RemediationMode;
  afterMs: number;
  maxPerMinute: number;
  /** Only pods that asked for a non-default handler are evicted (spec: defaultHandlerPods Spared, the default). */
  spareDefaultHandlerPods: boolean;
  breaker: CircuitBreaker;
}

/** spec.remediation.evict.circuitBreaker: how much eviction within a window looks like a policy error. */
export interface CircuitBreaker {
  percentOfAuditedPods: number;
  nodes: number;
  windowMs: number;
}

export interface NodeLabelPolicy {
  mode: RemediationMode;
  minPods: number;
}

type Remediation = NonNullable<RuntimeClassAuditSpec['remediation']>;

/** The schema's defaults, for an audit stored before they were (or written where defaults are not filled in). */
const BREAKER_DEFAULTS = { percentOfAuditedPods: 10, nodes: 3, windowSeconds: 3600 };

function breakerOf(asked: NonNullable<Remediation['evict']>['circuitBreaker']): CircuitBreaker {
  const { percentOfAuditedPods, nodes, windowSeconds } = { ...BREAKER_DEFAULTS, ...asked };
  return { percentOfAuditedPods, nodes, windowMs: windowSeconds * 1000 };
}

function evictionPolicyOf(evict: Remediation['evict']): EvictionPolicy {
  return {
    mode: evict?.mode ?? 'Disabled',
    afterMs: (evict?.afterSeconds ?? 300) * 1000,
    maxPerMinute: evict?.maxPerMinute ?? 1,
    spareDefaultHandlerPods: evict?.defaultHandlerPods !== 'EvictedTooIUnderstandThisCanEvictAnyPod',
    breaker: breakerOf(evict?.circuitBreaker),
  };
}

function labelPolicyOf(label: Remediation['labelNodes']): NodeLabelPolicy {
  return { mode: label?.mode ?? 'Disabled', minPods: label?.minPods ?? 3 };
}

/** The audit's remediation with the schema's defaults; Disabled where it asks for none. */
export function remediationOf(spec: RuntimeClassAuditSpec): { evict: EvictionPolicy; labelNodes: NodeLabelPolicy } {
  return { evict: evictionPolicyOf(spec.remediation?.evict), labelNodes: labelPolicyOf(spec.remediation?.labelNodes) };
}

/**
 * The mismatches an eviction can cure: the sandbox is wrong, and a new one
 * (on this node once it is mended, or on another) may be right. Not a pod
 * whose RuntimeClass the audit does not allow: its replacement would ask for
 * the same, and be evicted in turn.
 */
const CURABLE = new Set<PodVerdictEntry['reason']>(['HandlerMismatch', 'RuntimeTypeMismatch', 'IsolationMismatch']);

/** How long a pod has been Mismatched (ms), or undefined when it is not, or not curably. */
export function mismatchedFor(p: PodVerdictEntry, now: number): number | undefined {
  if (p.verdict !== 'Mismatched' || !CURABLE.has(p.reason)) return undefined;
  const since = Date.parse(p.since);
  return Number.isNaN(since) ? undefined : now - since;
}

export type EvictionDecision = { kind: 'evict' } | { kind: 'wait'; untilMs: number } | { kind: 'none' };

/**
 * Whether the pod asked for a handler that is known not to be the node
 * runtime's default: a RuntimeClass's, other than the default the report
 * names. Only such a pod was promised an isolation the default may lack;
 * evicting any other is what an audit aimed at the default handler (by a
 * typo, or by someone who may write audits) would turn into evicting every
 * pod. A default the report cannot name proves nothing: spared.
 */
export function askedForNonDefault(p: PodVerdictEntry, defaultHandler: string | undefined): boolean {
  return p.runtimeClassName !== undefined && p.expectedHandler !== undefined && defaultHandler !== undefined && p.expectedHandler !== defaultHandler;
}

/** Whether a pod is due for eviction under `policy` now (its node's runtime names `defaultHandler`); when it will be, if it is not yet. */
export function evictionDue(p: PodVerdictEntry, policy: EvictionPolicy, now: number, defaultHandler: string | undefined): EvictionDecision {
  if (policy.mode === 'Disabled') return { kind: 'none' };
  if (policy.spareDefaultHandlerPods && !askedForNonDefault(p, defaultHandler)) return { kind: 'none' };
  const lasted = mismatchedFor(p, now);
  if (lasted === undefined) return { kind: 'none' };
  return lasted >= policy.afterMs ? { kind: 'evict' } : { kind: 'wait', untilMs: now + policy.afterMs - lasted };
}

/** A real eviction an audit made: when, and on which node. */
export interface PastEviction {
  at: number;
  node: string;
}

/** Why an audit's evictions stopped; kept in its Remediating condition until its spec changes. */
export interface Halt {
  message: string;
}

/** The reason of the Remediating condition of an audit whose evictions are halted. */
export const HALTED_REASON = 'Halted';

const showWindow = (ms: number): string => (ms % 3_600_000 === 0 ? `${String(ms / 3_600_000)} h` : `${String(Math.round(ms / 60_000))} min`);

/** One more eviction, on `node`, at `now`: what the circuit breaker weighs it against. */
export interface EvictionAsked {
  /** The audit's real evictions, of any age. */
  past: readonly PastEviction[];
  node: string;
  /** The pods the audit audits (its status's count; 0 before the first). */
  audited: number;
  now: number;
}

/**
 * The circuit breaker: whether one more eviction would take the audit past
 * its breaker within the window. The share counts against the pods the
 * audit audits, and one eviction is always allowed (an audit of three pods
 * may evict one). A Halt says why, in words for the audit's condition;
 * undefined lets it be.
 */
export function breakerTrips(breaker: CircuitBreaker, { past, node, audited, now }: EvictionAsked): Halt | undefined {
  const recent = past.filter((e) => e.at > now - breaker.windowMs);
  const window = showWindow(breaker.windowMs);
  const allowed = Math.max(1, Math.floor((breaker.percentOfAuditedPods * audited) / 100));
  const why =
    recent.length + 1 > allowed
      ? `one more eviction would make ${String(recent.length + 1)} in ${window}, more than ${String(breaker.percentOfAuditedPods)}% of the ${String(audited)} pods this audit audits (${String(allowed)})`
      : new Set([...recent.map((e) => e.node), node]).size > breaker.nodes
        ? `one more eviction, on node ${node}, would make evictions on ${String(breaker.nodes + 1)} nodes in ${window}, more than ${String(breaker.nodes)}`
        : undefined;
  if (why === undefined) return undefined;
  return {
    message:
      `evictions halted by the circuit breaker (spec.remediation.evict.circuitBreaker): ${why}. ` +
      'So many at once looks more like a policy error (an expectedIsolation or a selector that takes in pods it should not) than a cure. ' +
      'Nothing more is evicted for this audit until its spec changes: fix it, or if the evictions are right, set evict.mode to Disabled and back to Enabled. Node labels go on.',
  };
}

/**
 * The halt the audit's stored status holds, if it still holds: written at
 * this generation of the spec. Any change to the spec (a person looked)
 * lifts it. Kept in the status, not in memory, so a new leader keeps it.
 */
export function storedHalt(audit: {
  generation: number;
  status?: { conditions?: readonly { type: string; reason: string; message: string; observedGeneration?: number }[] };
}): Halt | undefined {
  const c = audit.status?.conditions?.find((c) => c.type === 'Remediating');
  return c?.reason === HALTED_REASON && c.observedGeneration === audit.generation ? { message: c.message } : undefined;
}

export interface HandlerPath {
  /** Current sandboxes that should have had a non-default handler and were asked for "". */
  dropped: number;
  /** Current sandboxes that should have had a non-default handler and were asked for it. */
  honored: number;
}

/**
 * What the node's kubelet asked for, for the pods that name a non-default
 * handler: the handler, or "" (dropped). Only current sandboxes count (the
 * newest of each pod, as the verdict takes it), and only where the report
 * can say which handler is the default.
 */
export function handlerPath(pods: readonly PodVerdictEntry[], sandboxes: readonly ReportedSandbox[], defaultHandler: string | undefined): HandlerPath {
  const path: HandlerPath = { dropped: 0, honored: 0 };
  if (defaultHandler === undefined) return path;
  const byId = new Map(sandboxes.map((s) => [s.id, s]));
  for (const p of pods) {
    const sandbox = p.sandboxId === undefined ? undefined : byId.get(p.sandboxId);
    if (sandbox === undefined || p.expectedHandler === undefined || p.expectedHandler === defaultHandler) continue;
    if (sandbox.requestedHandler === '') path.dropped++;
    else if (sandbox.requestedHandler === p.expectedHandler) path.honored++;
  }
  return path;
}

export type LabelAction = 'add' | 'remove' | undefined;

/**
 * The node label rule. Added when every current sandbox that should have
 * had a non-default handler got "" instead, over at least `minPods` pods.
 * Removed only on evidence the kubelet passes handlers again: a sandbox
 * that asked for its non-default handler. A node with no such pods left (its
 * bad pods evicted, or kept off by the label) keeps the label: nothing says
 * it healed. Removing it by hand is the other way; it comes back only if the
 * node drops handlers again.
 */
export function labelAction(path: HandlerPath, minPods: number, labelled: boolean): LabelAction {
  if (!labelled && path.honored === 0 && path.dropped >= minPods) return 'add';
  if (labelled && path.honored > 0) return 'remove';
  return undefined;
}
