// The probe reconciler in-process, over a recorded cache and a fake API
// (test/support/recorded-cluster.ts): what it creates, judges, records and
// labels. The real thing, through real kubelets, is test/e2e/probes.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ReportedSandbox } from '../../../../api/v1alpha1/node-sandbox-report.ts';
import { createLogger } from '../../../../observability/logger.ts';
import { OperatorMetrics } from '../../../../operator/metrics/metrics.ts';
import { ProbeReconciler } from '../../../../operator/reconcilers/probe-reconciler.ts';
import { probeFigures } from '../../../../operator/views/probe-view.ts';
import { fakeNode, pod, report, sandbox } from '../../../support/operator.ts';
import { AGENTS, PROBES, RecordedCluster, uidOf } from '../../../support/recorded-cluster.ts';

const [honest, kuscia, crio] = ['honest', 'kuscia', 'crio'] as const;
const gvisorHandlers = [
  { name: 'gvisor', runtimeType: 'io.containerd.runsc.v1' },
  { name: 'runc', runtimeType: 'io.containerd.runc.v2' },
];
const PROOF = 'runtimeclass.rcaudit.dev/gvisor';
const RECORD = 'probe.runtimeclass.rcaudit.dev/gvisor';

function agent(node: string): object {
  const manifest = pod(AGENTS.namespace, `agent-${node}`, node, { labels: AGENTS.matchLabels }) as { status?: unknown };
  return { ...manifest, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } };
}

/** Three nodes: one passes gvisor, one drops handlers, one has no gvisor handler; an audit that probes gvisor. */
function staged(): RecordedCluster {
  const c = new RecordedCluster();
  c.add(
    ...[honest, kuscia, crio].map(fakeNode),
    ...[honest, kuscia, crio].map(agent),
    { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'gvisor' }, handler: 'gvisor' },
    report(honest, [], { handlers: gvisorHandlers }),
    report(kuscia, [], { handlers: gvisorHandlers }),
    report(crio, [], { infoFormat: 'cri-o', handlers: [{ name: 'runc', runtimeType: 'oci' }] }),
    {
      apiVersion: 'rcaudit.dev/v1alpha1',
      kind: 'RuntimeClassAudit',
      metadata: { name: 'prove' },
      spec: { expectedIsolation: { gvisor: 'gvisor' }, probes: { runtimeClasses: ['gvisor'], deadlineSeconds: 60 } },
    },
  );
  return c;
}

/** The probe pod the reconciler asked for, as the API server would store it. */
function probePodOn(node: string, name: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: PROBES.namespace, name },
    spec: { nodeName: node, runtimeClassName: 'rcaudit-probe.gvisor', containers: [{ name: 'probe', image: PROBES.image }] },
  };
}
const probeSandbox = (name: string, over: Partial<ReportedSandbox>): ReportedSandbox =>
  sandbox(uidOf('Pod', name, PROBES.namespace), { namespace: PROBES.namespace, name, ...over });

const labelPatches = (c: RecordedCluster): Partial<Record<string, Partial<Record<string, string | null>>>> =>
  Object.fromEntries(
    c.api.calls
      .filter((call) => call.verb === 'PATCH' && call.path.startsWith('/api/v1/nodes/'))
      .map((call) => [call.path.slice('/api/v1/nodes/'.length), (call.body as { metadata: { labels: Record<string, string | null> } }).metadata.labels]),
  );

test('first pass: the shadow RuntimeClass, a probe pod on each node that has the handler, and NoSuchHandler at once where it has not', async () => {
  const c = staged();
  await c.probes.reconcile();
  assert.deepEqual(c.api.writes(), [
    'POST /apis/node.k8s.io/v1/runtimeclasses',
    `POST /api/v1/namespaces/${PROBES.namespace}/pods`,
    `POST /api/v1/namespaces/${PROBES.namespace}/pods`,
    `PATCH /api/v1/nodes/${crio}`,
  ]);
  const [shadow, ...pods] = c.api.calls.filter((call) => call.verb === 'POST').map((call) => call.body as Record<string, unknown>);
  assert.deepEqual(shadow, {
    apiVersion: 'node.k8s.io/v1',
    kind: 'RuntimeClass',
    metadata: { name: 'rcaudit-probe.gvisor', labels: { 'app.kubernetes.io/managed-by': 'runtimeclass-audit', 'app.kubernetes.io/component': 'probe' } },
    handler: 'gvisor',
  });
  const specs = pods.map(
    (p) => p['spec'] as { nodeName: string; runtimeClassName: string; automountServiceAccountToken: boolean; activeDeadlineSeconds: number },
  );
  assert.deepEqual(
    specs.map((s) => [s.nodeName, s.runtimeClassName, s.automountServiceAccountToken, s.activeDeadlineSeconds]),
    [
      [honest, 'rcaudit-probe.gvisor', false, 60],
      [kuscia, 'rcaudit-probe.gvisor', false, 60],
    ],
  );
  const crioLabels = labelPatches(c)[crio];
  assert.equal(crioLabels?.[PROOF], undefined, 'no proof');
  assert.match(String(crioLabels?.[RECORD]), /^NoSuchHandler\.[0-9a-f]{16}\.\d+$/);
});

