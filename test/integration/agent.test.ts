// The agent against the testbed's real containerd 2.x and real API server: the
// report it writes says, for each pod, the handler its sandbox really got.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ReportedSandbox } from '../../api/v1alpha1/node-sandbox-report.ts';
import { applyPod } from '../support/pods.ts';
import { readySandbox, storedReport, type StoredReport } from '../support/reports.ts';
import { startFreezableProxy, type FreezableProxy } from '../support/freezable-proxy.ts';
import { startAgent, startNodeScript, type Started } from '../support/processes.ts';
import { scrape, scraperToken, type Scraped } from '../support/scrape.ts';
import {
  runtime,
  createNamespace,
  criClient,
  eventually,
  kubectl,
  loadTestbed,
  testbedNode,
  uniqueName,
  type TestbedNode,
} from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const startAgentOn = (target: TestbedNode, criEndpoint: string, extra: string[] = []): ReturnType<typeof startAgent> =>
  startAgent(testbed, target, criEndpoint, extra);
const runPod = (namespace: string, name: string, target: TestbedNode, runtimeClassName: string): Promise<void> =>
  applyPod(testbed, { namespace, name, node: target, runtimeClassName });
const node = testbedNode(testbed, 0);
const honestNs = uniqueName('agent-honest');
const brokenNs = uniqueName('broken-agent');

const report = (name: string): Promise<StoredReport> => storedReport(testbed, name);
const sandboxFor = (nodeName: string, namespace: string, pod: string): Promise<ReportedSandbox> => readySandbox(testbed, nodeName, namespace, pod);

/** `path` of the agent's server, over HTTPS, with a token allowed to get /metrics. */
async function httpStatus(port: number, path: string): Promise<Scraped> {
  return scrape(`https://127.0.0.1:${String(port)}${path}`, await scraperToken(testbed));
}

