// Our own status writes, until the watch brings them back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PendingWrites } from '../../../../operator/cache/pending-writes.ts';

test('a write is pending until its echo arrives; another value is not its echo', () => {
  const pending = new PendingWrites<{ n: number }>(60_000);
  pending.wrote('a', { n: 1 }, 0);
  assert.deepEqual(pending.get('a', 10), { n: 1 });
  assert.equal(pending.arrived('a', { n: 2 }), false, "someone else's edit");
  assert.deepEqual(pending.get('a', 10), { n: 1 });
  assert.equal(pending.arrived('a', { n: 1 }), true);
  assert.equal(pending.get('a', 10), undefined);
  assert.equal(pending.arrived('a', { n: 1 }), false, 'an echo counts once');
});

test('a write whose echo never comes is dropped after the TTL; forget drops it at once', () => {
  const pending = new PendingWrites<string>(1000);
  pending.wrote('a', 'x', 0);
  assert.equal(pending.get('a', 1001), undefined);
  pending.wrote('b', 'y', 0);
  pending.forget('b');
  assert.equal(pending.get('b', 1), undefined);
});

test('awaiting counts the writes whose echo has not come, and not the expired', () => {
  const pending = new PendingWrites<string>(1000);
  pending.wrote('a', 'x', 0);
  pending.wrote('b', 'y', 500);
  assert.equal(pending.awaiting(600), 2);
  pending.arrived('a', 'x');
  assert.equal(pending.awaiting(600), 1);
  assert.equal(pending.awaiting(1600), 0, "b's echo is given up on");
});
