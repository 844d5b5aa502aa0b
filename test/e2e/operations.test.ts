// What happens to every production node, done to the chart's own pods on the
// real testbed: the agent pod deleted, the node's containerd restarted, a
// mismatched pod's sandbox killed and re-created by the kubelet, the agents
// rolled by `helm upgrade`, the API server restarted, the chart uninstalled
// and installed again. Through all of it a finding must stay one finding:
// the same verdict with the same `since`, the same single Warning event
// object per mismatched pod, and no resolution said for a mismatch that
// never ended.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PodVerdictEntry } from '../../api/v1alpha1/node-sandbox-report.ts';
import { CHART, helm, installFromTree, installNames, testbedImage, testbedValues, valueArgs } from '../support/chart.ts';
import { podEvents, reportStatus, scopedAudit } from '../support/operator.ts';
import { applyPod } from '../support/pods.ts';
import { scrape, scraperToken } from '../support/scrape.ts';
import { apiserver, createNamespace, criClient, eventually, kubectl, loadTestbed, runtime, testbedNode, type TestbedNode } from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const [honestNode, kusciaNode] = [testbedNode(testbed, 0), testbedNode(testbed, 1)];
const { id, system, agentNs, honestNs, brokenNs, audit } = installNames('ops');
const release = 'rcaudit-ops';
// No default audit: its isolation expectations would flag this test's honest kata pod (runc under that
// name) too, and these faults are about keeping findings, whichever they are (chart.test.ts covers it).
const values = { ...testbedValues(testbed), 'agent.namespace': { name: agentNs, create: true }, 'agent.interval': '1s', 'defaultAudit.enabled': false };
/** After a fault ends, every finding must be back within this long (measured times are printed). */
const RECOVERY_MS = 60_000;
const SETTLE_MS = 15_000;

// The pods, on the node each runs on: one matched, two mismatched (the broken path, the kuscia node).
const pods = [
  { namespace: honestNs, name: 'vault', node: honestNode, verdict: 'Matched' },
  { namespace: brokenNs, name: 'vault', node: honestNode, verdict: 'Mismatched' },
  { namespace: honestNs, name: 'ledger', node: kusciaNode, verdict: 'Mismatched' },
] as const;
const key = (p: { namespace: string; name: string }): string => `${p.namespace}/${p.name}`;

const k = (args: string[], input?: string): Promise<string> => kubectl(testbed, args, input);
const helmK = (args: string[]): Promise<string> => helm(args, { KUBECONFIG: testbed.kubeconfig });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Each of our pods' verdict in this audit, from its node's report status. */
async function verdicts(): Promise<Map<string, PodVerdictEntry>> {
  const found = new Map<string, PodVerdictEntry>();
  for (const node of [honestNode, kusciaNode]) {
    const entries = (await reportStatus(testbed, node.name))?.audits?.find((a) => a.name === audit)?.pods ?? [];
    for (const e of entries) found.set(key(e), e);
  }
  return found;
}

interface AgentPod {
  metadata: { name: string };
  spec: { nodeName: string };
  status: { podIP?: string; containerStatuses?: { restartCount: number; ready: boolean }[] };
}
async function agentOn(node: TestbedNode): Promise<AgentPod> {
  const list = JSON.parse(
    await k(['get', 'pods', '-n', agentNs, '-l', `app.kubernetes.io/instance=${release},app.kubernetes.io/component=agent`, '-o', 'json']),
  ) as { items: AgentPod[] };
  const agent = list.items.find((p) => p.spec.nodeName === node.name);
  assert.ok(agent, `no agent pod on ${node.name}`);
  return agent;
}

async function agentsReady(): Promise<void> {
  await eventually(async () => {
    for (const node of [honestNode, kusciaNode]) assert.ok((await agentOn(node)).status.containerStatuses?.[0]?.ready, `agent on ${node.name} Ready`);
  }, 120_000);
}

/** What the findings were before any fault: each pod's verdict and since, each mismatched pod's one event. */
interface Baseline {
  entries: Map<string, PodVerdictEntry>;
  events: Map<string, string>;
}

