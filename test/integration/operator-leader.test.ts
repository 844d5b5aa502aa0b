// Two operator replicas on one Lease (the real coordination.k8s.io API):
// only the leader writes; when it dies the other takes over within the lease
// duration, and carries the event series on instead of starting a storm; a
// leader that was frozen past its lease stops writing and exits.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ReportedSandbox } from '../../api/v1alpha1/node-sandbox-report.ts';
import {
  apply,
  KUSCIA_SANDBOX,
  metricSum,
  metricValue,
  namespace,
  pod,
  podEvents,
  podUid,
  report,
  reportStatus,
  type RunningOperator,
  sandbox,
  scopedAudit,
  setUpStage,
  stage,
  startOperator,
  tearDownStage,
} from '../support/operator.ts';
import { eventually, kubectl, loadTestbed } from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const staged = stage('opha');
const { id, ns, node, audit } = staged;
const leaseNs = `${id}-system`;
const kuscia = KUSCIA_SANDBOX;
const LEASE_SECONDS = 4;
/** Every replica's election flags: this test's Lease, with short timings. */
const leaseArgs = [
  '--namespace',
  leaseNs,
  '--lease-name',
  `${id}-lease`,
  '--lease-duration',
  `${String(LEASE_SECONDS)}s`,
  '--renew-deadline',
  '3s',
  '--retry-period',
  '500ms',
];

async function isLeader(operator: RunningOperator): Promise<boolean> {
  try {
    return metricValue(await operator.metrics(), 'rcaudit_leader') === 1;
  } catch {
    return false;
  }
}

/**
 * Writes other than to the Lease: what only a leader may do. (The reviews
 * that check who scrapes /metrics are POSTs that store nothing: every
 * replica makes them.)
 */
async function writes(operator: RunningOperator): Promise<number> {
  const text = await operator.metrics();
  let sum = 0;
  for (const verb of ['PATCH', 'POST', 'PUT']) {
    sum += metricSum(text, 'rcaudit_api_requests_total', { verb });
    for (const resource of ['leases', 'tokenreviews', 'subjectaccessreviews']) sum -= metricSum(text, 'rcaudit_api_requests_total', { verb, resource });
  }
  return sum;
}

