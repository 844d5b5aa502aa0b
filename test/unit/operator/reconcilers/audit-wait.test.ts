// An audit is summed after the nodes it sums are judged, within a bound.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auditWait } from '../../../../operator/reconcilers/manager.ts';

test('an audit waits while nodes are queued, for 10 s at most, and is summed at once when none are', () => {
  const waiting = new Map<string, number>();
  assert.equal(auditWait(0, waiting, 'a', 0), undefined, 'no node queued: sum now');
  assert.deepEqual(auditWait(5000, waiting, 'a', 1000), { kind: 'requeueAfter', ms: 500 });
  assert.deepEqual(auditWait(4000, waiting, 'a', 10_999), { kind: 'requeueAfter', ms: 500 }, 'still within 10 s of the first wait');
  assert.equal(auditWait(3000, waiting, 'a', 11_000), undefined, 'waited 10 s: summed however busy the nodes are');
  assert.equal(waiting.size, 0, 'and its wait starts over');
  assert.deepEqual(auditWait(1, waiting, 'a', 11_500), { kind: 'requeueAfter', ms: 500 });
  assert.equal(auditWait(0, waiting, 'a', 12_000), undefined, 'the queue drained: summed, and forgotten');
  assert.equal(waiting.size, 0);
});
