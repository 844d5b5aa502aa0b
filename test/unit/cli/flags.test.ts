// Every duration flag of both processes has a sane range, and a value out of
// it is refused at start with a message naming the flag, the value and the range.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { boundedDuration, duration, DURATION_BOUNDS, tlsFiles } from '../../../cli/flags.ts';
import { REPO_ROOT } from '../../../hack/versions.ts';

const execFileAsync = promisify(execFile);

describe('duration bounds', () => {
  for (const [flag, [min, max]] of Object.entries(DURATION_BOUNDS) as [keyof typeof DURATION_BOUNDS, readonly [string, string]][]) {
    test(`${flag}: ${min} to ${max}`, () => {
      const parse = boundedDuration(flag);
      assert.equal(parse(min), duration(min));
      assert.equal(parse(max), duration(max));
      for (const bad of ['0s', `${String(duration(min) - 1)}ms`, `${String(duration(max) + 1)}ms`]) {
        assert.throws(() => parse(bad), { message: `${bad} is out of range: a duration from ${min} to ${max}` });
      }
      assert.throws(() => parse('2 seconds'), /a duration like 500ms, 2s, 5m or 1h/);
    });
  }

  test("no bound reaches Node's timer limit (2^31-1 ms), past which a timer fires after 1 ms", () => {
    for (const [, max] of Object.values(DURATION_BOUNDS)) assert.ok(duration(max) < 2 ** 31 - 1, max);
  });

  test('the processes refuse an out-of-range value at start, naming the flag', async () => {
    const cases: [string, string[], RegExp][] = [
      [
        'agent/main.ts',
        ['--node-name', 'n1', '--interval', '1000h'],
        /option '--interval <duration>' argument '1000h' is invalid\. 1000h is out of range: a duration from 100ms to 10m/,
      ],
      ['agent/main.ts', ['--node-name', 'n1', '--cri-timeout', '0s'], /option '--cri-timeout <duration>' argument '0s' is invalid\. 0s is out of range/],
      [
        'operator/main.ts',
        ['--event-series-interval', '0s'],
        /option '--event-series-interval <duration>' argument '0s' is invalid\. 0s is out of range: a duration from 1s to 24h/,
      ],
    ];
    for (const [script, args, message] of cases) {
      await assert.rejects(execFileAsync(process.execPath, [script, ...args], { cwd: REPO_ROOT }), (err: Error & { stderr?: string; code?: number }) => {
        assert.match(err.stderr ?? '', message);
        assert.equal(err.code, 1);
        return true;
      });
    }
  });
});

describe('the metrics certificate flags', () => {
  const base = { listenHost: '0.0.0.0', listenPort: 8080, metricsSecure: true };
  test('both or neither', () => {
    assert.equal(tlsFiles(base), undefined);
    assert.deepEqual(tlsFiles({ ...base, tlsCertFile: '/c', tlsKeyFile: '/k' }), { certFile: '/c', keyFile: '/k' });
    for (const one of [{ tlsCertFile: '/c' }, { tlsKeyFile: '/k' }]) {
      assert.throws(() => tlsFiles({ ...base, ...one }), /--tls-cert-file and --tls-key-file go together: give both, or neither/);
    }
  });
});
