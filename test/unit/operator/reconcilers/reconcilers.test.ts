// The node and audit reconcilers in-process, over a recorded cache and a
// fake API (test/support/recorded-cluster.ts): every verdict, the report
// and audit statuses, what is written and what is not, and the clean-up
// when something is gone. What needs a real API server (watches, the
// printer columns, real Events) stays in test/integration/operator.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PodVerdictEntry, ReportedSandbox } from '../../../../api/v1alpha1/node-sandbox-report.ts';
import { NotLeader } from '../../../../operator/machinery/leader-election.ts';
import type { NodeRecord } from '../../../../operator/cache/records.ts';
import { fakeNode, KUSCIA_SANDBOX, namespace, pod, report, sandbox } from '../../../support/operator.ts';
import { AGENTS, RecordedCluster, reportPath, T0, uidOf } from '../../../support/recorded-cluster.ts';

const ns = 'team';
const [n1, n2, n3, n4] = ['n1', 'n2', 'n3', 'n4'] as const;
const AUDIT = 'strict';
const uid = (name: string): string => uidOf('Pod', name, ns);
const sb = (name: string, over: Partial<ReportedSandbox> = {}): ReportedSandbox => sandbox(uid(name), { namespace: ns, name, ...over });
const runc = KUSCIA_SANDBOX;

function audit(name: string, spec: Record<string, unknown> = {}): object {
  return {
    apiVersion: 'rcaudit.dev/v1alpha1',
    kind: 'RuntimeClassAudit',
    metadata: { name },
    spec: { namespaceSelector: { matchLabels: { team: 'yes' } }, ...spec },
  };
}

function agent(node: string, ready: boolean): object {
  const manifest = pod(AGENTS.namespace, `agent-${node}`, node, { labels: AGENTS.matchLabels }) as { status?: unknown };
  return { ...manifest, status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] } };
}

/** The integration suite's cluster: n1 speaks for six pods, n2's agent is not Ready, n3 has no report, n4's runtime does not answer. */
function staged(): RecordedCluster {
  const c = new RecordedCluster({ eventSeriesIntervalMs: 2000 });
  c.add(
    namespace(ns, { team: 'yes' }),
    namespace(AGENTS.namespace, {}),
    ...[n1, n2, n3, n4].map(fakeNode),
    { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'kata' }, handler: 'kata' },
    { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'recreated' }, handler: 'kata' },
  );
  c.add(agent(n1, true), agent(n2, false), agent(n3, true), agent(n4, true));
  c.add(
    ...['matched', 'kuscia', 'wrong-type', 'no-sandbox'].map((name) => pod(ns, name, n1, { runtimeClassName: 'kata' })),
    pod(ns, 'recreated', n1, { runtimeClassName: 'recreated' }),
    pod(ns, 'plain', n1),
    pod(ns, 'agent-down', n2, { runtimeClassName: 'kata' }),
    pod(ns, 'no-report', n3, { runtimeClassName: 'kata' }),
    pod(ns, 'unreachable', n4, { runtimeClassName: 'kata' }),
  );
  c.add(
    report(n1, [
      sb('matched'),
      sb('kuscia', runc),
      sb('wrong-type', { runtimeType: 'io.containerd.runc.v2' }),
      sb('recreated'),
      sb('plain', runc),
      sandbox('deleted-long-ago', { namespace: ns, name: 'gone' }),
      sandbox(uid('agent-down'), { namespace: ns, name: 'agent-down', id: 'claims-n2-pod' }),
    ]),
    report(n2, [sb('agent-down')]),
    report(n4, [sb('unreachable')], { reachable: false, unreachableSince: '2026-11-23T09:00:00Z', lastError: 'UNAVAILABLE' }),
    audit(AUDIT, { expectedRuntimeTypes: { kata: 'io.containerd.kata.v2' }, gracePeriodSeconds: 2, flagging: { events: true, podCondition: true } }),
  );
  return c;
}

async function reconcileNodes(c: RecordedCluster): Promise<void> {
  for (const node of c.cache.nodeNames()) await c.nodes.reconcile(node);
}

