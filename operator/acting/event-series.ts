// De-duplication of the operator's pod events. Reconcile runs again and
// again for a pod that stays mismatched; the pod must get one event series
// for it, not a storm: the first sighting creates the Event, and while it
// lasts the Event is written again (its count bumped, its lastTimestamp
// moved) at most once per `seriesIntervalMs`, however often reconcile looks.
// So `count` is the number of writes, one per interval the mismatch lasted,
// and a steady mismatch costs one write per interval whatever else happens
// on its node. When the mismatch resolves, that is announced once, and the
// series is closed. Pure bookkeeping: the caller writes.
import type { PodEvent } from '../judging/notices.ts';

/** An update's `count` is undefined when the stored Event's count is not known here (a series adopted unread): read it first. */
export type EventAction = { action: 'create' } | { action: 'update'; eventName: string; count: number | undefined } | { action: 'skip' };

interface Series {
  eventName: string;
  count: number | undefined;
  lastWritten: number;
}

// Within a pod, a series is what is said: its reason and message.
const keyOf = (e: PodEvent): string => `${e.reason}\u0000${e.message}`;

export class EventSeries {
  // By pod first: reconcile asks about every pod on every pass, so finding a
  // pod's series must not mean scanning everyone's.
  private readonly byPod = new Map<string, Map<string, Series>>();
  private count = 0;
  private readonly seriesIntervalMs: number;
  private readonly maxSeries: number;

  constructor(options: { seriesIntervalMs?: number; maxSeries?: number } = {}) {
    this.seriesIntervalMs = options.seriesIntervalMs ?? 30 * 60_000;
    this.maxSeries = options.maxSeries ?? 50_000;
  }

  get size(): number {
    return this.count;
  }

  /** What to write for this sighting of `event` at `now`. */
  decide(event: PodEvent, now: number): EventAction {
    const existing = this.byPod.get(event.podUid)?.get(keyOf(event));
    if (existing === undefined) return { action: 'create' };
    // A series exists only once its first event was written (see written()).
    if (event.once === true || now - existing.lastWritten < this.seriesIntervalMs) return { action: 'skip' };
    return { action: 'update', eventName: existing.eventName, count: existing.count === undefined ? undefined : existing.count + 1 };
  }

  /**
   * The Event `eventName` now says `count` as of `at`: the caller created
   * it (count 1), updated it, or found it already written (by an earlier
   * leader, or this process before a restart) and adopts its series. An
   * undefined count: adopted without reading it.
   */
  written(event: PodEvent, eventName: string, state: { count: number | undefined; at: number }): void {
    const existing = this.byPod.get(event.podUid)?.get(keyOf(event));
    if (existing !== undefined) {
      Object.assign(existing, { eventName, count: state.count, lastWritten: state.at });
      return;
    }
    this.evictIfFull();
    const series = this.byPod.get(event.podUid) ?? new Map<string, Series>();
    series.set(keyOf(event), { eventName, count: state.count, lastWritten: state.at });
    this.byPod.set(event.podUid, series);
    this.count++;
  }

  /** Ends every series of the pod but `keep` (its current state). */
  closeOthers(podUid: string, keep?: PodEvent): void {
    const series = this.byPod.get(podUid);
    if (series === undefined) return;
    const kept = keep === undefined ? undefined : keyOf(keep);
    for (const key of series.keys()) {
      if (key !== kept) {
        series.delete(key);
        this.count--;
      }
    }
    if (series.size === 0) this.byPod.delete(podUid);
  }

  /** The pod is gone: forget all its series. */
  forgetPod(podUid: string): void {
    this.closeOthers(podUid);
  }

  // Bounded memory: drop the series written longest ago (a re-sighting then
  // creates a new Event, which is the lesser evil than unbounded growth).
  private evictIfFull(): void {
    if (this.count < this.maxSeries) return;
    let oldest: { podUid: string; key: string; at: number } | undefined;
    for (const [podUid, series] of this.byPod) {
      for (const [key, s] of series) if (oldest === undefined || s.lastWritten < oldest.at) oldest = { podUid, key, at: s.lastWritten };
    }
    if (oldest === undefined) return;
    const series = this.byPod.get(oldest.podUid);
    series?.delete(oldest.key);
    this.count--;
    if (series?.size === 0) this.byPod.delete(oldest.podUid);
  }
}
