// How a mismatched pod is flagged: what to say (pure) and the recorder that
// writes Events (I/O). Event names are derived from the pod and what is said,
// so a second leader that says the same thing finds the first leader's Event
// (AlreadyExists) and carries on its series instead of starting a storm.
import { createHash } from 'node:crypto';
import { POD_CONDITION } from '../api/v1alpha1/group.ts';
import type { NodeAuditEntry, PodVerdictEntry } from '../api/v1alpha1/node-sandbox-report.ts';
import { KubeApiError } from '../kube/errors.ts';
import { microTime } from '../kube/micro-time.ts';
import { MERGE_PATCH, STRATEGIC_MERGE_PATCH, type KubeRest } from '../kube/rest.ts';
import { EventSeries, type PodEvent } from './event-series.ts';

export const MISMATCH_REASON = 'RuntimeHandlerMismatch';
export const RESOLVED_REASON = 'RuntimeHandlerMatched';

export interface PodNotice extends PodEvent {
  type: 'Warning' | 'Normal';
  namespace: string;
  podName: string;
}

function describeActual(p: PodVerdictEntry): string {
  const handler = p.actualHandler ?? 'unknown';
  return p.actualRuntimeType === undefined ? handler : `${handler} (${p.actualRuntimeType})`;
}

function mismatchMessage(p: PodVerdictEntry, sandbox: string): string {
  const expected = p.reason === 'RuntimeTypeMismatch'
    ? `runtime type ${p.expectedRuntimeType ?? 'unknown'} for handler ${p.expectedHandler ?? ''}`
    : `handler ${p.expectedHandler ?? 'unknown'}`;
  const runtimeClass = p.runtimeClassName === undefined ? 'no RuntimeClass' : `RuntimeClass ${p.runtimeClassName}`;
  return `${runtimeClass} expects ${expected}, but the pod runs with ${describeActual(p)}${sandbox} (${p.reason})`;
}

/**
 * What to tell about a pod now, given what its node's status said before:
 * a Warning while it is mismatched; one Normal event when a mismatch ends
 * with a match; nothing otherwise.
 */
export function noticeFor(now: PodVerdictEntry, before: PodVerdictEntry | undefined): PodNotice | undefined {
  const base = { podUid: now.uid, namespace: now.namespace, podName: now.name };
  const sandbox = now.sandboxId === undefined ? '' : ` in sandbox ${now.sandboxId.slice(0, 12)}`;
  if (now.verdict === 'Mismatched') return { ...base, type: 'Warning', reason: MISMATCH_REASON, message: mismatchMessage(now, sandbox) };
  if (now.verdict === 'Matched' && before?.verdict === 'Mismatched') {
    return { ...base, type: 'Normal', reason: RESOLVED_REASON, once: true, message: `now runs with the expected handler ${describeActual(now)}${sandbox}; it ran with ${describeActual(before)} before` };
  }
  return undefined;
}

/** One audit's verdicts for a node's pods, and what its previous pass said. */
export interface JudgedAudit {
  audit: { spec: { flagging?: { events?: boolean; podCondition?: boolean } } };
  entry: NodeAuditEntry;
  before: NodeAuditEntry | undefined;
}

const gravity = { Matched: 0, Unverified: 1, Mismatched: 2 } as const;

/** Per pod, the gravest verdict any of these audits gives it, with what that audit said before. */
export function gravestPerPod(judged: readonly JudgedAudit[]): Map<string, { now: PodVerdictEntry; before: PodVerdictEntry | undefined }> {
  const chosen = new Map<string, { now: PodVerdictEntry; before: PodVerdictEntry | undefined }>();
  for (const { entry, before } of judged) {
    const previous = new Map((before?.pods ?? []).map((p) => [p.uid, p]));
    for (const p of entry.pods) {
      const current = chosen.get(p.uid);
      if (current === undefined || gravity[p.verdict] > gravity[current.now.verdict]) chosen.set(p.uid, { now: p, before: previous.get(p.uid) });
    }
  }
  return chosen;
}