describe(`agent on ${node.name}`, () => {
  let agent: Started | undefined;
  let port = 0;

  before(async () => {
    await kubectl(testbed, ['apply', '-f', 'charts/runtimeclass-audit/files/crds/']);
    await eventually(() => kubectl(testbed, ['get', 'nodesandboxreports']), 30_000);
    await createNamespace(testbed, honestNs);
    await createNamespace(testbed, brokenNs);
    ({ agent, port } = await startAgentOn(node, node.criEndpoint));
  });
  after(async () => {
    await agent?.stop();
    await kubectl(testbed, ['delete', 'namespace', honestNs, brokenNs, '--wait=false']);
  });

  test('reports the honest and the broken path as containerd saw them', async () => {
    await runPod(honestNs, 'vault', node, 'kata');
    await runPod(brokenNs, 'vault', node, 'kata');
    await runPod(honestNs, 'plain-runc', node, 'runc');
    const honest = await sandboxFor(node.name, honestNs, 'vault');
    const broken = await sandboxFor(node.name, brokenNs, 'vault');
    assert.deepEqual(
      { requested: honest.requestedHandler, resolved: honest.resolvedHandler, type: honest.runtimeType },
      { requested: 'kata', resolved: 'kata', type: 'io.containerd.runc.v2' },
    );
    assert.deepEqual(
      { requested: broken.requestedHandler, resolved: broken.resolvedHandler, type: broken.runtimeType },
      { requested: '', resolved: 'runc', type: 'io.containerd.runc.v2' },
    );
    const runc = await sandboxFor(node.name, honestNs, 'plain-runc');
    assert.deepEqual(
      { requested: runc.requestedHandler, resolved: runc.resolvedHandler, type: runc.runtimeType },
      { requested: 'runc', resolved: 'runc', type: 'io.containerd.runc.v2' },
    );
    const uid = (await kubectl(testbed, ['get', '-n', honestNs, 'pod/vault', '-o', 'jsonpath={.metadata.uid}'])).trim();
    assert.equal(honest.podUID, uid);
  });

  test('describes the runtime, and the report is owned by the Node', async () => {
    const { spec, metadata } = await report(node.name);
    assert.equal(spec.nodeName, node.name);
    assert.equal(spec.runtime.name, 'containerd');
    assert.equal(spec.runtime.reachable, true);
    assert.equal(spec.runtime.infoFormat, 'containerd');
    assert.equal(spec.runtime.defaultHandler, 'runc');
    assert.deepEqual(spec.runtime.handlers, [
      { name: 'gvisor', runtimeType: 'io.containerd.runsc.v1' },
      { name: 'kata', runtimeType: 'io.containerd.runc.v2' },
      { name: 'runc', runtimeType: 'io.containerd.runc.v2' },
      { name: 'runc-alt', runtimeType: 'io.containerd.runc.v2' },
    ]);
    assert.deepEqual(
      metadata.ownerReferences?.map((o) => `${o.kind}/${o.name}`),
      [`Node/${node.name}`],
    );
  });

  test('a removed sandbox disappears from the report', async () => {
    const { id } = await sandboxFor(node.name, honestNs, 'vault');
    await kubectl(testbed, ['delete', '-n', honestNs, 'pod/vault', '--wait=true', '--timeout=60s']);
    // The kubelet only stops a deleted pod's sandbox; its garbage collector
    // removes it later. Remove it now, through CRI, as that collector would.
    const cri = criClient(node);
    try {
      await cri.stopPodSandbox(id);
      await cri.removePodSandbox(id);
    } finally {
      cri.close();
    }
    await eventually(async () => {
      assert.equal(
        (await report(node.name)).spec.sandboxes.some((s) => s.id === id),
        false,
      );
    }, 30_000);
  });

  test('a report edited by hand gets its content back', async () => {
    await kubectl(testbed, ['patch', 'nodesandboxreport', node.name, '--type=merge', '-p', '{"spec":{"sandboxes":[]}}']);
    await eventually(async () => {
      assert.ok(
        (await report(node.name)).spec.sandboxes.some((s) => s.namespace === brokenNs),
        'restored',
      );
    }, 30_000);
  });

  test('serves /readyz, /livez and /metrics', async () => {
    assert.equal((await httpStatus(port, '/readyz')).status, 200);
    assert.equal((await httpStatus(port, '/livez')).status, 200);
    const { body } = await httpStatus(port, '/metrics');
    assert.match(body, /rcaudit_agent_sandboxes\{handler="runc",runtime_type="io.containerd.runc.v2"\} [1-9]/);
    assert.match(body, /rcaudit_agent_cri_request_duration_seconds_count\{method="ListPodSandbox"\} [1-9]/);
    assert.match(body, /rcaudit_agent_runtime_reachable 1/);
  });

  test('stops cleanly on SIGTERM', async () => {
    assert.ok(agent);
    await agent.stop();
    assert.equal(agent.child.exitCode, 0);
    assert.match(agent.output(), /"signal":"SIGTERM".*"msg":"shutting down"/);
  });
});

describe('agent whose CRI socket is absent at start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rca-agent-'));
  const socket = join(dir, 'late.sock');
  const target = testbedNode(testbed, 1);
  let agent: Started | undefined;
  let proxy: Started | undefined;
  after(async () => {
    await agent?.stop();
    await proxy?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('says unreachable, and is ready (its report is current and says so), then recovers when the socket appears', async () => {
    const started = await startAgentOn(target, `unix://${socket}`);
    agent = started.agent;
    await eventually(async () => {
      const { spec } = await report(target.name);
      assert.equal(spec.runtime.reachable, false);
      assert.match(spec.runtime.lastError ?? '', /No connection established|ENOENT|UNAVAILABLE/);
    }, 30_000);
    assert.equal((await httpStatus(started.port, '/readyz')).status, 200, 'ready: the operator must read "runtime unreachable", not "no agent"');
    assert.match(agent.output(), /CRI runtime unreachable/);
    // The socket appears: a pass-through to the node's containerd.
    proxy = startNodeScript('hack/testbed/cri-proxy.ts', ['--listen', socket, '--upstream', target.criEndpoint]);
    await eventually(async () => {
      assert.equal((await report(target.name)).spec.runtime.reachable, true);
      assert.equal((await httpStatus(started.port, '/readyz')).status, 200);
    }, 30_000);
  });
});

