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
}

export interface NodeLabelPolicy {
  mode: RemediationMode;
  minPods: number;
}

type Remediation = NonNullable<RuntimeClassAuditSpec['remediation']>;

function evictionPolicyOf(evict: Remediation['evict']): EvictionPolicy {
  return {
    mode: evict?.mode ?? 'Disabled',
    afterMs: (evict?.afterSeconds ?? 300) * 1000,
    maxPerMinute: evict?.maxPerMinute ?? 1,
    spareDefaultHandlerPods: evict?.defaultHandlerPods !== 'EvictedTooIUnderstandThisCanEvictAnyPod',
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
