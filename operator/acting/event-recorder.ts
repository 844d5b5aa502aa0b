// How a mismatched pod is flagged: what to say (pure) and the recorder that
// writes Events (I/O). Event names are derived from the pod and what is said,
// so a second leader that says the same thing finds the first leader's Event
// (AlreadyExists) and carries on its series instead of starting a storm.
import { createHash } from 'node:crypto';
import { POD_CONDITION } from '../../api/v1alpha1/group.ts';
import type { NodeAuditEntry, PodVerdictEntry } from '../../api/v1alpha1/node-sandbox-report.ts';
import { KubeApiError } from '../../kube/errors.ts';
import { microTime } from '../../kube/micro-time.ts';
import { MERGE_PATCH, STRATEGIC_MERGE_PATCH, type KubeRequester } from '../../kube/rest.ts';
import { EventSeries, type PodEvent } from './event-series.ts';
import { heldMismatch, lastVerifiedOf, VERDICT_GRAVITY } from '../judging/report-status.ts';

export const MISMATCH_REASON = 'RuntimeHandlerMismatch';
export const RESOLVED_REASON = 'RuntimeHandlerMatched';

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

// Derived from what is said, so every replica names the same event the same; within the 253 characters of a name.
export const eventName = (notice: PodNotice): string =>
  `${notice.podName.slice(0, 230)}.rca-${createHash('sha256').update(`${notice.podUid}\u0000${notice.reason}\u0000${notice.message}`).digest('hex').slice(0, 16)}`;

export type EventOutcome = 'created' | 'updated' | 'adopted' | 'skipped';

/** Something said once about a pod or a node. A node's Events live in the namespace "default", as the kubelet's do. */
export interface ObjectNotice {
  kind: 'Pod' | 'Node';
  namespace: string;
  name: string;
  uid: string;
  type: 'Warning' | 'Normal';
  reason: string;
  message: string;
  /** The Event's action, e.g. Evict, Label. */
  action: string;
}

export class EventRecorder {
  private readonly rest: KubeRequester;
  private readonly series: EventSeries;
  private readonly instance: string;

  constructor(rest: KubeRequester, options: { instance: string; seriesIntervalMs?: number }) {
    this.rest = rest;
    this.instance = options.instance;
    this.series = new EventSeries(options.seriesIntervalMs === undefined ? {} : { seriesIntervalMs: options.seriesIntervalMs });
  }

  /**
   * Records `notice`. With none, ends the pod's series, but for `held`: the
   * Warning of a mismatched pod that is Unverified for now, kept open so
   * that it resumes (same Event, same count) if the mismatch is seen again.
   * `told`: whether the stored status shows that a previous pass said this
   * already (this process before a restart, or another leader), so its Event
   * exists; asked only when there is no series to go on.
   */
  async record(
    podUid: string,
    notice: PodNotice | undefined,
    now: number,
    options: { held?: PodNotice | undefined; told?: () => boolean } = {},
  ): Promise<EventOutcome> {
    this.series.closeOthers(podUid, notice ?? options.held);
    if (notice === undefined) return 'skipped';
    const decision = this.series.decide(notice, now);
    if (decision.action === 'skip') return 'skipped';
    if (decision.action === 'create' && options.told?.() === true) {
      // No write and no read: after a failover or an upgrade, thousands of
      // findings would otherwise each cost a refused create and a read. The
      // series goes on from now; its count is read when it is next due. (Had
      // the earlier writer failed to create it, it is created then.)
      this.series.written(notice, eventName(notice), { count: undefined, at: now });
      return 'adopted';
    }
    if (decision.action === 'update' && (await this.goOn(notice, decision, now))) return 'updated';
    return this.createOrAdopt(notice, now);
  }

  forgetPod(podUid: string): void {
    this.series.forgetPod(podUid);
  }

  /** Writes the series' next count; false when its Event is gone, and then the series is forgotten, to be said anew. */
  private async goOn(notice: PodNotice, series: { eventName: string; count: number | undefined }, now: number): Promise<boolean> {
    const count = series.count ?? (await this.nextCount(notice, series.eventName));
    if (count !== undefined && (await this.update(notice, series.eventName, count, now))) return true;
    // The Event expired (the API server's --event-ttl is shorter than the series interval).
    this.series.forgetPod(notice.podUid);
    return false;
  }

