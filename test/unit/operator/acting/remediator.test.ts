// The remediator (operator/acting/remediator.ts), driven by the node
// reconciler over a recorded cluster: dry run, the rate, PodDisruptionBudgets,
// the node label, and an operator not permitted to act.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KUSCIA_SANDBOX, namespace, pod, report, sandbox } from '../../../support/operator.ts';
import { AGENTS, RecordedCluster, T0, uidOf } from '../../../support/recorded-cluster.ts';

// A node whose kubelet drops every handler (kuscia's), with kata pods on it.
const ns = 'shop';
const node = 'n1';
const kata = ['a', 'b', 'c'];
const runc = KUSCIA_SANDBOX;

function cluster(remediation: Record<string, unknown>, options: { permitted?: boolean } = {}): RecordedCluster {
  const c = new RecordedCluster({ eventSeriesIntervalMs: 3_600_000, remediation: options.permitted ?? true });
  c.add(namespace(ns, { team: 'yes' }), namespace(AGENTS.namespace, {}), { apiVersion: 'v1', kind: 'Node', metadata: { name: node } });
  const agent = pod(AGENTS.namespace, `agent-${node}`, node, { labels: AGENTS.matchLabels });
  c.add({ ...agent, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } });
  c.add({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'kata' }, handler: 'kata' });
  c.add(...kata.map((name) => pod(ns, name, node, { runtimeClassName: 'kata' })));
  c.add(
    report(
      node,
      kata.map((name) => sandbox(uidOf('Pod', name, ns), { namespace: ns, name, ...runc })),
    ),
  );
  c.add({ apiVersion: 'rcaudit.dev/v1alpha1', kind: 'RuntimeClassAudit', metadata: { name: 'guard' }, spec: { remediation }, status: AUDITED });
  return c;
}

/**
 * A breaker that does not trip in the tests about other limits: every pod
 * audited may be evicted, on any number of nodes. The share counts against
 * the audited pods the audit's status says, written here as a previous pass would.
 */
const NO_BREAKER = { circuitBreaker: { percentOfAuditedPods: 100, nodes: 1000 } };
const AUDITED = { counts: { audited: 100 } };

type Condition = NonNullable<NonNullable<ReturnType<RecordedCluster['auditStatus']>>['conditions']>[number];
const remediating = (c: RecordedCluster): Condition =>
  c.auditStatus('guard')?.conditions?.find((x) => x.type === 'Remediating') ?? assert.fail('no Remediating condition');

/** The body of the Event the remediator wrote with this reason. */
const eventWritten = (c: RecordedCluster, reason: string): { message: string; involvedObject: unknown } =>
  c.api.calls.map((call) => call.body as { reason?: string; message: string; involvedObject: unknown }).find((b) => b.reason === reason) ??
  assert.fail(`no ${reason} Event`);

const evictions = (c: RecordedCluster, from = 0): string[] => c.api.writes(from).filter((w) => w.endsWith('/eviction'));
const said = (c: RecordedCluster, reason: string): string[] => [...c.api.events.values()].filter((e) => e.reason === reason).map((e) => e.message);