/** One pass of `replica` over the honest Node re-created with uid `uid` and `labels`: its proof label goes, and a probe pod starts there. */
async function unlabelsAndProbes(c: RecordedCluster, replica: ProbeReconciler, labels: Record<string, string>, uid: string): Promise<void> {
  c.add({ apiVersion: 'v1', kind: 'Node', metadata: { name: honest, uid, labels: { 'rcaudit.dev/fake-node': 'true', ...labels } } });
  const from = c.api.calls.length;
  c.now += 60_000;
  await replica.reconcile();
  const writes = c.api.calls.slice(from).filter((call) => call.verb !== 'GET');
  const unlabel = writes.find((call) => call.verb === 'PATCH' && call.path === `/api/v1/nodes/${honest}`);
  assert.deepEqual((unlabel?.body as { metadata: { labels: object } } | undefined)?.metadata.labels, { [PROOF]: null }, 'the proof label goes');
  const probe = writes.find((call) => call.verb === 'POST' && call.path === `/api/v1/namespaces/${PROBES.namespace}/pods`);
  assert.equal((probe?.body as { spec: { nodeName: string } } | undefined)?.spec.nodeName, honest, 'probed again');
}

test('a judged probe: Proven labels its node and the pod goes; a dropped handler is HandlerDropped, no label; a new leader reads the records from the labels', async () => {
  const c = staged();
  await c.probes.reconcile();
  c.add(probePodOn(honest, 'gvisor-a'), probePodOn(kuscia, 'gvisor-b'));
  c.add(
    report(
      honest,
      [
        probeSandbox('gvisor-a', {
          requestedHandler: 'gvisor',
          resolvedHandler: 'gvisor',
          runtimeType: 'io.containerd.runsc.v1',
          evidence: { class: 'gvisor' },
        }),
      ],
      {
        handlers: gvisorHandlers,
      },
    ),
    report(
      kuscia,
      [probeSandbox('gvisor-b', { requestedHandler: '', resolvedHandler: 'runc', runtimeType: 'io.containerd.runc.v2', evidence: { class: 'host-kernel' } })],
      {
        handlers: gvisorHandlers,
      },
    ),
  );
  const before = c.api.calls.length;
  c.now += 5000;
  await c.probes.reconcile();
  assert.deepEqual(
    c.api
      .writes(before)
      .filter((w) => w.startsWith('DELETE'))
      .sort(),
    [`DELETE /api/v1/namespaces/${PROBES.namespace}/pods/gvisor-a`, `DELETE /api/v1/namespaces/${PROBES.namespace}/pods/gvisor-b`],
  );
  // The deletions not yet back through the watch: the next pass judges nothing twice.
  const judgedOnce = c.api.calls.length;
  c.now += 500;
  await c.probes.reconcile();
  assert.deepEqual(
    c.api.writes(judgedOnce).filter((w) => w.startsWith('DELETE')),
    [],
  );
  const patches = labelPatches(c);
  const [onHonest, onKuscia] = [patches[honest] ?? {}, patches[kuscia] ?? {}];
  assert.equal(onHonest[PROOF], 'proven');
  assert.match(String(onHonest[RECORD]), /^Proven\./);
  assert.equal(onKuscia[PROOF], undefined);
  assert.match(String(onKuscia[RECORD]), /^HandlerDropped\./);
  assert.equal(c.reportStatus(honest), undefined, 'a probe pod is never a workload verdict');

  // The labels written, as the watch brings them back; the pods gone. Then another replica takes the lead,
  // with nothing in memory: it reads the records from the labels, and neither unlabels nor probes again.
  for (const [node, labels] of Object.entries(patches)) {
    const kept = Object.fromEntries(Object.entries(labels ?? {}).filter((e): e is [string, string] => e[1] !== null));
    c.add({ apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels: { 'rcaudit.dev/fake-node': 'true', ...kept } } });
  }
  for (const name of ['gvisor-a', 'gvisor-b']) c.remove('pods', uidOf('Pod', name, PROBES.namespace));
  c.add({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'rcaudit-probe.gvisor' }, handler: 'gvisor' });
  const next = new ProbeReconciler({
    api: c.api,
    cache: c.cache,
    isLeader: () => true,
    now: () => c.now,
    log: createLogger('operator', { write: () => undefined }),
    settings: PROBES,
  });
  const fromNow = c.api.calls.length;
  c.now += 60_000;
  await next.reconcile();
  assert.deepEqual(c.api.writes(fromNow), [], 'the records hold: nothing to write');

  // The Node deleted and made again under its name (another machine, maybe), with the last one's labels as a
  // copied template would give them, and its new agent's report: neither those labels nor the records either
  // replica judged are proof for it. Its proof label goes, and it is probed again.
  const again = `${uidOf('Node', honest)}-again`;
  const honestLabels = Object.fromEntries(Object.entries(patches[honest] ?? {}).filter((e): e is [string, string] => e[1] !== null));
  c.add({
    ...(report(honest, [], { handlers: gvisorHandlers }) as { metadata: object }),
    metadata: { name: honest, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: honest, uid: again }] },
  });
  for (const replica of [c.probes, next]) await unlabelsAndProbes(c, replica, honestLabels, again);

  // Nodes gone from the cluster, and classes no audit probes any more: their records go from memory too.
  assert.deepEqual([...c.probes.records.keys()].sort(), [crio, honest, kuscia]);
  c.remove('nodes', kuscia);
  c.now += 60_000;
  await c.probes.reconcile();
  assert.deepEqual([...c.probes.records.keys()].sort(), [crio, honest], 'a node gone');
  c.remove('audits', 'prove');
  await c.probes.reconcile();
  assert.deepEqual([...(c.probes.records.get(honest)?.keys() ?? [])], [], 'a class no longer probed');
});