describe('agent while its containerd restarts', () => {
  const target = testbedNode(testbed, 1);
  const ns = uniqueName('agent-outage');
  let agent: Started | undefined;
  before(async () => {
    await createNamespace(testbed, ns);
  });
  after(async () => {
    await agent?.stop();
    // Whatever happened above, leave the node's runtime running.
    await runtime('start', target);
    await kubectl(testbed, ['delete', 'namespace', ns, '--wait=false']);
  });

  test('reports the outage and recovers by itself, without restarting', async () => {
    // A pod of our own on the node, so "the last known sandboxes stay" is not said of an empty list.
    await runPod(ns, 'steady', target, 'kata');
    const started = await startAgentOn(target, target.criEndpoint);
    agent = started.agent;
    const ours = await sandboxFor(target.name, ns, 'steady');
    await runtime('stop', target);
    await eventually(async () => {
      const { spec } = await report(target.name);
      assert.equal(spec.runtime.reachable, false);
      assert.ok(spec.runtime.unreachableSince !== undefined);
      assert.ok(
        spec.sandboxes.some((s) => s.id === ours.id),
        'the last known sandboxes stay in the report',
      );
    }, 30_000);
    assert.equal((await httpStatus(started.port, '/readyz')).status, 200, 'its report is current: it says the runtime is unreachable');
    await runtime('start', target);
    await eventually(async () => {
      const { spec } = await report(target.name);
      assert.equal(spec.runtime.reachable, true);
      assert.equal(spec.runtime.unreachableSince, undefined);
      assert.equal((await httpStatus(started.port, '/readyz')).status, 200);
    }, 30_000);
    assert.equal(agent.child.exitCode, null, 'the agent never exited');
    assert.match(agent.output(), /CRI runtime reachable again/);
  });
});

describe('agent facing a CRI answer over its size limit', () => {
  let agent: Started | undefined;
  after(async () => {
    await agent?.stop();
  });

  test('says so in the report and stays up and ready (its report is current)', async () => {
    // A limit of 256 bytes makes the real containerd's ListPodSandbox answer oversized.
    const started = await startAgentOn(node, node.criEndpoint, ['--cri-max-message-bytes', '256']);
    agent = started.agent;
    await eventually(async () => {
      const { spec } = await report(node.name);
      assert.equal(spec.runtime.reachable, false);
      assert.match(spec.runtime.lastError ?? '', /RESOURCE_EXHAUSTED/);
    }, 30_000);
    assert.equal((await httpStatus(started.port, '/readyz')).status, 200);
    assert.equal((await httpStatus(started.port, '/livez')).status, 200);
    assert.equal(agent.child.exitCode, null);
  });
});

describe('agent whose API server stops answering', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rcaudit-agent-api-'));
  let agent: Started | undefined;
  let proxy: FreezableProxy | undefined;
  after(async () => {
    await agent?.stop();
    await proxy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a request that gets no answer ends at its deadline: the agent turns unready, stays live, and writes again', async () => {
    proxy = await startFreezableProxy(testbed.kubeconfig, join(dir, 'kubeconfig'));
    const started = await startAgent({ kubeconfig: proxy.kubeconfig }, node, node.criEndpoint, ['--api-timeout', '1s']);
    agent = started.agent;
    await eventually(async () => {
      assert.equal((await httpStatus(started.port, '/readyz')).status, 200);
    }, 30_000);
    // Scraped once before, as Prometheus would have: the agent remembers the token, and needs no review while the API server hangs.
    assert.equal((await httpStatus(started.port, '/metrics')).status, 200);
    // The API server takes connections and never answers, nor closes: the next write (the 3 s resync) hangs.
    proxy.freeze();
    proxy.blackhole(true);
    await eventually(async () => {
      assert.match((await httpStatus(started.port, '/metrics')).body, /rcaudit_agent_report_writes_total\{outcome="error"\} [1-9]/);
    }, 15_000);
    assert.match(agent.output(), /"error":"[^"]*NodeSandboxReport[^"]*","failures":1,.*cannot write the report; retrying with backoff/);
    assert.equal((await httpStatus(started.port, '/readyz')).status, 503, 'its report may be stale');
    assert.equal((await httpStatus(started.port, '/livez')).status, 200, 'its loop still turns');
    proxy.blackhole(false);
    // Connections flow again: the retry (after its backoff) writes, and the agent says so.
    await eventually(async () => {
      assert.equal((await httpStatus(started.port, '/readyz')).status, 200);
      assert.match(agent?.output() ?? '', /report written again/);
    }, 60_000);
  });
});