function entryOf(c: RecordedCluster, node: string, podName: string): PodVerdictEntry {
  const entry = c
    .reportStatus(node)
    ?.audits?.find((a) => a.name === AUDIT)
    ?.pods.find((p) => p.name === podName);
  assert.ok(entry, `no verdict for ${podName} on ${node}`);
  return entry;
}

test("every verdict, in the report status of the pod's node", async () => {
  const c = staged();
  await reconcileNodes(c);
  c.deliverWrites();
  const reasons = Object.fromEntries(
    [
      [n1, 'matched'],
      [n1, 'kuscia'],
      [n1, 'wrong-type'],
      [n1, 'no-sandbox'],
      [n2, 'agent-down'],
      [n4, 'unreachable'],
    ].map(([node = '', name = '']) => [name, entryOf(c, node, name).reason]),
  );
  assert.deepEqual(reasons, {
    matched: 'Matched',
    kuscia: 'HandlerMismatch',
    'wrong-type': 'RuntimeTypeMismatch',
    'no-sandbox': 'AwaitingSandbox',
    'agent-down': 'AgentNotReady',
    unreachable: 'RuntimeUnreachable',
  });
  const kuscia = entryOf(c, n1, 'kuscia');
  assert.deepEqual([kuscia.verdict, kuscia.expectedHandler, kuscia.actualHandler], ['Mismatched', 'kata', 'runc']);
  const wrongType = entryOf(c, n1, 'wrong-type');
  assert.deepEqual([wrongType.expectedRuntimeType, wrongType.actualRuntimeType], ['io.containerd.kata.v2', 'io.containerd.runc.v2']);
  const entry = c.reportStatus(n1)?.audits?.find((a) => a.name === AUDIT);
  assert.ok(entry);
  assert.equal(
    entry.pods.some((p) => p.name === 'plain'),
    false,
    'a pod without a RuntimeClass is not audited by default',
  );
  assert.equal(entry.counts.orphanSandboxes, 1, 'the sandbox of no pod is an orphan; the one of a pod without a class is not');
  assert.equal(entry.counts.suspiciousSandboxes, 1, 'a sandbox naming a pod bound to another node is set apart');
  assert.equal(c.reportStatus(n3), undefined, 'no report, no status to write');
});

test('a pod awaiting its sandbox: the reconcile comes back when its grace runs out, and then it has NoSandbox', async () => {
  const c = staged();
  c.now = T0 + 500;
  const result = await c.nodes.reconcile(n1);
  // Bound at T0 with 2 s of grace: due 1.5 s from now, and 100 ms more so the verdict has surely changed.
  assert.deepEqual(result, { kind: 'requeueAfter', ms: 1600 });
  c.deliverWrites();
  c.now = T0 + 2100;
  assert.deepEqual(await c.nodes.reconcile(n1), { kind: 'done' });
  c.deliverWrites();
  assert.equal(entryOf(c, n1, 'no-sandbox').reason, 'NoSandbox');
});

test("the audit's status sums the report statuses, and the nodes no report speaks for", async () => {
  const c = staged();
  c.now = T0 + 5000;
  await reconcileNodes(c);
  c.deliverWrites();
  await c.audits.reconcile(AUDIT);
  c.deliverWrites();
  const status = c.auditStatus(AUDIT) ?? {};
  const counts = status.counts ?? assert.fail('no counts');
  // n3's pod is counted from the cache (NoReport): there is no status to read it from.
  assert.deepEqual([counts.audited, counts.matched, counts.mismatched, counts.unverified, counts.nodesReporting, counts.nodes], [8, 2, 2, 4, 1, 4]);
  assert.equal(status.conditions?.find((x) => x.type === 'Compliant')?.status, 'False');
  assert.deepEqual(status.mismatches?.map((m) => `${m.pod}:${m.reason}`).sort(), ['kuscia:HandlerMismatch', 'wrong-type:RuntimeTypeMismatch']);
});

