// What the operator says about a pod: the Warning while it is mismatched,
// the one Normal event when a mismatch ends with a match, the pod condition
// an audit may ask for, and which audit's verdict speaks for a pod that
// several judge. Pure: the text is the finding's, never the sandbox's, so a
// re-created sandbox or a new leader says the same thing (acting/
// event-recorder.ts names the Event after it).
import type { NodeAuditEntry, PodVerdictEntry } from '../../api/v1alpha1/node-sandbox-report.ts';
import { heldMismatch, lastVerifiedOf } from './finding.ts';
import { VERDICT_GRAVITY } from './report-status.ts';

export const MISMATCH_REASON = 'RuntimeHandlerMismatch';
export const RESOLVED_REASON = 'RuntimeHandlerMatched';

export interface PodEvent {
  podUid: string;
  /** e.g. RuntimeHandlerMismatch, RuntimeHandlerMatched. */
  reason: string;
  /** What the event says; a changed message (another actual handler) is another series. */
  message: string;
  /** Said once and never repeated (a resolution), rather than a series (a lasting problem). */
  once?: boolean;
}

export interface PodNotice extends PodEvent {
  type: 'Warning' | 'Normal';
  namespace: string;
  podName: string;
}

type Said = Pick<
  PodVerdictEntry,
  'reason' | 'expectedHandler' | 'expectedRuntimeType' | 'expectedIsolation' | 'actualHandler' | 'actualRuntimeType' | 'actualIsolation'
>;

function describeActual(p: Said): string {
  const handler = p.actualHandler ?? 'unknown';
  return p.actualRuntimeType === undefined ? handler : `${handler} (${p.actualRuntimeType})`;
}

/** The allowed names are in the audit's spec: a message that listed them would start a new series whenever the list grew. */
function notAllowedMessage(runtimeClassName: string | undefined, audit: string): string {
  const names = runtimeClassName === undefined ? 'names no RuntimeClass' : `names RuntimeClass ${runtimeClassName}`;
  return `audit ${audit} requires a RuntimeClass from its requiredRuntimeClasses in this namespace, but the pod ${names} (RuntimeClassNotAllowed)`;
}

/**
 * Says whose expectation was missed: the handler comes from the pod's
 * RuntimeClass (or the runtime's default, for a pod without one); a runtime
 * type comes from the audit's policy. No sandbox id: a re-created sandbox
 * with the same handler is the same finding, so the same Event.
 */
function mismatchMessage(runtimeClassName: string | undefined, p: Said, audit: string): string {
  if (p.reason === 'RuntimeClassNotAllowed') return notAllowedMessage(runtimeClassName, audit);
  if (p.reason === 'IsolationMismatch') {
    return `audit ${audit} expects isolation ${p.expectedIsolation ?? 'unknown'} for handler ${p.expectedHandler ?? ''}, but the host shows the pod's sandbox is ${p.actualIsolation ?? 'unknown'} (handler ${describeActual(p)}) (${p.reason})`;
  }
  if (p.reason === 'RuntimeTypeMismatch') {
    return `audit ${audit} expects runtime type ${p.expectedRuntimeType ?? 'unknown'} for handler ${p.expectedHandler ?? ''}, but the pod runs with ${describeActual(p)} (${p.reason})`;
  }
  return handlerMessage(runtimeClassName, p);
}

function handlerMessage(runtimeClassName: string | undefined, p: Said): string {
  const whose =
    runtimeClassName === undefined
      ? "the node runtime's default (the pod names no RuntimeClass) is handler"
      : `RuntimeClass ${runtimeClassName} expects handler`;
  return `${whose} ${p.expectedHandler ?? 'unknown'}, but the pod runs with ${describeActual(p)} (${p.reason})`;
}

function describeExpected(p: Said): string {
  const handler = `handler ${p.expectedHandler ?? 'unknown'}`;
  return p.expectedRuntimeType === undefined ? handler : `${handler} with runtime type ${p.expectedRuntimeType}`;
}