/** Every pod has its verdict with its since, the same single event per mismatch, and no resolution was said. */
async function assertAsBaseline(baseline: Baseline, fault: string): Promise<void> {
  const now = await verdicts();
  for (const p of pods) {
    const was = baseline.entries.get(key(p));
    const is = now.get(key(p));
    assert.deepEqual([is?.verdict, is?.reason, is?.since], [was?.verdict, was?.reason, was?.since], `${fault}: ${key(p)} is ${JSON.stringify(is)}`);
  }
  for (const p of pods) {
    const events = await podEvents(testbed, p.namespace, p.name);
    const warnings = events.filter((e) => e.reason === 'RuntimeHandlerMismatch').map((e) => e.metadata.name);
    assert.deepEqual(warnings, p.verdict === 'Mismatched' ? [baseline.events.get(key(p))] : [], `${fault}: ${key(p)}'s Warning events`);
    assert.deepEqual(
      events.filter((e) => e.reason === 'RuntimeHandlerMatched'),
      [],
      `${fault}: no resolution said for ${key(p)}`,
    );
  }
}

/**
 * The finding goes on, even where a pod is Unverified for a moment: a
 * verified entry has its first since, an Unverified one holds it.
 */
async function assertContinuous(baseline: Baseline, fault: string): Promise<number> {
  const now = await verdicts();
  let unverified = 0;
  for (const p of pods) {
    const was = baseline.entries.get(key(p));
    const is = now.get(key(p));
    const finding = is?.verdict === 'Unverified' ? is.lastVerified : is;
    if (is?.verdict === 'Unverified') unverified++;
    assert.deepEqual([finding?.verdict, finding?.since], [was?.verdict, was?.since], `${fault}: ${key(p)} is ${JSON.stringify(is)}`);
  }
  return unverified;
}

/**
 * After a fault: every finding back as it was within RECOVERY_MS; then,
 * polled every second while things settle (a kubelet resyncing pod status,
 * the node controller marking a node's pods not Ready after an API server
 * restart, an operator relisting), never a new since nor a second event;
 * and at the end every finding back again.
 */
async function sameAsBaseline(baseline: Baseline, fault: string): Promise<void> {
  const started = Date.now();
  await eventually(() => assertAsBaseline(baseline, fault), RECOVERY_MS);
  process.stdout.write(`# ${fault}: every finding back ${String(Date.now() - started)} ms after the fault ended\n`);
  let blips = 0;
  const settled = Date.now() + SETTLE_MS;
  while (Date.now() < settled) {
    blips += await assertContinuous(baseline, `${fault}, settling`);
    await sleep(1000);
  }
  if (blips > 0) process.stdout.write(`# ${fault}: ${String(blips)} pod-seconds Unverified while settling, each holding its finding\n`);
  await eventually(() => assertAsBaseline(baseline, `${fault}, settled`), RECOVERY_MS);
}

async function install(): Promise<void> {
  await installFromTree(testbed, release, system, values);
  await agentsReady();
}