test("the audit's status is read from the report statuses, not from what the reconciler remembers", async () => {
  const c = staged();
  c.now = T0 + 5000;
  await reconcileNodes(c);
  c.deliverWrites();
  // Read from the statuses: an edit of n1's (here: kuscia's verdict gone) is what the audit sums, until n1 is judged again.
  const n1Report = c.cache.reports.get(n1);
  const n1Entry = n1Report?.status?.audits?.[0];
  assert.ok(n1Report?.status && n1Entry);
  const edited = {
    ...n1Entry,
    counts: { ...n1Entry.counts, audited: n1Entry.counts.audited - 1, mismatched: 1 },
    pods: n1Entry.pods.filter((p) => p.name !== 'kuscia'),
  };
  c.cache.apply('reports', n1, { ...n1Report, status: { ...n1Report.status, audits: [edited] } });
  await c.audits.reconcile(AUDIT);
  c.deliverWrites();
  const after = c.auditStatus(AUDIT)?.counts;
  assert.deepEqual([after?.audited, after?.mismatched], [7, 1]);
});

test('steady state: judging again what did not change writes nothing', async () => {
  const c = staged();
  c.now = T0 + 5000;
  await reconcileNodes(c);
  await c.audits.reconcile(AUDIT);
  c.deliverWrites();
  c.now += 1000;
  await reconcileNodes(c);
  await c.audits.reconcile(AUDIT);
  assert.deepEqual(c.api.writes(), []);
});

test('our own write still on its way back is not written twice', async () => {
  const c = staged();
  await c.nodes.reconcile(n1);
  const before = c.api.calls.length;
  await c.nodes.reconcile(n1);
  assert.deepEqual(
    c.api.writes(before).filter((w) => w.includes('nodesandboxreports')),
    [],
  );
});

test('a RuntimeClass deleted and re-created with another handler does not rewrite what the pod expected', async () => {
  const c = staged();
  c.now = T0 + 5000;
  await c.nodes.reconcile(n1);
  c.deliverWrites();
  c.remove('runtimeclasses', 'recreated');
  c.add({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'recreated' }, handler: 'runc-alt' });
  await c.nodes.reconcile(n1);
  c.deliverWrites();
  const entry = entryOf(c, n1, 'recreated');
  assert.deepEqual([entry.reason, entry.expectedHandler], ['Matched', 'kata']);
  // Event names start with the pod's name: none for this pod.
  assert.deepEqual(
    [...c.api.events.keys()].filter((name) => name.startsWith('recreated.')),
    [],
  );
});

/**
 * A new leader of `c`'s cluster (a failover, an upgrade): empty expectations
 * and event series, the same objects, statuses and Events. `before` runs
 * before its pods are first seen.
 */
function successor(c: RecordedCluster, before: (cache: RecordedCluster['cache']) => void = () => undefined): RecordedCluster {
  const next = new RecordedCluster({ eventSeriesIntervalMs: 2000 });
  next.now = c.now;
  for (const [resource, store] of Object.entries(c.cache.stores)) {
    if (resource !== 'pods') for (const [key, value] of store) next.cache.apply(resource as 'nodes', key, value as NodeRecord);
  }
  for (const [name, event] of c.api.events) next.api.events.set(name, { ...event });
  before(next.cache);
  for (const [key, value] of c.cache.pods) next.expectations.podChanged(next.cache, key, undefined, next.cache.apply('pods', key, value).now as typeof value);
  return next;
}

test('a pod first seen by a new leader keeps the handler an earlier leader captured, from the report status', async () => {
  const c = staged();
  c.now = T0 + 5000;
  await c.nodes.reconcile(n1);
  c.deliverWrites();
  // A new leader: the RuntimeClass re-created meanwhile, the report status as the old leader left it.
  const next = successor(c, (cache) => cache.apply('runtimeclasses', 'recreated', { handler: 'runc-alt' }));
  await next.nodes.reconcile(n1);
  next.deliverWrites();
  assert.equal(entryOf(next, n1, 'recreated').expectedHandler, 'kata');
});

