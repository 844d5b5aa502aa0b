// Every duration flag of the agent, the operator and its uninstall step has a sane range, and a value out of
// it is refused at start with a message naming the flag, the value and the range.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { boundedDuration, duration, DURATION_BOUNDS, tlsFiles } from '../../../cli/flags.ts';
import { REPO_ROOT } from '../../../hack/versions.ts';

const execFileAsync = promisify(execFile);

/** Starts `script` with `args` and expects it to refuse them at once: exit 1, `message` on stderr. A process that accepts its flags runs on: the deadline ends it, and the assertions say so. */
async function refused(script: string, args: string[], message: RegExp): Promise<void> {
  await assert.rejects(
    execFileAsync(process.execPath, [script, ...args], { cwd: REPO_ROOT, timeout: 15_000 }),
    (err: Error & { stderr?: string; code?: number }) => {
      assert.match(err.stderr ?? '', message);
      assert.equal(err.code, 1);
      return true;
    },
  );
}

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
    for (const [script, args, message] of cases) await refused(script, args, message);
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

describe('flags that would start a bad operator or agent are refused at start', () => {
  test("leader election's timings, checked against each other as client-go does: two leaders must never overlap", async () => {
    await refused(
      'operator/main.ts',
      ['--lease-duration', '1s', '--renew-deadline', '5m'],
      /--lease-duration \(1s\) must be longer than --renew-deadline \(5m\): a leader that stops renewing would still write after another took the lease/,
    );
    await refused(
      'operator/main.ts',
      ['--renew-deadline', '2s', '--retry-period', '2s'],
      /--renew-deadline \(2s\) must be longer than 1\.2 × --retry-period \(2s\): a leader would give up before its first retry/,
    );
  });

  test('an empty identity (every replica the holder), or one with spaces', async () => {
    await refused(
      'operator/main.ts',
      ['--identity', ''],
      /option '--identity <id>' argument '' is invalid\. an identity without spaces, at most 128 characters/,
    );
    await refused('operator/main.ts', ['--identity', 'a b'], /option '--identity <id>' argument 'a b' is invalid/);
  });

  test('counts within their range, in digits', async () => {
    await refused('operator/main.ts', ['--workers', '1e9'], /option '--workers <n>' argument '1e9' is invalid\. a whole number, in digits/);
    await refused('operator/main.ts', ['--workers', '1000'], /option '--workers <n>' argument '1000' is invalid\. 1000 is out of range: from 1 to 64/);
    await refused(
      'agent/main.ts',
      ['--node-name', 'n1', '--cri-max-message-bytes', '99999999999'],
      /option '--cri-max-message-bytes <bytes>' argument '99999999999' is invalid\. 99999999999 is out of range: from 256 to 268435456/,
    );
  });

  test("the agent selector: Kubernetes' label syntax, at least one label", async () => {
    await refused(
      'operator/main.ts',
      ['--agent-selector', 'app'],
      /option '--agent-selector <k=v,...>' argument 'app' is invalid\. "app" is not of the form key=value/,
    );
    await refused('operator/main.ts', ['--agent-selector', 'app=a b'], /argument 'app=a b' is invalid\. "a b" is not a label value/);
    await refused('operator/main.ts', ['--agent-selector', '-bad-=x'], /argument '-bad-=x' is invalid\. "-bad-" is not a label key/);
    await refused(
      'operator/main.ts',
      ['--agent-selector', ''],
      /argument '' is invalid\. at least one key=value: an empty selector takes every pod in the namespace/,
    );
  });

  test('names the API server would refuse: namespaces, the Lease, the default audit, the node', async () => {
    await refused(
      'operator/main.ts',
      ['--agent-namespace', 'Agents_NS'],
      /option '--agent-namespace <ns>' argument 'Agents_NS' is invalid\. a namespace name \(RFC 1123 label/,
    );
    await refused('operator/main.ts', ['--namespace', ''], /option '--namespace <ns>' argument '' is invalid\. a namespace name/);
    await refused('operator/main.ts', ['--lease-name', 'a/b'], /option '--lease-name <name>' argument 'a\/b' is invalid\. an object name \(RFC 1123 subdomain/);
    await refused('operator/main.ts', ['--ensure-audit', 'Cluster'], /option '--ensure-audit <name>' argument 'Cluster' is invalid\. an object name/);
    await refused('agent/main.ts', ['--node-name', 'n1/../x'], /option '--node-name <name>' argument 'n1\/..\/x' is invalid\. an object name/);
  });

  test('the withdrawal of the proofs: whose pods to wait for, said in full, before it touches a node', async () => {
    const selector = '--operator-selector=app.kubernetes.io/component=operator';
    await refused('operator/withdraw.ts', [selector], /required option '--operator-namespace <ns>' not specified/);
    await refused('operator/withdraw.ts', ['--operator-namespace', 'rcaudit'], /required option '--operator-selector <k=v,...>' not specified/);
    await refused(
      'operator/withdraw.ts',
      ['--operator-namespace', 'rcaudit', '--operator-selector', ''],
      /argument '' is invalid\. at least one key=value: an empty selector takes every pod in the namespace/,
    );
    await refused(
      'operator/withdraw.ts',
      ['--operator-namespace', 'rcaudit', selector, '--operator-gone', '1d'],
      /option '--operator-gone <duration>' argument '1d' is invalid\. a duration like/,
    );
  });
});