describe('the remediator, through the node reconciler', () => {
  test('an audit aimed at the default handler evicts nothing: only pods that asked for a non-default handler are ever evicted, unless the audit says so in words no one types by accident', async () => {
    // The attack from the review: bare pods audited, runc expected to be a VM, evict at once, 600 a minute.
    const attack = (defaultHandlerPods?: string): RecordedCluster => {
      const c = new RecordedCluster({ eventSeriesIntervalMs: 3_600_000, remediation: true });
      c.add(namespace(ns, {}), namespace(AGENTS.namespace, {}), { apiVersion: 'v1', kind: 'Node', metadata: { name: node } });
      const agent = pod(AGENTS.namespace, `agent-${node}`, node, { labels: AGENTS.matchLabels });
      c.add({ ...agent, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } });
      c.add({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'runc' }, handler: 'runc' });
      c.add(pod(ns, 'bare', node), pod(ns, 'named-runc', node, { runtimeClassName: 'runc' }));
      const onRunc = { requestedHandler: '', resolvedHandler: 'runc', runtimeType: 'io.containerd.runc.v2', evidence: { class: 'host-kernel' as const } };
      c.add(
        report(node, [
          sandbox(uidOf('Pod', 'bare', ns), { namespace: ns, name: 'bare', ...onRunc }),
          sandbox(uidOf('Pod', 'named-runc', ns), { namespace: ns, name: 'named-runc', ...onRunc, requestedHandler: 'runc' }),
        ]),
      );
      const evict = { mode: 'Enabled', afterSeconds: 0, maxPerMinute: 600, ...NO_BREAKER, ...(defaultHandlerPods === undefined ? {} : { defaultHandlerPods }) };
      c.add({
        apiVersion: 'rcaudit.dev/v1alpha1',
        kind: 'RuntimeClassAudit',
        status: AUDITED,
        metadata: { name: 'typo' },
        spec: { auditPodsWithoutRuntimeClass: true, expectedIsolation: { runc: 'vm' }, remediation: { evict } },
      });
      return c;
    };
    const spared = attack();
    spared.now = T0 + 5000;
    await spared.nodes.reconcile(node);
    const entries = spared.api.calls.find((call) => call.path.endsWith('/status'));
    assert.ok(JSON.stringify(entries?.body).includes('IsolationMismatch'), 'both pods are flagged, as the audit asks');
    assert.deepEqual(evictions(spared), [], 'and neither is evicted: they asked for the default handler');
    const meant = attack('EvictedTooIUnderstandThisCanEvictAnyPod');
    meant.now = T0 + 5000;
    await meant.nodes.reconcile(node);
    assert.equal(evictions(meant).length, 2, 'said in so many words, they are');
  });

  test('a ceiling over the cluster, whatever the audits ask: at most --max-evictions-per-minute real evictions', async () => {
    const c = new RecordedCluster({ eventSeriesIntervalMs: 3_600_000, remediation: true, maxEvictionsPerMinute: 2 });
    c.add(namespace(ns, { team: 'yes' }), namespace(AGENTS.namespace, {}), { apiVersion: 'v1', kind: 'Node', metadata: { name: node } });
    const agent = pod(AGENTS.namespace, `agent-${node}`, node, { labels: AGENTS.matchLabels });
    c.add({ ...agent, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } });
    c.add({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'kata' }, handler: 'kata' });
    const many = ['a', 'b', 'c', 'd', 'e'];
    c.add(...many.map((name) => pod(ns, name, node, { runtimeClassName: 'kata' })));
    c.add(
      report(
        node,
        many.map((name) => sandbox(uidOf('Pod', name, ns), { namespace: ns, name, ...runc })),
      ),
    );
    for (const audit of ['one', 'two']) {
      c.add({
        apiVersion: 'rcaudit.dev/v1alpha1',
        kind: 'RuntimeClassAudit',
        status: AUDITED,
        metadata: { name: audit },
        spec: { remediation: { evict: { mode: 'Enabled', afterSeconds: 0, maxPerMinute: 600, ...NO_BREAKER } } },
      });
    }
    c.now = T0 + 5000;
    const result = await c.nodes.reconcile(node);
    assert.equal(evictions(c).length, 2);
    assert.equal(result.kind, 'requeueAfter', 'the rest wait for the ceiling');
    c.now += 60_000;
    await c.nodes.reconcile(node);
    assert.equal(evictions(c).length, 4);
  });

  test('DryRun: one Event per pod it would evict, within the rate, and no eviction', async () => {
    const c = cluster({ evict: { mode: 'DryRun', afterSeconds: 60, maxPerMinute: 2 } });
    c.now = T0 + 5000;
    const first = await c.nodes.reconcile(node);
    assert.deepEqual(evictions(c), []);
    assert.deepEqual(said(c, 'RemediationDryRun'), [], 'not yet mismatched for 60 s');
    assert.equal(first.kind, 'requeueAfter', 'comes back when the first pod is due');
    c.deliverWrites();
    c.now += 61_000;
    const second = await c.nodes.reconcile(node);
    assert.deepEqual(evictions(c), []);
    assert.equal(said(c, 'RemediationDryRun').length, 2, 'two a minute');
    assert.match(said(c, 'RemediationDryRun')[0] ?? '', /^dry run: audit guard would evict this pod: Mismatched \(HandlerMismatch\) since /);
    assert.equal(second.kind, 'requeueAfter', 'the third waits for the rate');
    c.now += 60_000;
    await c.nodes.reconcile(node);
    c.now += 60_000;
    await c.nodes.reconcile(node);
    assert.equal(said(c, 'RemediationDryRun').length, 3, 'each pod said once');
    assert.deepEqual(c.remediations, ['guard evict dry-run', 'guard evict dry-run', 'guard evict dry-run']);
    // Switched on after the dry run: the same findings are acted on now.
    c.add({
      apiVersion: 'rcaudit.dev/v1alpha1',
      kind: 'RuntimeClassAudit',
      status: AUDITED,
      metadata: { name: 'guard' },
      spec: { remediation: { evict: { mode: 'Enabled', afterSeconds: 60, maxPerMinute: 5, ...NO_BREAKER } } },
    });
    c.now += 1000;
    await c.nodes.reconcile(node);
    assert.equal(evictions(c).length, 3);
  });

  test('Enabled: evicts through the Eviction API with the uid precondition, at most maxPerMinute; a PodDisruptionBudget that says no is waited out', async () => {
    const c = cluster({ evict: { mode: 'Enabled', afterSeconds: 0, maxPerMinute: 1, ...NO_BREAKER } });
    c.api.disruptionBudgetHolds.add(`${ns}/a`);
    /** One pass after `ms`, with its writes delivered; the evictions it posted. */
    const pass = async (ms: number): Promise<string[]> => {
      c.now += ms;
      await c.nodes.reconcile(node);
      const posted = evictions(c).map((w) => w.replace(`POST /api/v1/namespaces/${ns}/pods/`, ''));
      const body = c.api.calls.find((x) => x.path.endsWith('/a/eviction'))?.body as { deleteOptions: { preconditions: { uid: string } } } | undefined;
      if (body !== undefined) assert.equal(body.deleteOptions.preconditions.uid, uidOf('Pod', 'a', ns), 'never a namesake');
      c.deliverWrites();
      return posted;
    };
    c.now = T0;
    assert.deepEqual(await pass(5000), ['a/eviction', 'b/eviction']);
    assert.deepEqual(c.remediations, ['guard evict blocked', 'guard evict done'], 'the blocked one took nothing from the budget');
    assert.equal(said(c, 'EvictionBlocked').length, 1);
    assert.match(
      said(c, 'Evicted')[0] ?? '',
      /^evicted by audit guard: Mismatched \(HandlerMismatch\) since .*; its controller's replacement is judged afresh$/,
    );
    assert.deepEqual(await pass(10_000), [], 'c waits for the rate, a for its budget, b is done');
    c.api.disruptionBudgetHolds.delete(`${ns}/a`);
    assert.deepEqual(await pass(60_000), ['a/eviction']);
    assert.deepEqual(await pass(60_000), ['c/eviction']);
    assert.deepEqual(await pass(60_000), [], 'each pod once');
  });

  test('an eviction the API server fails is tried again after 30 s, with no Event and nothing taken from the budget', async () => {
    const c = cluster({ evict: { mode: 'Enabled', afterSeconds: 0, maxPerMinute: 1, ...NO_BREAKER } });
    c.api.failingEvictions.add(`${ns}/a`);
    c.now = T0 + 5000;
    await c.nodes.reconcile(node);
    c.deliverWrites();
    assert.deepEqual(c.remediations, ['guard evict failed', 'guard evict done'], 'b took the budget a did not use');
    assert.deepEqual(said(c, 'Evicted').length, 1);
    c.api.failingEvictions.delete(`${ns}/a`);
    c.now += 61_000;
    await c.nodes.reconcile(node);
    assert.deepEqual(evictions(c), [`POST /api/v1/namespaces/${ns}/pods/a/eviction`]);
  });

  test('labelNodes: the node is labelled when every sandbox lost its handler, and unlabelled when one gets it again', async () => {
    const c = cluster({ labelNodes: { mode: 'Enabled', minPods: 3 } });
    c.now = T0 + 5000;
    await c.nodes.reconcile(node);
    const patch = c.api.calls.find((x) => x.verb === 'PATCH' && x.path === `/api/v1/nodes/${node}`);
    assert.deepEqual(patch?.body, { metadata: { labels: { 'rcaudit.dev/handlers-dropped': 'true' } } });
    assert.match(said(c, 'HandlersDropped')[0] ?? '', /dropped the handler of all 3 current sandboxes/);
    c.add({ apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels: { 'rcaudit.dev/handlers-dropped': 'true' } } });
    const calls = c.api.calls.length;
    await c.nodes.reconcile(node);
    assert.deepEqual(
      c.api.writes(calls).filter((w) => w.includes('/nodes/')),
      [],
      'labelled already',
    );
    // The kubelet is mended: a new kata pod gets its handler.
    c.add(pod(ns, 'd', node, { runtimeClassName: 'kata' }));
    const sandboxes = [
      ...kata.map((name) => sandbox(uidOf('Pod', name, ns), { namespace: ns, name, ...runc })),
      sandbox(uidOf('Pod', 'd', ns), { namespace: ns, name: 'd' }),
    ];
    c.add(report(node, sandboxes));
    await c.nodes.reconcile(node);
    const unlabel = c.api.calls.filter((x) => x.verb === 'PATCH' && x.path === `/api/v1/nodes/${node}`).at(-1);
    assert.deepEqual(unlabel?.body, { metadata: { labels: { 'rcaudit.dev/handlers-dropped': null } } });
    assert.deepEqual(c.remediations, ['guard label done', 'guard unlabel done']);
  });

  test('the circuit breaker: past its share of the audited pods an audit halts, says so (status, Event, metric), and stays halted, on a new leader too, until its spec changes', async () => {
    const tight = { mode: 'Enabled', afterSeconds: 0, maxPerMinute: 600, circuitBreaker: { percentOfAuditedPods: 1 } };
    const c = cluster({ evict: tight });
    c.now = T0 + 5000;
    await c.nodes.reconcile(node);
    assert.equal(evictions(c).length, 1, '1% of the 100 audited pods is one');
    assert.deepEqual(c.remediations, ['guard evict done', 'guard evict halted']);
    const event = eventWritten(c, 'RemediationHalted');
    assert.match(event.message, /would make 2 in 1 h, more than 1% of the 100 pods this audit audits/);
    assert.deepEqual(event.involvedObject, {
      apiVersion: 'rcaudit.dev/v1alpha1',
      kind: 'RuntimeClassAudit',
      name: 'guard',
      uid: uidOf('RuntimeClassAudit', 'guard'),
    });
    c.deliverWrites();
    await c.audits.reconcile('guard');
    c.deliverWrites();
    const condition = remediating(c);
    assert.deepEqual([condition.status, condition.reason, condition.observedGeneration], ['False', 'Halted', 1]);
    assert.match(condition.message, /Nothing more is evicted for this audit until its spec changes/);

    c.now += 3_600_000;
    await c.nodes.reconcile(node);
    assert.deepEqual(evictions(c), [], 'an hour on, the window is empty, and still nothing: a person must look');

    const successor = cluster({ evict: tight });
    successor.add({
      apiVersion: 'rcaudit.dev/v1alpha1',
      kind: 'RuntimeClassAudit',
      metadata: { name: 'guard' },
      spec: { remediation: { evict: tight } },
      status: c.auditStatus('guard'),
    });
    successor.now = c.now;
    await successor.nodes.reconcile(node);
    assert.deepEqual(evictions(successor), [], 'a new leader reads the halt from the status');

    c.add({
      apiVersion: 'rcaudit.dev/v1alpha1',
      kind: 'RuntimeClassAudit',
      metadata: { name: 'guard', generation: 2 },
      spec: { remediation: { evict: { ...tight, circuitBreaker: { percentOfAuditedPods: 100 } } } },
    });
    await c.nodes.reconcile(node);
    assert.equal(evictions(c).length, 2, 'the spec changed (now every audited pod may go): the other two are evicted');
    await c.audits.reconcile('guard');
    c.deliverWrites();
    assert.deepEqual([remediating(c).status, remediating(c).reason], ['True', 'Asked']);
  });

  test("an audit deleted and created again under its name is a new audit: it does not inherit its namesake's halt", async () => {
    const tight = { mode: 'Enabled', afterSeconds: 0, maxPerMinute: 600, circuitBreaker: { percentOfAuditedPods: 1 } };
    const c = cluster({ evict: tight });
    c.now = T0 + 5000;
    await c.nodes.reconcile(node);
    assert.deepEqual(c.remediations, ['guard evict done', 'guard evict halted']);
    c.remove('audits', 'guard');
    c.add({
      apiVersion: 'rcaudit.dev/v1alpha1',
      kind: 'RuntimeClassAudit',
      metadata: { name: 'guard', uid: 'uid-guard-again' },
      spec: { remediation: { evict: { ...tight, circuitBreaker: { percentOfAuditedPods: 100 } } } },
      status: AUDITED,
    });
    await c.nodes.reconcile(node);
    assert.equal(evictions(c).length, 3, 'the new audit, at generation 1 like its namesake, evicts the other two');
  });

  test('the circuit breaker holds across node reconciles that run at once: each counts its eviction before the next one checks', async () => {
    const c = new RecordedCluster({ eventSeriesIntervalMs: 3_600_000, remediation: true });
    const nodes = ['n1', 'n2', 'n3', 'n4'];
    c.add(namespace(ns, { team: 'yes' }), namespace(AGENTS.namespace, {}));
    c.add({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'kata' }, handler: 'kata' });
    for (const n of nodes) {
      c.add({ apiVersion: 'v1', kind: 'Node', metadata: { name: n } });
      const agent = pod(AGENTS.namespace, `agent-${n}`, n, { labels: AGENTS.matchLabels });
      c.add({ ...agent, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } });
      c.add(pod(ns, `p-${n}`, n, { runtimeClassName: 'kata' }));
      c.add(report(n, [sandbox(uidOf('Pod', `p-${n}`, ns), { namespace: ns, name: `p-${n}`, ...runc })]));
    }
    // Two evictions allowed (10% of 20), on any number of nodes: four nodes at once must not make four.
    const evict = { mode: 'Enabled', afterSeconds: 0, maxPerMinute: 600, circuitBreaker: { percentOfAuditedPods: 10, nodes: 10 } };
    c.add({
      apiVersion: 'rcaudit.dev/v1alpha1',
      kind: 'RuntimeClassAudit',
      metadata: { name: 'guard' },
      spec: { remediation: { evict } },
      status: { counts: { audited: 20 } },
    });
    c.now = T0 + 5000;
    await Promise.all(nodes.map((n) => c.nodes.reconcile(n)));
    assert.equal(evictions(c).length, 2);
    assert.deepEqual(
      c.remediations.filter((r) => r.endsWith('halted')),
      ['guard evict halted'],
      'the third tripped the breaker; the fourth found it halted',
    );
  });

  test('an operator without --remediation does nothing, and the audit says why', async () => {
    const c = cluster({ evict: { mode: 'Enabled', afterSeconds: 0 }, labelNodes: { mode: 'Enabled' } }, { permitted: false });
    c.now = T0 + 5000;
    await c.nodes.reconcile(node);
    c.deliverWrites();
    await c.audits.reconcile('guard');
    c.deliverWrites();
    assert.deepEqual(evictions(c), []);
    assert.deepEqual(
      c.api.writes().filter((w) => w.includes('/nodes/')),
      [],
    );
    const condition = remediating(c);
    assert.deepEqual([condition.status, condition.reason], ['False', 'NotPermitted']);
    assert.match(condition.message, /asks for evict: Enabled, labelNodes: Enabled, but the operator runs without --remediation/);
  });
});
