import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventSeries } from '../../../../operator/acting/event-series.ts';
import type { PodEvent } from '../../../../operator/judging/notices.ts';

const MIN = 60_000;
const mismatch: PodEvent = { podUid: 'u1', reason: 'RuntimeHandlerMismatch', message: 'expected handler kata, sandbox got "" (the default, runc)' };
const matched: PodEvent = { podUid: 'u1', reason: 'RuntimeHandlerMatched', message: 'sandbox runs with handler kata', once: true };

/** Plays sightings at the given minutes, writing what the series says to write. */
function play(series: EventSeries, event: PodEvent, minutes: number[]): string[] {
  return minutes.map((m) => {
    const decision = series.decide(event, m * MIN);
    if (decision.action === 'create') series.written(event, `${event.podUid}.${event.reason}`, { count: 1, at: m * MIN });
    if (decision.action === 'update') series.written(event, decision.eventName, { count: decision.count, at: m * MIN });
    return decision.action === 'update' ? `update:${String(decision.count)}` : decision.action;
  });
}

test('a lasting mismatch is one event series: created once, written again at most every interval (5 minutes here), its count one per write', () => {
  const series = new EventSeries({ seriesIntervalMs: 5 * MIN });
  assert.deepEqual(play(series, mismatch, [0, 0.1, 1, 4.9, 5, 6, 10.5]), ['create', 'skip', 'skip', 'skip', 'update:2', 'skip', 'update:3']);
});

test('however often reconcile looks, a steady mismatch costs one write per interval', () => {
  const series = new EventSeries({ seriesIntervalMs: 30 * MIN });
  // A pass every 6 seconds for an hour: churn elsewhere on the node.
  const sightings = Array.from({ length: 600 }, (_, i) => i / 10);
  const writes = play(series, mismatch, sightings).filter((a) => a !== 'skip');
  assert.deepEqual(writes, ['create', 'update:2']);
});

test('an adopted series (written by an earlier leader) goes on from its stored count and time', () => {
  const series = new EventSeries({ seriesIntervalMs: 5 * MIN });
  series.written(mismatch, 'vault.rca-1', { count: 7, at: 0 });
  assert.deepEqual(play(series, mismatch, [1, 5]), ['skip', 'update:8']);
});

test('a resolved mismatch is announced once, and a later mismatch starts a new series', () => {
  const series = new EventSeries();
  play(series, mismatch, [0, 1]);
  series.closeOthers('u1', matched);
  assert.deepEqual(play(series, matched, [2, 3, 30]), ['create', 'skip', 'skip']);
  series.closeOthers('u1', mismatch);
  assert.deepEqual(play(series, mismatch, [31]), ['create']);
});

test('another actual handler is another message, so another series', () => {
  const series = new EventSeries();
  play(series, mismatch, [0]);
  assert.deepEqual(play(series, { ...mismatch, message: 'expected handler kata, sandbox got runc-alt' }, [1]), ['create']);
});

test('a sighting not yet written is never updated, and memory stays bounded', () => {
  const series = new EventSeries({ maxSeries: 2 });
  assert.deepEqual(series.decide(mismatch, 0), { action: 'create' });
  assert.deepEqual(series.decide(mismatch, 10 * MIN), { action: 'create' }, 'the create was never written: create again');
  for (const uid of ['a', 'b', 'c']) play(series, { ...mismatch, podUid: uid }, [uid.charCodeAt(0)]);
  assert.equal(series.size, 2);
  assert.deepEqual(play(series, { ...mismatch, podUid: 'a' }, [200]), ['create'], 'the oldest series was dropped');
  series.forgetPod('c');
  assert.equal(series.size, 1);
});
