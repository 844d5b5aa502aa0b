// The Event recorder: writes what judging/notices.ts says as Events, one
// series per lasting finding (event-series.ts), and the one-off Events of
// remediation. Event names are derived from the object and what is said, so
// a second leader that says the same thing finds the first leader's Event
// (AlreadyExists) and carries on its series instead of starting a storm.
import { createHash } from 'node:crypto';
import { API_VERSION } from '../../api/v1alpha1/group.ts';
import { KubeApiError } from '../../kube/errors.ts';
import { microTime } from '../../kube/micro-time.ts';
import { MERGE_PATCH, type KubeRequester } from '../../kube/rest.ts';
import type { PodNotice } from '../judging/notices.ts';
import { EventSeries } from './event-series.ts';

/**
 * The Event's name: the object's name and a digest of its uid and what is
 * said, so every replica names the same Event the same; within the 253
 * characters of a name.
 */
export function eventNameFor(object: { name: string; uid: string }, said: { reason: string; message: string }): string {
  const digest = createHash('sha256').update(`${object.uid}\u0000${said.reason}\u0000${said.message}`).digest('hex').slice(0, 16);
  return `${object.name.slice(0, 230)}.rca-${digest}`;
}

export const eventName = (notice: PodNotice): string => eventNameFor({ name: notice.podName, uid: notice.podUid }, notice);

export type EventOutcome = 'created' | 'updated' | 'adopted' | 'skipped';

/** Something said once about a pod, a node or an audit. The Events of cluster-scoped objects live in the namespace "default", as the kubelet's do. */
export interface ObjectNotice {
  kind: 'Pod' | 'Node' | 'RuntimeClassAudit';
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
      apiVersion: notice.kind === 'RuntimeClassAudit' ? API_VERSION : 'v1',
      kind: notice.kind,
      name: notice.name,
      uid: notice.uid,
      ...(notice.kind === 'Pod' ? { namespace: notice.namespace } : {}),
    };
    return this.create({ ...notice, action: notice.action }, eventNameFor(notice, notice), now, involved);
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
