import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runWorker, type ReconcileResult } from '../../../../operator/machinery/reconcile.ts';
import { backoffDelay, DEFAULT_RATE_LIMITS, TokenBucket, WorkQueue } from '../../../../operator/machinery/work-queue.ts';
import { FakeClock } from '../../../support/fake-clock.ts';

const noGlobalLimit = { ...DEFAULT_RATE_LIMITS, qps: 1e9, burst: 1e9 };

describe('work queue', () => {
  test('a key is queued once however often it is added', async () => {
    const q = new WorkQueue(new FakeClock());
    q.add('a');
    q.add('b');
    q.add('a');
    assert.equal(q.length, 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
    assert.equal(q.length, 0);
  });

  test('a key being worked on is not handed out again; added meanwhile, it comes back after done()', async () => {
    const q = new WorkQueue(new FakeClock());
    q.add('a');
    const key = await q.get();
    q.add('a');
    assert.equal(q.length, 0, 'not queued while processing');
    q.done(key ?? '');
    assert.equal(q.length, 1);
    assert.equal(await q.get(), 'a');
  });

  test('a waiting worker gets the next key as soon as it is added', async () => {
    const q = new WorkQueue(new FakeClock());
    const next = q.get();
    q.add('x');
    assert.equal(await next, 'x');
  });

  test('idle: nothing queued, nothing in work, and nothing delayed that falls due within the horizon', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue(clock);
    assert.ok(q.idle());
    q.add('a');
    assert.ok(!q.idle(), 'queued');
    const key = await q.get();
    assert.ok(!q.idle(), 'in work');
    q.done(key ?? '');
    assert.ok(q.idle());
    q.addAfter('b', 300);
    assert.ok(q.idle(), 'a later retry is not work now');
    assert.ok(!q.idle(500), 'but it falls within a debounce');
  });

  test('addAfter waits, and the earlier of two delays for one key wins', () => {
    const clock = new FakeClock();
    const q = new WorkQueue(clock);
    q.addAfter('a', 1000);
    q.addAfter('a', 5000);
    q.addAfter('a', 500);
    clock.advance(499);
    assert.equal(q.length, 0);
    clock.advance(1);
    assert.equal(q.length, 1);
    clock.advance(10_000);
    assert.equal(q.length, 1, 'the replaced delays never fire');
  });

  test('per-key backoff doubles from 50 ms and stops at 100 s; forget starts it over', () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => backoffDelay(n, DEFAULT_RATE_LIMITS)),
      [50, 100, 200, 400],
    );
    assert.equal(backoffDelay(30, DEFAULT_RATE_LIMITS), 100_000);
    assert.equal(backoffDelay(10_000, DEFAULT_RATE_LIMITS), 100_000);
    const clock = new FakeClock();
    const q = new WorkQueue(clock, noGlobalLimit);
    q.addRateLimited('a');
    q.addRateLimited('a');
    q.addRateLimited('a');
    assert.equal(q.failuresOf('a'), 3);
    clock.advance(49);
    assert.equal(q.length, 0);
    clock.advance(1);
    assert.equal(q.length, 1, 'the first (shortest) pending delay wins');
    q.forget('a');
    assert.equal(q.failuresOf('a'), 0);
  });

  test('the global bucket lets a burst through, then paces at qps', () => {
    const bucket = new TokenBucket(10, 3, 0);
    assert.deepEqual([bucket.reserve(0), bucket.reserve(0), bucket.reserve(0)], [0, 0, 0]);
    assert.equal(bucket.reserve(0), 100);
    assert.equal(bucket.reserve(0), 200);
    assert.equal(bucket.reserve(1000), 0, 'refilled after a quiet second');
  });

  test('the global limit applies across keys', () => {
    const clock = new FakeClock();
    const q = new WorkQueue(clock, { baseDelayMs: 1, maxDelayMs: 1000, qps: 10, burst: 2 });
    for (const k of ['a', 'b', 'c', 'd']) q.addRateLimited(k);
    clock.advance(1);
    assert.equal(q.length, 2, 'the burst');
    clock.advance(99);
    assert.equal(q.length, 3);
    clock.advance(100);
    assert.equal(q.length, 4);
  });

  test('shutDown wakes waiting workers with no key and drops delayed keys', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue(clock);
    const waiting = q.get();
    q.addAfter('later', 1000);
    q.shutDown();
    assert.equal(await waiting, undefined);
    assert.equal(clock.pending, 0);
    q.add('x');
    assert.equal(await q.get(), undefined);
  });
});

describe('worker', () => {
  test('interprets reconcile results: done forgets, error backs off, requeueAfter waits, terminal gives up', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue(clock, noGlobalLimit);
    const results: Record<string, ReconcileResult[]> = {
      ok: [{ kind: 'done' }],
      flaky: [{ kind: 'error', error: new Error('409') }, { kind: 'done' }],
      later: [{ kind: 'requeueAfter', ms: 5000 }, { kind: 'done' }],
      broken: [{ kind: 'terminal', error: new Error('invalid spec') }],
      throws: [],
    };
    const seen: string[] = [];
    const errors: string[] = [];
    const worker = runWorker(
      q,
      (key) => {
        seen.push(key);
        const next = results[key]?.shift();
        return next === undefined ? Promise.reject(new Error(`boom ${key}`)) : Promise.resolve(next);
      },
      (key, _error, terminal) => errors.push(`${key}:${terminal ? 'terminal' : 'retry'}`),
    );
    for (const k of ['ok', 'flaky', 'later', 'broken', 'throws']) q.add(k);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, ['ok', 'flaky', 'later', 'broken', 'throws']);
    clock.advance(50);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen.slice(5).sort(), ['flaky', 'throws']);
    assert.equal(q.failuresOf('flaky'), 0, 'forgotten after success');
    clock.advance(5000);
    await new Promise((r) => setImmediate(r));
    assert.ok(seen.includes('later') && seen.filter((k) => k === 'later').length === 2);
    assert.deepEqual(errors.slice(0, 3), ['flaky:retry', 'broken:terminal', 'throws:retry']);
    // Tried at 0, at 50 (after 50 ms) and at 5050 (its 100 ms backoff fell inside the 5 s): three failures.
    assert.equal(seen.filter((k) => k === 'throws').length, 3);
    assert.equal(q.failuresOf('throws'), 3, 'a throwing reconcile keeps backing off');
    q.shutDown();
    await worker;
  });
});