test('a mismatched pod is flagged once: an event, a pod condition; a lasting one writes its event again only after the series interval', async () => {
  const c = staged();
  c.now = T0 + 5000;
  await c.nodes.reconcile(n1);
  const conditions = c.api.writes().filter((w) => w.endsWith('/status') && w.includes('/pods/'));
  assert.equal(conditions.length, 5, 'a condition on each pod the audit judges on n1');
  c.deliverWrites();
  const mismatches = [...c.api.events.values()].filter((e) => e.reason === 'RuntimeHandlerMismatch');
  assert.equal(mismatches.length, 2, 'kuscia and wrong-type');
  c.now += 1000;
  await c.nodes.reconcile(n1);
  assert.deepEqual(c.api.writes(), [], 'within the interval: nothing');
  c.now += 1500;
  await c.nodes.reconcile(n1);
  assert.deepEqual(
    c.api.writes().map((w) => w.split(' ')[0]),
    ['PATCH', 'PATCH'],
    'past it: each series is written once more, and nothing else',
  );
  assert.deepEqual(
    mismatches.map((e) => e.count),
    [2, 2],
  );
});

test('a new leader over statuses that show the findings makes no request; a series next due reads its Event and goes on counting', async () => {
  const c = staged();
  c.now = T0 + 5000;
  await c.nodes.reconcile(n1);
  c.deliverWrites();
  const next = successor(c);
  next.now += 100;
  await next.nodes.reconcile(n1);
  assert.deepEqual(
    next.api.calls.map((x) => `${x.verb} ${x.path}`),
    [],
    'no status, condition or event written, no event read',
  );
  next.now += 2500;
  await next.nodes.reconcile(n1);
  assert.deepEqual(
    next.api.calls.map((x) => x.verb),
    ['GET', 'PATCH', 'GET', 'PATCH'],
    'past the interval, each series reads its count once',
  );
  assert.deepEqual(
    [...next.api.events.values()].filter((e) => e.reason === 'RuntimeHandlerMismatch').map((e) => e.count),
    [2, 2],
  );
});

test('a pod that is gone takes its event series along: the same pod seen again adopts the stored event', async () => {
  const c = staged();
  c.now = T0 + 5000;
  await c.nodes.reconcile(n1);
  c.deliverWrites();
  const kusciaPod = c.cache.pods.get(uid('kuscia'));
  assert.ok(kusciaPod);
  c.remove('pods', uid('kuscia'));
  await c.nodes.reconcile(n1);
  c.deliverWrites();
  c.cache.apply('pods', uid('kuscia'), kusciaPod);
  const before = c.api.calls.length;
  await c.nodes.reconcile(n1);
  // Forgotten: it tries to create the event, finds it there, and carries its series on.
  const calls = c.api.calls
    .slice(before)
    .filter((x) => x.path.includes('/events'))
    .map((x) => x.verb);
  assert.deepEqual(calls, ['POST', 'GET']);
});

test('a report that is gone takes our write in flight along: a re-created one gets its status written', async () => {
  const c = staged();
  await c.nodes.reconcile(n2);
  const stored = c.cache.reports.get(n2);
  assert.ok(stored);
  c.remove('reports', n2);
  await c.nodes.reconcile(n2);
  c.deliverWrites();
  c.cache.apply('reports', n2, { ...stored });
  const before = c.api.calls.length;
  await c.nodes.reconcile(n2);
  assert.deepEqual(
    c.api.writes(before).filter((w) => w.includes('nodesandboxreports')),
    [`PATCH ${reportPath(n2)}`],
  );
});

test('an audit that is gone is done; its write in flight goes with it', async () => {
  const c = staged();
  await c.audits.reconcile(AUDIT);
  assert.ok(c.expectations.auditWrites.get(AUDIT, c.now));
  c.remove('audits', AUDIT);
  assert.deepEqual(await c.audits.reconcile(AUDIT), { kind: 'done' });
  assert.equal(c.expectations.auditWrites.get(AUDIT, c.now), undefined);
  await c.nodes.reconcile(n1);
  c.deliverWrites();
  assert.deepEqual(c.reportStatus(n1)?.audits, [], 'its entries leave the report statuses');
});

test('a replica that does not lead writes nothing', async () => {
  const c = staged();
  c.leader = false;
  await assert.rejects(c.nodes.reconcile(n1), NotLeader);
  await assert.rejects(c.audits.reconcile(AUDIT), NotLeader);
  assert.deepEqual(c.api.writes(), []);
});

