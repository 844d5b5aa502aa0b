// The agent loop's logic with stand-ins for the CRI runtime and the report
// sink (pure logic only; the real containerd and API server are exercised
// in test/integration/agent.test.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { NodeSandboxReportSpec } from '../../../api/v1alpha1/node-sandbox-report.ts';
import { nextTickDelay, NodeAgent, type CriRuntime } from '../../../agent/agent.ts';
import type { PodSandbox } from '../../../agent/cri/types.ts';
import { AgentMetrics } from '../../../agent/metrics.ts';
import type { WriteOutcome } from '../../../agent/report-writer.ts';
import { SandboxScanner } from '../../../agent/scanner.ts';
import { recordingLog } from '../../support/log.ts';

const config = JSON.stringify({ containerd: { defaultRuntimeName: 'runc', runtimes: { runc: { runtimeType: 'io.containerd.runc.v2' } } } });

class StandInRuntime implements CriRuntime {
  sandboxes: PodSandbox[] = [];
  down = false;
  calls: string[] = [];
  private check(method: string): void {
    this.calls.push(method);
    if (this.down) throw Object.assign(new Error('14 UNAVAILABLE: connect ENOENT'), { code: grpc.status.UNAVAILABLE });
  }
  version() {
    this.check('Version');
    return Promise.resolve({ version: '0.1.0', runtime_name: 'containerd', runtime_version: '1.6.20', runtime_api_version: 'v1' });
  }
  status() {
    this.check('Status');
    return Promise.resolve({ info: { config } });
  }
  listPodSandbox() {
    this.check('ListPodSandbox');
    return Promise.resolve({ items: this.sandboxes });
  }
  podSandboxStatus(id: string, verbose: boolean) {
    this.check('PodSandboxStatus');
    assert.equal(verbose, true, 'the runtime type is only in the verbose answer');
    if (!this.sandboxes.some((s) => s.id === id)) throw Object.assign(new Error('not found'), { code: grpc.status.NOT_FOUND });
    return Promise.resolve({ status: null, info: { info: '{"runtimeType":"io.containerd.runc.v2"}' } });
  }
}

function sandbox(id: string): PodSandbox {
  return {
    id,
    metadata: { name: id, uid: `u-${id}`, namespace: 'ns', attempt: 0 },
    state: 'SANDBOX_READY',
    created_at: '1',
    labels: {},
    annotations: {},
    runtime_handler: '',
  };
}

function setup() {
  const cri = new StandInRuntime();
  const writes: NodeSandboxReportSpec[] = [];
  /** When each write was tried, failed ones included. */
  const attempts: number[] = [];
  let failWrites = false;
  let clock = 1_000_000;
  const sink = {
    write: (spec: NodeSandboxReportSpec): Promise<WriteOutcome> => {
      attempts.push(clock);
      if (failWrites) return Promise.reject(new Error('API server unreachable'));
      writes.push(spec);
      return Promise.resolve('updated');
    },
  };
  const metrics = new AgentMetrics();
  const { log, lines } = recordingLog();
  const agent = new NodeAgent(
    { nodeName: 'n1', agentVersion: 't', intervalMs: 2000, resyncMs: 300_000, runtimeRefreshMs: 300_000 },
    { connect: () => ({ cri, endpoint: 'unix:///x.sock' }), sink, log, metrics, now: () => clock },
  );
  return { cri, writes, attempts, agent, metrics, lines, advance: (ms: number) => (clock += ms), failWrites: (v: boolean) => (failWrites = v) };
}