/** The pod condition an audit with `flagging.podCondition` keeps on a pod. */
export function podConditionFor(p: PodVerdictEntry): { status: 'True' | 'False' | 'Unknown'; reason: string; message: string } {
  const status = p.verdict === 'Matched' ? 'True' : p.verdict === 'Mismatched' ? 'False' : 'Unknown';
  const message = p.verdict === 'Matched' ? `runs with handler ${describeActual(p)}` : `expected handler ${p.expectedHandler ?? 'unknown'}, actual ${describeActual(p)}`;
  return { status, reason: p.reason, message };
}

// Derived from what is said, so every replica names the same event the same; within the 253 characters of a name.
export const eventName = (notice: PodNotice): string =>
  `${notice.podName.slice(0, 230)}.rca-${createHash('sha256').update(`${notice.podUid}\u0000${notice.reason}\u0000${notice.message}`).digest('hex').slice(0, 16)}`;

export type EventOutcome = 'created' | 'updated' | 'adopted' | 'skipped';

export class EventRecorder {
  private readonly rest: KubeRest;
  private readonly series: EventSeries;
  private readonly instance: string;

  constructor(rest: KubeRest, options: { instance: string; seriesIntervalMs?: number }) {
    this.rest = rest;
    this.instance = options.instance;
    this.series = new EventSeries(options.seriesIntervalMs === undefined ? {} : { seriesIntervalMs: options.seriesIntervalMs });
  }

  /** Records `notice` (or, with none, ends the pod's series). */
  async record(podUid: string, notice: PodNotice | undefined, now: number): Promise<EventOutcome> {
    this.series.closeOthers(podUid, notice);
    if (notice === undefined) return 'skipped';
    const decision = this.series.decide(notice, now);
    if (decision.action === 'skip') return 'skipped';
    const name = decision.action === 'create' ? eventName(notice) : decision.eventName;
    const path = `/api/v1/namespaces/${notice.namespace}/events`;
    if (decision.action === 'update') {
      await this.rest.request('PATCH', `${path}/${name}`, {
        what: `patch Event ${notice.namespace}/${name}`, contentType: MERGE_PATCH, body: { count: decision.count, lastTimestamp: new Date(now).toISOString() },
      });
      this.series.written(notice, name, now);
      return 'updated';
    }
    const outcome = await this.create(notice, name, now);
    this.series.written(notice, name, now);
    return outcome;
  }

  forgetPod(podUid: string): void {
    this.series.forgetPod(podUid);
  }

  private async create(notice: PodNotice, name: string, now: number): Promise<EventOutcome> {
    const timestamp = new Date(now).toISOString();
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: notice.namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: notice.namespace, name: notice.podName, uid: notice.podUid },
      type: notice.type,
      reason: notice.reason,
      message: notice.message,
      count: 1,
      firstTimestamp: timestamp,
      lastTimestamp: timestamp,
      eventTime: microTime(now),
      action: 'Audit',
      source: { component: 'runtimeclass-audit' },
      reportingComponent: 'rcaudit.dev/operator',
      reportingInstance: this.instance,
    };
    try {
      await this.rest.request('POST', `/api/v1/namespaces/${notice.namespace}/events`, { what: `create Event ${notice.namespace}/${name}`, body });
      return 'created';
    } catch (err) {
      // Another leader (or this one before a restart) already said it: carry its series on.
      if (err instanceof KubeApiError && err.reason === 'AlreadyExists') return 'adopted';
      throw err;
    }
  }
}

/** Sets the audit's condition on a pod (only with flagging.podCondition: it needs write access to pods/status). */
export async function writePodCondition(rest: KubeRest, pod: { namespace: string; name: string }, wanted: ReturnType<typeof podConditionFor>, now: number): Promise<void> {
  const condition = { type: POD_CONDITION, ...wanted, lastTransitionTime: new Date(now).toISOString() };
  await rest.request('PATCH', `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}/status`, {
    what: `patch Pod ${pod.namespace}/${pod.name} status`, contentType: STRATEGIC_MERGE_PATCH, body: { status: { conditions: [condition] } },
  });
}
