// The sliding window that paces evictions and token reviews.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RateWindow } from '../../../kube/rate-window.ts';

describe('RateWindow', () => {
  test('at most max in any 60 s; the next one when the oldest leaves the window', () => {
    const w = new RateWindow();
    assert.equal(w.take(2, 0), true);
    assert.equal(w.take(2, 10_000), true);
    assert.equal(w.take(2, 59_999), false);
    assert.equal(w.nextAt(2, 59_999), 60_000);
    assert.equal(w.take(2, 60_000), true, 'the first left the window');
    assert.equal(w.take(2, 65_000), false);
    assert.equal(w.nextAt(2, 65_000), 70_000);
  });
  test('one given back (a PodDisruptionBudget said no) frees its place', () => {
    const w = new RateWindow();
    assert.equal(w.take(1, 0), true);
    w.giveBack(0);
    assert.equal(w.take(1, 1), true);
  });
});