describe('operator: leader election on a Lease', () => {
  const replicas: RunningOperator[] = [];
  const sandboxes: ReportedSandbox[] = [];

  const addMismatchedPod = async (name: string): Promise<void> => {
    await apply(testbed, pod(ns, name, node, { runtimeClassName: 'kata' }));
    sandboxes.push(sandbox(await podUid(testbed, ns, name), { namespace: ns, name, ...kuscia }));
    await apply(testbed, report(node, sandboxes));
  };
  const flagged = async (name: string): Promise<void> => {
    await eventually(async () => {
      const entry = (await reportStatus(testbed, node))?.audits?.find((a) => a.name === audit)?.pods.find((p) => p.name === name);
      assert.equal(entry?.reason, 'HandlerMismatch');
      assert.equal((await podEvents(testbed, ns, name, 'RuntimeHandlerMismatch')).length, 1);
    }, 30_000);
  };
  const leaderOf = async (candidates: RunningOperator[]): Promise<RunningOperator> =>
    eventually(async () => {
      const leaders: RunningOperator[] = [];
      for (const r of candidates) if (await isLeader(r)) leaders.push(r);
      assert.equal(leaders.length, 1, `${String(leaders.length)} leaders`);
      return leaders[0] as RunningOperator;
    }, 30_000);

  before(async () => {
    await setUpStage(testbed, staged, namespace(leaseNs, {}));
    await apply(testbed, scopedAudit(audit, id));
    await addMismatchedPod('a');
    for (let i = 0; i < 2; i++) replicas.push(await startOperator(testbed, leaseArgs));
  });

  after(async () => {
    for (const r of replicas) {
      // A replica frozen by a failed test must wake to hear SIGTERM.
      if (r.process.child.exitCode === null && r.process.child.signalCode === null) r.process.child.kill('SIGCONT');
      await r.process.stop();
    }
    await tearDownStage(testbed, staged, { namespaces: [leaseNs] });
  });

  test('one leader writes; the standby writes nothing', async () => {
    const leader = await leaderOf(replicas);
    await flagged('a');
    const standby = replicas.find((r) => r !== leader) as RunningOperator;
    assert.equal(await writes(standby), 0, 'the standby wrote');
    assert.ok((await writes(leader)) > 0);
    const lease = JSON.parse(await kubectl(testbed, ['get', 'lease', '-n', leaseNs, `${id}-lease`, '-o', 'json'])) as {
      spec: { holderIdentity: string; leaseDurationSeconds: number };
    };
    assert.equal(lease.spec.leaseDurationSeconds, LEASE_SECONDS);
    assert.match(leader.process.output(), new RegExp(`"identity":"${lease.spec.holderIdentity}".*became the leader`));
  });

  test('the leader is killed: the standby takes over within the lease duration, and no event storm follows', async () => {
    const leader = await leaderOf(replicas);
    const standby = replicas.find((r) => r !== leader) as RunningOperator;
    const killedAt = Date.now();
    leader.process.child.kill('SIGKILL');
    await eventually(async () => {
      assert.ok(await isLeader(standby));
    }, 30_000);
    const takeover = Date.now() - killedAt;
    // Expiry is measured from when the standby last saw the lease renewed, plus one retry period and a poll.
    assert.ok(takeover < (LEASE_SECONDS + 3) * 1000, `took ${String(takeover)} ms`);
    await addMismatchedPod('b');
    await flagged('b');
    // The old mismatch keeps its one event: the new leader found it (AlreadyExists) and carried its series on.
    const events = await podEvents(testbed, ns, 'a', 'RuntimeHandlerMismatch');
    assert.equal(events.length, 1);
    assert.equal(events[0]?.count, 1);
    assert.ok((metricValue(await standby.metrics(), 'rcaudit_events_total', { reason: 'RuntimeHandlerMismatch', action: 'adopted' }) ?? 0) >= 1);
  });

  test('a leader frozen past its lease stops writing when it wakes, and exits', async () => {
    const survivor = replicas.find((r) => r.process.child.exitCode === null && r.process.child.signalCode === null) as RunningOperator;
    const newcomer = await startOperator(testbed, leaseArgs);
    replicas.push(newcomer);
    const pid = survivor.process.child.pid;
    assert.ok(pid !== undefined);
    process.kill(pid, 'SIGSTOP');
    await eventually(async () => {
      assert.ok(await isLeader(newcomer));
    }, 30_000);
    await addMismatchedPod('c');
    await flagged('c');
    const exited = new Promise<number | null>((resolve) =>
      survivor.process.child.once('exit', (code) => {
        resolve(code);
      }),
    );
    process.kill(pid, 'SIGCONT');
    assert.equal(await exited, 1, 'the old leader exits when it finds its lease lost');
    assert.match(survivor.process.output(), /lost the leader lease/);
    for (const name of ['a', 'b', 'c']) assert.equal((await podEvents(testbed, ns, name, 'RuntimeHandlerMismatch')).length, 1, `events of ${name}`);
  });

  test('a leader stopped with SIGTERM releases the lease, so the next one need not wait it out', async () => {
    const leader = await leaderOf(replicas.filter((r) => r.process.child.exitCode === null && r.process.child.signalCode === null));
    await leader.process.stop();
    assert.equal(leader.process.child.exitCode, 0);
    const holder = (await kubectl(testbed, ['get', 'lease', '-n', leaseNs, `${id}-lease`, '-o', 'jsonpath={.spec.holderIdentity}'])).trim();
    assert.equal(holder, '', 'released');
  });
});