/** Why a mismatch ended: the pod's sandbox changed, or only what was expected of it (the audit's policy, say). */
function resolutionMessage(now: Said, was: Said): string {
  const sameSandbox = now.actualHandler === was.actualHandler && now.actualRuntimeType === was.actualRuntimeType;
  if (sameSandbox && now.actualIsolation !== was.actualIsolation) {
    return `the host now shows the isolation expected of handler ${now.expectedHandler ?? 'unknown'}, ${now.actualIsolation ?? 'unknown'}; it showed ${was.actualIsolation ?? 'unknown'} before`;
  }
  if (sameSandbox)
    return `no longer mismatched because the expectation changed: it is now ${describeExpected(now)}, and the pod runs with ${describeActual(now)}, as before`;
  return `now runs with the expected handler ${describeActual(now)}; it ran with ${describeActual(was)} before`;
}

/**
 * What to tell about a pod now, given what its node's status said before
 * (in `audit`): a Warning while it is mismatched; one Normal event when a
 * mismatch ends with a match, even across an Unverified spell; nothing
 * otherwise.
 */
export function noticeFor(now: PodVerdictEntry, before: PodVerdictEntry | undefined, audit: string): PodNotice | undefined {
  const base = { podUid: now.uid, namespace: now.namespace, podName: now.name };
  if (now.verdict === 'Mismatched') return { ...base, type: 'Warning', reason: MISMATCH_REASON, message: mismatchMessage(now.runtimeClassName, now, audit) };
  const was = lastVerifiedOf(before);
  if (now.verdict === 'Matched' && was?.verdict === 'Mismatched') {
    return { ...base, type: 'Normal', reason: RESOLVED_REASON, once: true, message: resolutionMessage(now, was) };
  }
  return undefined;
}

/** Whether the previous pass (as its stored status shows) said `notice` already, so that its Event exists. */
export function toldBefore(notice: PodNotice | undefined, before: PodVerdictEntry | undefined, audit: string): boolean {
  if (notice === undefined || before?.verdict !== 'Mismatched') return false;
  const said = noticeFor(before, undefined, audit);
  return said?.reason === notice.reason && said.message === notice.message;
}

/** While a mismatched pod is Unverified: the Warning it had, so its series is held open (not written) and resumes if it is seen again. */
export function heldNotice(now: PodVerdictEntry, audit: string): PodNotice | undefined {
  const held = heldMismatch(now);
  if (held === undefined) return undefined;
  return {
    podUid: now.uid,
    namespace: now.namespace,
    podName: now.name,
    type: 'Warning',
    reason: MISMATCH_REASON,
    message: mismatchMessage(now.runtimeClassName, held, audit),
  };
}

/** One audit's verdicts for a node's pods, and what its previous pass said. */
export interface JudgedAudit {
  audit: { name: string; spec: { flagging?: { events?: boolean; podCondition?: boolean } } };
  entry: NodeAuditEntry;
  before: NodeAuditEntry | undefined;
}

export interface GravestVerdict {
  now: PodVerdictEntry;
  before: PodVerdictEntry | undefined;
  /** The audit that gave it. */
  audit: string;
}

/** Per pod, the gravest verdict any of these audits gives it, with what that audit said before. */
export function gravestPerPod(judged: readonly JudgedAudit[]): Map<string, GravestVerdict> {
  const chosen = new Map<string, GravestVerdict>();
  for (const { audit, entry, before } of judged) {
    const previous = new Map((before?.pods ?? []).map((p) => [p.uid, p]));
    for (const p of entry.pods) {
      const current = chosen.get(p.uid);
      if (current === undefined || VERDICT_GRAVITY[p.verdict] > VERDICT_GRAVITY[current.now.verdict])
        chosen.set(p.uid, { now: p, before: previous.get(p.uid), audit: audit.name });
    }
  }
  return chosen;
}

/** The pod condition an audit with `flagging.podCondition` keeps on a pod. */
export function podConditionFor(p: PodVerdictEntry): { status: 'True' | 'False' | 'Unknown'; reason: string; message: string } {
  const status = p.verdict === 'Matched' ? 'True' : p.verdict === 'Mismatched' ? 'False' : 'Unknown';
  const message =
    p.verdict === 'Matched'
      ? `runs with handler ${describeActual(p)}`
      : p.reason === 'RuntimeClassNotAllowed'
        ? `RuntimeClass ${p.runtimeClassName ?? '(none)'} is not among those its namespace requires`
        : `expected handler ${p.expectedHandler ?? 'unknown'}, actual ${describeActual(p)}`;
  return { status, reason: p.reason, message };
}