describe('agent loop', () => {
  test('steady state: one ListPodSandbox per pass and no write', async () => {
    const { cri, writes, agent, advance } = setup();
    cri.sandboxes = [sandbox('a'), sandbox('b')];
    await agent.tick();
    assert.equal(writes.length, 1);
    assert.ok(agent.ready());
    cri.calls = [];
    for (let i = 0; i < 10; i++) {
      advance(2000);
      await agent.tick();
    }
    assert.deepEqual(cri.calls, Array(10).fill('ListPodSandbox'));
    assert.equal(writes.length, 1, 'nothing changed, nothing written');
  });

  test('what the report leaves out to fit its schema: said in the report, in the metric at every pass, in the log once', async () => {
    const { cri, writes, agent, metrics, lines } = setup();
    // An id longer than the schema's 128: left out whole, never cut into another id.
    cri.sandboxes = [sandbox('a'), sandbox('x'.repeat(200))];
    await agent.tick();
    await agent.tick();
    assert.deepEqual(writes.at(-1)?.omitted, { sandboxes: 1 });
    assert.match(await metrics.registry.metrics(), /^rcaudit_agent_report_omitted\{what="sandboxes"\} 1$/m);
    const said = (): number => lines.filter((l) => l.msg.startsWith('left out of the report')).length;
    assert.equal(said(), 1, 'once, not at every pass');
    cri.sandboxes = [sandbox('a')];
    await agent.tick();
    assert.equal(writes.at(-1)?.omitted, undefined);
    assert.match(await metrics.registry.metrics(), /^rcaudit_agent_report_omitted\{what="sandboxes"\} 0$/m);
    assert.equal(said(), 1, 'nothing left out: nothing more said');
  });

  test('a new sandbox costs one status call and one write; a gone one is forgotten', async () => {
    const { cri, writes, agent } = setup();
    cri.sandboxes = [sandbox('a')];
    await agent.tick();
    cri.calls = [];
    cri.sandboxes = [sandbox('a'), sandbox('b')];
    await agent.tick();
    assert.deepEqual(cri.calls, ['ListPodSandbox', 'PodSandboxStatus']);
    assert.deepEqual(
      writes.at(-1)?.sandboxes.map((s) => s.id),
      ['a', 'b'],
    );
    cri.sandboxes = [sandbox('b')];
    await agent.tick();
    assert.deepEqual(
      writes.at(-1)?.sandboxes.map((s) => s.id),
      ['b'],
    );
    assert.equal(writes.length, 3);
  });

  test('an outage is written once, with since-when, keeping the last known sandboxes; recovery is written too', async () => {
    const { cri, writes, agent, advance } = setup();
    cri.sandboxes = [sandbox('a')];
    await agent.tick();
    cri.down = true;
    advance(2000);
    await agent.tick();
    advance(2000);
    await agent.tick();
    assert.equal(writes.length, 2, 'one write for the outage, not one per pass');
    const outage = writes[1];
    assert.ok(outage);
    assert.equal(outage.runtime.reachable, false);
    assert.equal(outage.runtime.unreachableSince, new Date(1_002_000).toISOString());
    assert.match(outage.runtime.lastError ?? '', /UNAVAILABLE/);
    assert.deepEqual(
      outage.sandboxes.map((s) => s.id),
      ['a'],
    );
    assert.ok(agent.ready(), 'its report is current: it says the runtime does not answer');
    cri.down = false;
    cri.calls = [];
    await agent.tick();
    assert.deepEqual(cri.calls.slice(0, 2), ['Version', 'Status'], 'the runtime config is read again after an outage');
    assert.equal(writes.at(-1)?.runtime.reachable, true);
    // Reachable since the first pass, and since the end of the outage after it: a restart, which the operator's probes redo.
    assert.equal(writes[0]?.runtime.reachableSince, new Date(1_000_000).toISOString());
    assert.equal(outage.runtime.reachableSince, undefined);
    assert.equal(writes.at(-1)?.runtime.reachableSince, new Date(1_004_000).toISOString());
    assert.ok(agent.ready());
  });

  test('an API failure makes the agent unready, and its retries back off (jittered, doubling from the interval, up to 30 s)', async () => {
    const { cri, writes, attempts, agent, advance, failWrites } = setup();
    cri.sandboxes = [sandbox('a')];
    failWrites(true);
    // Two minutes of 2 s passes against an API server that refuses every write.
    for (let t = 0; t <= 120_000; t += 2000) {
      await agent.tick();
      assert.equal(agent.ready(), false);
      advance(2000);
    }
    assert.ok(attempts.length >= 5 && attempts.length <= 10, `${String(attempts.length)} tries in 2 minutes, not 61`);
    const gaps = attempts.slice(1).map((a, i) => a - (attempts[i] ?? 0));
    assert.ok(
      gaps.every((g) => g <= 32_000),
      `no wait past the 30 s cap (and one pass): ${gaps.join(', ')}`,
    );
    assert.ok(
      gaps.some((g) => g > 2000),
      `the waits grow: ${gaps.join(', ')}`,
    );
    failWrites(false);
    advance(30_000);
    await agent.tick();
    assert.equal(writes.length, 1);
    assert.ok(agent.ready());
  });

  test('the stored report is re-checked after the resync period even when nothing changed', async () => {
    const { cri, writes, agent, advance } = setup();
    cri.sandboxes = [sandbox('a')];
    await agent.tick();
    advance(299_000);
    await agent.tick();
    assert.equal(writes.length, 1);
    advance(2_000);
    await agent.tick();
    assert.equal(writes.length, 2);
  });
});

describe('scanner', () => {
  test('forgets the details of sandboxes that are gone, and asks again only for new ones', async () => {
    const cri = new StandInRuntime();
    const scanner = new SandboxScanner(cri);
    cri.sandboxes = [sandbox('a'), sandbox('b')];
    assert.equal((await scanner.scan()).rpcs, 3);
    cri.sandboxes = [sandbox('b'), sandbox('c')];
    const second = await scanner.scan();
    assert.equal(second.rpcs, 2, 'list + c');
    assert.deepEqual([...second.details.keys()].sort(), ['b', 'c']);
    assert.equal(scanner.cached, 2);
  });

  test('a sandbox removed between list and status is skipped; other status errors are counted and retried', async () => {
    const cri = new StandInRuntime();
    cri.sandboxes = [sandbox('a')];
    const scanner = new SandboxScanner({
      listPodSandbox: () => Promise.resolve({ items: [sandbox('a'), sandbox('gone')] }),
      podSandboxStatus: (id, v) => cri.podSandboxStatus(id, v),
    });
    const result = await scanner.scan();
    assert.equal(result.rpcs, 3);
    assert.deepEqual([...result.details.keys()], ['a']);
    assert.equal(result.statusErrors, 0);
    const failing = new SandboxScanner({
      listPodSandbox: () => Promise.resolve({ items: [sandbox('a')] }),
      podSandboxStatus: () => Promise.reject(Object.assign(new Error('deadline'), { code: grpc.status.DEADLINE_EXCEEDED })),
    });
    const first = await failing.scan();
    assert.equal(first.statusErrors, 1);
    assert.equal(first.sandboxes.length, 1, 'still listed');
    assert.equal(first.details.size, 0, 'not cached');
    assert.equal((await failing.scan()).rpcs, 2, 'asked again');
  });
});

test('passes start every interval whatever they take; one that overran is followed after a tenth of it', () => {
  assert.equal(nextTickDelay(0, 300, 2000), 1700);
  assert.equal(nextTickDelay(0, 1999, 2000), 200, 'never closer than a tenth of the interval');
  assert.equal(nextTickDelay(0, 5000, 2000), 200);
});