describe('findings stay one finding through real operations (the chart on the testbed)', () => {
  const baseline: Baseline = { entries: new Map(), events: new Map() };

  before(async () => {
    await createNamespace(testbed, honestNs);
    await createNamespace(testbed, brokenNs);
    await k(['label', 'namespace', honestNs, brokenNs, `rcaudit-test=${id}`]);
    await install();
    await k(['apply', '-f', '-'], JSON.stringify(scopedAudit(audit, id)));
    for (const p of pods) await applyPod(testbed, { ...p, runtimeClassName: 'kata' });
    for (const p of pods) await k(['wait', '-n', p.namespace, '--for=condition=Ready', '--timeout=120s', `pod/${p.name}`]);
  });

  after(async () => {
    // Whatever happened above, leave the testbed whole.
    await runtime('start', honestNode).catch(() => undefined);
    await apiserver('start').catch(() => undefined);
    await helmK(['uninstall', release, '-n', system, '--ignore-not-found', '--wait', '--timeout', '120s']).catch(() => undefined);
    await k(['delete', 'runtimeclassaudit', audit, 'cluster', '--ignore-not-found']).catch(() => undefined);
    await k(['delete', 'clusterrolebinding', `${id}-late-reader`, '--ignore-not-found']).catch(() => undefined);
    await k(['delete', 'namespace', honestNs, brokenNs, system, agentNs, '--ignore-not-found', '--wait=false']);
  });

  test('the findings to keep: one matched pod, two mismatched with one Warning event each; kubectl get nsr shows each node at a glance', async () => {
    await eventually(async () => {
      const now = await verdicts();
      for (const p of pods) assert.equal(now.get(key(p))?.verdict, p.verdict, `${key(p)}: ${JSON.stringify(now.get(key(p)))}`);
      for (const p of pods.filter((x) => x.verdict === 'Mismatched')) {
        const events = await podEvents(testbed, p.namespace, p.name, 'RuntimeHandlerMismatch');
        assert.equal(events.length, 1);
        baseline.events.set(key(p), events[0]?.metadata.name ?? '');
      }
      for (const [k2, e] of now) baseline.entries.set(k2, e);
    }, 60_000);
    const row = (await k(['get', 'nsr', honestNode.name, '--no-headers'])).trim().split(/\s+/);
    // NAME RUNTIME VERSION REACHABLE SANDBOXES MATCHED MISMATCHED UNVERIFIED AGE
    assert.deepEqual([row[0], row[1], row[3]], [honestNode.name, 'containerd', 'true'], row.join(' '));
    assert.ok(row.slice(4, 8).every((n) => /^\d+$/.test(n)) && Number(row[6]) >= 1, row.join(' '));
    const wide = (await k(['get', 'nsr', honestNode.name, '-o', 'wide', '--no-headers'])).trim().split(/\s+/);
    assert.equal(wide[8], 'runc', `the default handler in -o wide: ${wide.join(' ')}`);
  });

  test("the agent pod deleted: the DaemonSet's new pod takes over", async () => {
    const old = await agentOn(honestNode);
    await k(['delete', 'pod', '-n', agentNs, old.metadata.name, '--wait=true']);
    const start = Date.now();
    await agentsReady();
    assert.notEqual((await agentOn(honestNode)).metadata.name, old.metadata.name);
    process.stdout.write(`# new agent Ready ${String(Date.now() - start)} ms after the old one was gone\n`);
    await sameAsBaseline(baseline, 'agent pod deleted');
  });

  test('containerd stopped for 35 s and started: RuntimeUnreachable (never Mismatched) meanwhile, then every finding back, with no agent restart', async () => {
    const agent = await agentOn(honestNode);
    const ours = pods.filter((p) => p.node === honestNode);
    await runtime('stop', honestNode);
    const stopped = Date.now();
    let unreachableAt: number | undefined;
    try {
      while (Date.now() - stopped < 35_000) {
        const now = await verdicts();
        const reasons = ours.map((p) => now.get(key(p))?.reason);
        if (reasons.every((r) => r === 'RuntimeUnreachable')) unreachableAt ??= Date.now();
        else if (unreachableAt !== undefined) assert.fail(`once the outage was seen, ${ours.map(key).join(', ')} read ${reasons.join(', ')}`);
        await sleep(1000);
      }
    } finally {
      await runtime('start', honestNode);
    }
    assert.ok(unreachableAt !== undefined, 'the outage was seen');
    process.stdout.write(`# outage seen as RuntimeUnreachable ${String(unreachableAt - stopped)} ms after containerd stopped\n`);
    await sameAsBaseline(baseline, 'containerd restarted');
    const after = await agentOn(honestNode);
    assert.equal(after.metadata.name, agent.metadata.name, 'the same agent pod');
    assert.equal(after.status.containerStatuses?.[0]?.restartCount, 0, 'never restarted: it found the new socket by itself');
  });

  test("a mismatched pod's sandbox killed: the kubelet makes a new one, and the finding goes on", async () => {
    const broken = pods[1];
    const oldSandbox = baseline.entries.get(key(broken))?.sandboxId;
    assert.ok(oldSandbox);
    const cri = criClient(honestNode);
    try {
      const status = await cri.podSandboxStatus(oldSandbox, true);
      const pid = (JSON.parse(status.info['info'] ?? '{}') as { pid?: number }).pid;
      assert.ok(pid !== undefined && pid > 0, "the pause process's pid");
      process.kill(pid, 'SIGKILL');
    } finally {
      cri.close();
    }
    await eventually(async () => {
      const now = (await verdicts()).get(key(broken));
      assert.ok(now?.sandboxId !== undefined && now.sandboxId !== oldSandbox, `a new sandbox: ${JSON.stringify(now)}`);
    }, RECOVERY_MS);
    await sameAsBaseline(baseline, 'sandbox re-created');
  });

  test('helm upgrade rolls every agent', async () => {
    const old = await agentOn(honestNode);
    await helmK([
      'upgrade',
      release,
      CHART,
      '-n',
      system,
      '--wait',
      '--timeout',
      '240s',
      ...valueArgs({ ...(await testbedImage(testbed)), ...values, 'agent.interval': '2s' }),
    ]);
    await eventually(async () => {
      const now = await agentOn(honestNode);
      assert.notEqual(now.metadata.name, old.metadata.name, 'rolled');
    }, 120_000);
    await agentsReady();
    await sameAsBaseline(baseline, 'agents rolled by helm upgrade');
  });

  test('the API server restarted; meanwhile /metrics answers a token it checked before, and 503 to one it cannot check', async () => {
    const metricsUrl = `https://${(await agentOn(honestNode)).status.podIP ?? ''}:8080/metrics`;
    const reader = `${release}-runtimeclass-audit-metrics-reader`;
    const known = await scraperToken(testbed, reader);
    assert.equal((await scrape(metricsUrl, known)).status, 200, 'checked once, remembered for two minutes');
    // A second reader, whose token the agent has never seen.
    await k(['create', 'serviceaccount', `${id}-late-reader`, '-n', system]);
    await k(['create', 'clusterrolebinding', `${id}-late-reader`, `--clusterrole=${reader}`, `--serviceaccount=${system}:${id}-late-reader`]);
    const unseen = (await k(['create', 'token', `${id}-late-reader`, '-n', system, '--duration=1h'])).trim();
    try {
      await apiserver('stop');
      const during = await scrape(metricsUrl, unseen);
      assert.equal(during.status, 503);
      assert.match(during.body, /^cannot check the scrape's token now: the TokenReview did not succeed; try again/);
      assert.equal((await scrape(metricsUrl, known)).status, 200, 'the remembered token still scrapes');
      assert.equal((await scrape(metricsUrl.replace('/metrics', '/livez'))).status, 200, 'and the agent is live');
      await sleep(5000);
    } finally {
      await apiserver('start');
    }
    const { serverVersion } = JSON.parse(await k(['version', '-o', 'json'])) as { serverVersion: { gitVersion: string } };
    assert.equal(serverVersion.gitVersion, testbed.kubernetesVersion, "restarted as the testbed's own version, not the newest pinned");
    await sameAsBaseline(baseline, 'API server restarted');
    await eventually(async () => {
      assert.equal((await scrape(metricsUrl, unseen)).status, 200, 'checked once the API server is back');
    }, 30_000);
  });

  test('helm uninstall, then helm install again', async () => {
    await helmK(['uninstall', release, '-n', system, '--wait', '--timeout', '120s']);
    await eventually(async () => {
      assert.equal((await k(['get', 'pods', '-n', agentNs, '-l', `app.kubernetes.io/instance=${release}`, '-o', 'name'])).trim(), '', 'the agents are gone');
    }, 60_000);
    await install();
    await sameAsBaseline(baseline, 'chart uninstalled and installed again');
  });
});