test('a report of no Node, or of an earlier Node of that name, is ignored: no status, its pods NoReport, logged once per change', async () => {
  const c = staged();
  c.add(report('ghost', [sb('matched')]));
  c.remove('nodes', n2);
  c.add({ ...fakeNode(n2), metadata: { name: n2, uid: 'a-new-n2' } });
  for (let i = 0; i < 2; i++) {
    await c.nodes.reconcile('ghost');
    await c.nodes.reconcile(n2);
  }
  assert.deepEqual(
    c.api.writes().filter((w) => w.includes('nodesandboxreports')),
    [],
  );
  const ignored = c.logged.filter((l) => String(l['msg']).startsWith('report ignored by every audit'));
  assert.deepEqual(
    ignored.map((l) => [l['node'], l['reason']]),
    [
      ['ghost', 'NoSuchNode'],
      [n2, 'NotOwnedByNode'],
    ],
  );
  await c.audits.reconcile(AUDIT);
  c.deliverWrites();
  assert.equal(c.auditStatus(AUDIT)?.counts?.unverified, 4, "n2's pod is NoReport, n3's too, n4's unreachable, and n1's awaiting its sandbox");
});

/** "pod:reason" for each pod an audit judged on a node, sorted. */
const reasonsIn = (c: RecordedCluster, node: string, auditName: string): string[] =>
  (c.reportStatus(node)?.audits?.find((a) => a.name === auditName)?.pods ?? []).map((p) => `${p.name}:${p.reason}`).sort();

test('an audit that requires RuntimeClasses flags every pod outside them, bare ones too, and shows coverage and the names that do not exist', async () => {
  const c = staged();
  c.add(audit('payments', { requiredRuntimeClasses: ['kata', 'gvizor'] }));
  c.now = T0 + 5000;
  await reconcileNodes(c);
  c.deliverWrites();
  await c.audits.reconcile('payments');
  c.deliverWrites();
  assert.deepEqual(reasonsIn(c, n1, 'payments'), [
    'kuscia:HandlerMismatch',
    'matched:Matched',
    'no-sandbox:AwaitingSandbox',
    'plain:RuntimeClassNotAllowed',
    'recreated:RuntimeClassNotAllowed',
    'wrong-type:Matched',
  ]);
  const warned = [...c.api.events.values()].filter((e) => e.reason === 'RuntimeHandlerMismatch' && e.message.includes('RuntimeClassNotAllowed'));
  assert.deepEqual(warned.map((e) => e.message).sort(), [
    'audit payments requires a RuntimeClass from its requiredRuntimeClasses in this namespace, but the pod names RuntimeClass recreated (RuntimeClassNotAllowed)',
    'audit payments requires a RuntimeClass from its requiredRuntimeClasses in this namespace, but the pod names no RuntimeClass (RuntimeClassNotAllowed)',
  ]);
  const status = c.auditStatus('payments') ?? assert.fail('no status');
  assert.deepEqual(status.mismatches?.map((m) => `${m.pod}:${m.reason}:${m.expectedHandler}`).sort(), [
    'kuscia:HandlerMismatch:kata',
    'plain:RuntimeClassNotAllowed:',
    'recreated:RuntimeClassNotAllowed:',
  ]);
  const resolved = status.conditions?.find((x) => x.type === 'PolicyResolved') ?? assert.fail('no PolicyResolved');
  assert.deepEqual([resolved.status, resolved.reason], ['False', 'RuntimeClassNotFound']);
  assert.match(resolved.message, /gvizor/);
  // n1, n2, n4 report kata; n3 has no report and its Node no runtimeHandlers.
  assert.deepEqual(status.runtimeClasses, [{ name: 'kata', handler: 'kata', nodes: 4, covered: 3, uncovered: 0, unknown: 1 }]);
  const counts = status.counts ?? assert.fail('no counts');
  assert.deepEqual([counts.uncoveredRuntimeClasses, counts.driftingRuntimeClasses], [0, 0]);

  // Steady (within the event series interval): nothing written again; a policy finding keeps its since.
  const writes = c.api.calls.length;
  c.now += 1000;
  await reconcileNodes(c);
  await c.audits.reconcile('payments');
  assert.deepEqual(c.api.writes(writes), []);
});