test('a probe that gets no sandbox by its deadline is an error, never proof, and is deleted', async () => {
  const c = staged();
  await c.probes.reconcile();
  c.add(probePodOn(honest, 'gvisor-a'));
  c.now += 30_000;
  const before = c.api.calls.length;
  await c.probes.reconcile();
  assert.deepEqual(
    c.api.writes(before).filter((w) => w.includes('gvisor-a')),
    [],
    'within its deadline: waited for',
  );
  c.now += 31_000;
  await c.probes.reconcile();
  assert.ok(c.api.writes(before).includes(`DELETE /api/v1/namespaces/${PROBES.namespace}/pods/gvisor-a`));
  assert.match(String(labelPatches(c)[honest]?.[RECORD]), /^ProbeDidNotRun\./);
  assert.equal(labelPatches(c)[honest]?.[PROOF], undefined);
});

test('a probe created but not yet brought back by the watch is in flight all the same: the next pass makes no second one', async () => {
  const c = staged();
  await c.probes.reconcile();
  const from = c.api.calls.length;
  c.now += 1000;
  await c.probes.reconcile();
  assert.deepEqual(
    c.api.writes(from).filter((w) => w.startsWith('POST') && w.endsWith('/pods')),
    [],
  );
});

test('a replica that does not lead writes nothing', async () => {
  const c = staged();
  c.leader = false;
  await c.probes.reconcile();
  assert.deepEqual(c.api.writes(), []);
});

test("the metrics: nodes per class by outcome, and one series per node that did not prove it (the alert's)", async () => {
  const c = staged();
  const metrics = new OperatorMetrics();
  metrics.collectFrom({
    verdicts: () => undefined,
    ignoredReports: () => new Map(),
    queueDepth: () => 0,
    probes: () => probeFigures(c.cache, c.probes.records),
  });
  await c.probes.reconcile();
  const text = async (name: string): Promise<string[]> => (await metrics.registry.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#'));
  assert.deepEqual(await text('rcaudit_probe_nodes'), [
    'rcaudit_probe_nodes{runtime_class="gvisor",outcome="Proven"} 0',
    'rcaudit_probe_nodes{runtime_class="gvisor",outcome="Failed"} 1',
    'rcaudit_probe_nodes{runtime_class="gvisor",outcome="Error"} 0',
    'rcaudit_probe_nodes{runtime_class="gvisor",outcome="NotProbed"} 2',
  ]);
  assert.deepEqual(await text('rcaudit_probe_failed_info'), [
    'rcaudit_probe_failed_info{runtime_class="gvisor",node="crio",outcome="Failed",reason="NoSuchHandler"} 1',
  ]);
});