  private async createOrAdopt(notice: PodNotice, now: number): Promise<EventOutcome> {
    const name = eventName(notice);
    if (await this.create(notice, name, now)) {
      this.series.written(notice, name, { count: 1, at: now });
      return 'created';
    }
    // Already written by another leader, or by this one before a restart:
    // carry its series on from what it says, so its count goes on and its
    // next write waits out the interval from its last one.
    const stored = await this.rest.request<{ count?: number; lastTimestamp?: string }>('GET', `/api/v1/namespaces/${notice.namespace}/events/${name}`, {
      what: `get Event ${notice.namespace}/${name}`,
    });
    const at = Date.parse(stored.lastTimestamp ?? '');
    this.series.written(notice, name, { count: stored.count ?? 1, at: Number.isNaN(at) ? now : at });
    return 'adopted';
  }

  /** The count after the stored Event's; undefined when it is gone. */
  private async nextCount(notice: PodNotice, name: string): Promise<number | undefined> {
    try {
      const stored = await this.rest.request<{ count?: number }>('GET', `/api/v1/namespaces/${notice.namespace}/events/${name}`, {
        what: `get Event ${notice.namespace}/${name}`,
      });
      return (stored.count ?? 1) + 1;
    } catch (err) {
      if (err instanceof KubeApiError && err.reason === 'NotFound') return undefined;
      throw err;
    }
  }

  /** Writes the series' next count; false when the Event is gone. */
  private async update(notice: PodNotice, name: string, count: number, now: number): Promise<boolean> {
    try {
      await this.rest.request('PATCH', `/api/v1/namespaces/${notice.namespace}/events/${name}`, {
        what: `patch Event ${notice.namespace}/${name}`,
        contentType: MERGE_PATCH,
        body: { count, lastTimestamp: new Date(now).toISOString() },
      });
    } catch (err) {
      if (err instanceof KubeApiError && err.reason === 'NotFound') return false;
      throw err;
    }
    this.series.written(notice, name, { count, at: now });
    return true;
  }

  /**
   * Says something once about a pod or a node (a remediation, done or only
   * planned): an Event named from what it says, so that saying it again, on
   * this replica or another, finds it. False when it was said before.
   */
  async announce(notice: ObjectNotice, now: number): Promise<boolean> {
    const involved = {
      apiVersion: 'v1',
      kind: notice.kind,
      name: notice.name,
      uid: notice.uid,
      ...(notice.kind === 'Pod' ? { namespace: notice.namespace } : {}),
    };
    const digest = createHash('sha256').update(`${notice.uid}\u0000${notice.reason}\u0000${notice.message}`).digest('hex').slice(0, 16);
    return this.create({ ...notice, action: notice.action }, `${notice.name.slice(0, 230)}.rca-${digest}`, now, involved);
  }

  /** Creates the Event; false when it already exists. */
  private async create(
    notice: Pick<PodNotice, 'namespace' | 'type' | 'reason' | 'message'> & { podName?: string; podUid?: string; action?: string },
    name: string,
    now: number,
    involved: object = { apiVersion: 'v1', kind: 'Pod', namespace: notice.namespace, name: notice.podName, uid: notice.podUid },
  ): Promise<boolean> {
    const timestamp = new Date(now).toISOString();
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: notice.namespace },
      involvedObject: involved,
      type: notice.type,
      reason: notice.reason,
      message: notice.message,
      count: 1,
      firstTimestamp: timestamp,
      lastTimestamp: timestamp,
      eventTime: microTime(now),
      action: notice.action ?? 'Audit',
      source: { component: 'runtimeclass-audit' },
      reportingComponent: 'rcaudit.dev/operator',
      reportingInstance: this.instance,
    };
    try {
      await this.rest.request('POST', `/api/v1/namespaces/${notice.namespace}/events`, { what: `create Event ${notice.namespace}/${name}`, body });
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.reason === 'AlreadyExists') return false;
      throw err;
    }
  }
}

/** Sets the audit's condition on a pod (only with flagging.podCondition: it needs write access to pods/status). */
export async function writePodCondition(
  rest: KubeRequester,
  pod: { namespace: string; name: string },
  wanted: ReturnType<typeof podConditionFor>,
  now: number,
): Promise<void> {
  const condition = { type: POD_CONDITION, ...wanted, lastTransitionTime: new Date(now).toISOString() };
  await rest.request('PATCH', `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}/status`, {
    what: `patch Pod ${pod.namespace}/${pod.name} status`,
    contentType: STRATEGIC_MERGE_PATCH,
    body: { status: { conditions: [condition] } },
  });
}
