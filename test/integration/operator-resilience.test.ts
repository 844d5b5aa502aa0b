// The operator's watches against what a real API server does to them: it
// restarts, it forgets old resourceVersions (410 Gone after etcd compaction),
// and a connection can go silent without closing. In each case nothing may
// be lost: a change made meanwhile must still reach the verdicts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ReportedSandbox } from '../../api/v1alpha1/node-sandbox-report.ts';
import { startFreezableProxy, type FreezableProxy } from '../support/freezable-proxy.ts';
import {
  apply,
  KUSCIA_SANDBOX,
  metricSum,
  pod,
  podEvents,
  podUid,
  report,
  reportStatus,
  type RunningOperator,
  sandbox,
  setUpStage,
  stage,
  startOperator,
  tearDownStage,
} from '../support/operator.ts';
import { apiserver, compactEtcd, eventually, loadTestbed } from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const staged = stage('opres');
const { id, ns, node, audit } = staged;
const kuscia = KUSCIA_SANDBOX;

describe('operator: watches survive a real API server', () => {
  let operator: RunningOperator | undefined;
  let proxy: FreezableProxy | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'rcaudit-opres-'));
  const sandboxes = new Map<string, ReportedSandbox>();

  const uidOf = async (name: string): Promise<string> => podUid(testbed, ns, name);
  const setSandbox = async (name: string, over: Partial<ReportedSandbox> = {}): Promise<void> => {
    sandboxes.set(name, sandbox(await uidOf(name), { namespace: ns, name, ...over }));
    await apply(testbed, report(node, [...sandboxes.values()]));
  };
  const reasonOf = async (name: string): Promise<string | undefined> =>
    (await reportStatus(testbed, node))?.audits?.find((a) => a.name === audit)?.pods.find((p) => p.name === name)?.reason;
  const becomes = async (name: string, reason: string, timeoutMs = 60_000): Promise<void> => {
    await eventually(async () => {
      assert.equal(await reasonOf(name), reason, `${name}\n${operator?.process.output().slice(-3000) ?? ''}`);
    }, timeoutMs);
  };
  const restarts = async (labels: Record<string, string>): Promise<number> =>
    metricSum((await operator?.metrics()) ?? '', 'rcaudit_watch_restarts_total', labels);

  before(async () => {
    await setUpStage(testbed, staged);
    await apply(testbed, pod(ns, 'a', node, { runtimeClassName: 'kata' }), pod(ns, 'b', node, { runtimeClassName: 'kata' }), {
      apiVersion: 'rcaudit.dev/v1alpha1',
      kind: 'RuntimeClassAudit',
      metadata: { name: audit },
      spec: { namespaceSelector: { matchLabels: { 'rcaudit-test': id } } },
    });
    await setSandbox('a', kuscia);
    await setSandbox('b');
    proxy = await startFreezableProxy(testbed.kubeconfig, join(dir, 'kubeconfig'));
    operator = await startOperator({ ...testbed, kubeconfig: proxy.kubeconfig }, ['--no-leader-elect', '--watch-silence', '3s', '--api-timeout', '5s']);
    await becomes('a', 'HandlerMismatch');
    await becomes('b', 'Matched');
  });

  after(async () => {
    const pid = operator?.process.child.pid;
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
    await operator?.process.stop();
    await proxy?.close();
    rmSync(dir, { recursive: true, force: true });
    await tearDownStage(testbed, staged);
  });

  test('the API server restarts: the operator backs off, says so once, carries on and sees what changes after', async () => {
    const errorsBefore = await restarts({ reason: 'error' });
    const logBefore = operator?.process.output().length ?? 0;
    const down = Date.now();
    await apiserver('stop');
    await apiserver('start');
    const outageSeconds = (Date.now() - down) / 1000;
    await setSandbox('b', kuscia);
    await becomes('b', 'HandlerMismatch');
    await eventually(async () => {
      assert.equal((await podEvents(testbed, ns, 'b', 'RuntimeHandlerMismatch')).length, 1);
    }, 30_000);
    const retries = (await restarts({ reason: 'error' })) - errorsBefore;
    assert.ok(retries > 0, 'the dropped watches were restarted');
    // Six resources, each backing off 0.8 s, 1.6 s, 3.2 s ... up to 30 s: a handful of tries each, not one a second.
    const bound = 6 * (Math.ceil(Math.log2(outageSeconds / 0.8 + 1)) + 1 + Math.ceil(outageSeconds / 30));
    process.stdout.write(`# API server down ${outageSeconds.toFixed(1)} s: ${String(retries)} watch retries over 6 resources (bound ${String(bound)})\n`);
    assert.ok(retries <= bound, `${String(retries)} retries in ${outageSeconds.toFixed(1)} s`);
    await eventually(() => {
      const log = (operator?.process.output() ?? '').slice(logBefore).split('\n');
      assert.equal(log.filter((l) => l.includes('API server requests failing')).length, 1, 'said once when it began');
      assert.equal(log.filter((l) => l.includes('API server requests work again')).length, 1, 'said once when it ended');
      assert.deepEqual(
        log.filter((l) => l.includes('"level":40') && l.includes('watch restarted')),
        [],
        'no warning per retry',
      );
      return Promise.resolve();
    }, 30_000);
    assert.equal(operator?.process.child.exitCode, null, 'still running');
  });

  test('410 Gone: etcd compacted and the API server restarted while the operator was frozen; it relists and misses nothing', async () => {
    const pid = operator?.process.child.pid;
    assert.ok(pid !== undefined);
    const goneBefore = await restarts({ reason: 'gone' });
    process.kill(pid, 'SIGSTOP');
    try {
      await setSandbox('a');
      await apply(testbed, pod(ns, 'c', node, { runtimeClassName: 'kata' }));
      await setSandbox('c', kuscia);
      await compactEtcd();
      // A fresh watch cache starts after the operator's resourceVersions: they are too old now.
      await apiserver('stop');
      await apiserver('start');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await becomes('a', 'Matched');
    await becomes('c', 'HandlerMismatch');
    assert.ok((await restarts({ reason: 'gone', resource: 'nodesandboxreports' })) > 0, 'reports relisted after 410');
    assert.ok((await restarts({ reason: 'gone', resource: 'pods' })) > 0, 'pods relisted after 410');
    assert.ok((await restarts({ reason: 'gone' })) > goneBefore);
  });

  test('a watch that goes silent without closing is cut by the watchdog and started again', async () => {
    const silentBefore = await restarts({ reason: 'silent' });
    proxy?.freeze();
    await setSandbox('c');
    await becomes('c', 'Matched', 60_000);
    assert.ok((await restarts({ reason: 'silent' })) > silentBefore, 'the watchdog cut the frozen watches');
  });
});
