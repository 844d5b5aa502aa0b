// Policy, handler coverage and remediation, done by the chart's own pods on
// the real testbed: a namespace required to use gVisor, RuntimeClasses
// checked against the handlers the nodes' runtimes really have, evictions
// through the Eviction API under a PodDisruptionBudget and the audit's
// rate, the kuscia node (whose kubelet path drops every handler) labelled
// and, once its path is mended, unlabelled; and the RBAC that remediation
// needs granted only with the chart value, checked with `kubectl auth can-i`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PodVerdictEntry } from '../../api/v1alpha1/node-sandbox-report.ts';
import { HANDLERS_DROPPED_LABEL, type RuntimeClassAuditStatus } from '../../api/v1alpha1/runtime-class-audit.ts';
import { CHART, helm, installFromTree, installNames, testbedValues } from '../support/chart.ts';
import { auditStatus, metricValue, podEvents, reportStatus, type EventView } from '../support/operator.ts';
import { pausePod } from '../support/pods.ts';
import { scrapeMetrics, scraperToken } from '../support/scrape.ts';
import { createNamespace, criProxy, eventually, kubectl, loadTestbed, testbedNode, type TestbedNode } from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const [honestNode, kusciaNode, crioNode] = [testbedNode(testbed, 0), testbedNode(testbed, 1), testbedNode(testbed, 2)];
const { id, system, agentNs, brokenNs } = installNames('policy');
const release = 'rcaudit-policy';
// One namespace per audit: required RuntimeClasses, evictions (on the broken path), the node label (on the kuscia node).
const payNs = `${id}-pay`;
const kusciaNs = `${id}-kuscia`;
const audits = { required: `${id}-required`, evict: `${id}-evict`, label: `${id}-label` };
/** gVisor's handler, kept by a node selector to the honest node (which has it) and the CRI-O node (which has not). */
const selectedClass = `${id}-sel`;
const SELECT_LABEL = 'rcaudit-test-sel';
const operatorAccount = `system:serviceaccount:${system}:${release}-runtimeclass-audit-operator`;
const values = {
  ...testbedValues(testbed),
  'agent.namespace': { name: agentNs, create: true },
  'agent.interval': '1s',
  'defaultAudit.enabled': false,
  'remediation.enabled': true,
};

const k = (args: string[], input?: string): Promise<string> => kubectl(testbed, args, input);
const helmK = (args: string[]): Promise<string> => helm(args, { KUBECONFIG: testbed.kubeconfig });
const apply = (o: object): Promise<string> => k(['apply', '-f', '-'], JSON.stringify(o));

function audit(name: string, policy: string, spec: Record<string, unknown>): object {
  return {
    apiVersion: 'rcaudit.dev/v1alpha1',
    kind: 'RuntimeClassAudit',
    metadata: { name },
    spec: { namespaceSelector: { matchLabels: { 'rcaudit-test': id, policy } }, ...spec },
  };
}

/** The entries an audit gives the pods on a node, by pod name. */
async function entries(node: TestbedNode, auditName: string): Promise<Map<string, PodVerdictEntry>> {
  const pods = (await reportStatus(testbed, node.name))?.audits?.find((a) => a.name === auditName)?.pods ?? [];
  return new Map(pods.map((p) => [p.name, p]));
}

async function nodeEvents(node: TestbedNode, reason: string): Promise<EventView[]> {
  const list = JSON.parse(
    await k(['get', 'events', '-n', 'default', '--field-selector', `involvedObject.kind=Node,involvedObject.name=${node.name},reason=${reason}`, '-o', 'json']),
  ) as { items: EventView[] };
  return list.items.filter((e) => e.message.includes(audits.label));
}

async function nodeLabel(node: TestbedNode): Promise<string> {
  return (await k(['get', 'node', node.name, '-o', `jsonpath={.metadata.labels.${HANDLERS_DROPPED_LABEL.replace(/\./g, '\\.')}}`])).trim();
}

/** The leading operator's /metrics, scraped from the host as Prometheus would. */
async function operatorMetrics(): Promise<string> {
  const ip = (await k(['get', 'pods', '-n', system, '-l', 'app.kubernetes.io/component=operator', '-o', 'jsonpath={.items[0].status.podIP}'])).trim();
  return scrapeMetrics(`https://${ip}:8080/metrics`, await scraperToken(testbed, `${release}-runtimeclass-audit-metrics-reader`));
}

/** `kubectl auth can-i` as the operator's ServiceAccount; resource as "pods/eviction" for a subresource. */
async function canI(verb: string, resource: string, namespace?: string): Promise<boolean> {
  const [plural = '', subresource] = resource.split('/');
  const args = [
    'auth',
    'can-i',
    verb,
    plural,
    ...(subresource === undefined ? [] : [`--subresource=${subresource}`]),
    '--as',
    operatorAccount,
    ...(namespace === undefined ? [] : ['-n', namespace]),
  ];
  // kubectl auth can-i answers "no" with exit status 1.
  return (await k(args).catch((err: unknown) => (err as { stdout?: string }).stdout ?? '')).trim() === 'yes';
}

/** Each RuntimeClass's coverage in an audit's status, in a line. */
const coverageSaid = (status: RuntimeClassAuditStatus): string[] =>
  (status.runtimeClasses ?? []).map(
    (c) =>
      `${c.name}: ${c.handler} admits ${String(c.nodes)}, ${String(c.covered)} covered, ${String(c.uncovered)} uncovered (${(c.uncoveredNodes ?? []).join(', ')})`,
  );

/** One column of `kubectl get audit NAME -o wide`. */
async function wideColumn(name: string, column: string): Promise<string | undefined> {
  const [header = '', row = ''] = (await k(['get', 'audit', name, '-o', 'wide'])).trim().split('\n');
  return row.split(/\s{2,}/)[header.split(/\s{2,}/).indexOf(column)];
}

interface PodView {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
}
async function webPods(): Promise<PodView[]> {
  return (JSON.parse(await k(['get', 'pods', '-n', brokenNs, '-l', 'app=web', '-o', 'json'])) as { items: PodView[] }).items.filter(
    (p) => p.metadata.deletionTimestamp === undefined,
  );
}

/** rcaudit's remediation Events in the broken namespace with this reason (they outlive the evicted pods). */
async function remediationEvents(reason: string): Promise<(EventView & { firstTimestamp: string })[]> {
  const list = JSON.parse(await k(['get', 'events', '-n', brokenNs, '--field-selector', `reason=${reason}`, '-o', 'json'])) as {
    items: (EventView & { firstTimestamp: string })[];
  };
  return list.items;
}

const web = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: brokenNs },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        nodeName: honestNode.name,
        runtimeClassName: 'kata',
        terminationGracePeriodSeconds: 1,
        automountServiceAccountToken: false,
        containers: [{ name: 'main', image: testbed.pauseImage, imagePullPolicy: 'Never' }],
      },
    },
  },
};
const budget = (minAvailable: number): object => ({
  apiVersion: 'policy/v1',
  kind: 'PodDisruptionBudget',
  metadata: { name: 'web', namespace: brokenNs },
  spec: { minAvailable, selector: { matchLabels: { app: 'web' } } },
});

describe('policy, coverage and remediation with the chart on the testbed', { timeout: 900_000 }, () => {
  before(async () => {
    for (const [ns, policy] of [
      [payNs, 'required'],
      [brokenNs, 'evict'],
      [kusciaNs, 'label'],
    ] as const) {
      await createNamespace(testbed, ns);
      await k(['label', 'namespace', ns, `rcaudit-test=${id}`, `policy=${policy}`]);
    }
    await k(['label', 'node', honestNode.name, crioNode.name, `${SELECT_LABEL}=${id}`, '--overwrite']);
    await apply({
      apiVersion: 'node.k8s.io/v1',
      kind: 'RuntimeClass',
      metadata: { name: selectedClass },
      handler: 'gvisor',
      scheduling: { nodeSelector: { [SELECT_LABEL]: id } },
    });
    await installFromTree(testbed, release, system, values);
  });

  after(async () => {
    // Whatever happened above, leave the testbed whole: the kuscia node drops every handler again.
    await criProxy('stop', kusciaNode).catch(() => undefined);
    await criProxy('start', kusciaNode).catch(() => undefined);
    await helmK(['uninstall', release, '-n', system, '--ignore-not-found', '--wait', '--timeout', '120s']).catch(() => undefined);
    await k(['delete', 'runtimeclassaudit', ...Object.values(audits), '--ignore-not-found']).catch(() => undefined);
    await k(['delete', 'runtimeclass', selectedClass, '--ignore-not-found']).catch(() => undefined);
    await k(['label', 'node', ...testbed.nodes.map((n) => n.name), `${SELECT_LABEL}-`, `${HANDLERS_DROPPED_LABEL}-`]).catch(() => undefined);
    await k(['delete', 'namespace', payNs, brokenNs, kusciaNs, system, agentNs, '--ignore-not-found', '--wait=false']);
  });

  test('a namespace required to use gVisor: a plain pod and a kata pod are Mismatched (RuntimeClassNotAllowed) with an event and a metric; the gVisor pod is not', async () => {
    await apply(audit(audits.required, 'required', { requiredRuntimeClasses: ['gvisor', selectedClass] }));
    const pods = { plain: undefined, kata: 'kata', gvisor: 'gvisor' } as const;
    for (const [name, runtimeClassName] of Object.entries(pods)) await apply(pausePod(testbed, { namespace: payNs, name, node: honestNode, runtimeClassName }));
    await k(['wait', '-n', payNs, '--for=condition=Ready', '--timeout=120s', ...Object.keys(pods).map((n) => `pod/${n}`)]);
    await eventually(async () => {
      const found = await entries(honestNode, audits.required);
      assert.deepEqual([...found.values()].map((p) => `${p.name}:${p.verdict}:${p.reason}`).sort(), [
        'gvisor:Matched:Matched',
        'kata:Mismatched:RuntimeClassNotAllowed',
        'plain:Mismatched:RuntimeClassNotAllowed',
      ]);
      const [plain] = await podEvents(testbed, payNs, 'plain', 'RuntimeHandlerMismatch');
      assert.equal(
        plain?.message,
        `audit ${audits.required} requires a RuntimeClass from its requiredRuntimeClasses in this namespace, but the pod names no RuntimeClass (RuntimeClassNotAllowed)`,
      );
      assert.match(
        (await podEvents(testbed, payNs, 'kata', 'RuntimeHandlerMismatch'))[0]?.message ?? '',
        /names RuntimeClass kata \(RuntimeClassNotAllowed\)$/,
      );
      assert.deepEqual(await podEvents(testbed, payNs, 'gvisor', 'RuntimeHandlerMismatch'), []);
      const metrics = await operatorMetrics();
      assert.equal(metricValue(metrics, 'rcaudit_pod_mismatch_info', { audit: audits.required, pod: 'plain', reason: 'RuntimeClassNotAllowed' }), 1);
      assert.equal(metricValue(metrics, 'rcaudit_pods', { audit: audits.required, verdict: 'Mismatched', reason: 'RuntimeClassNotAllowed' }), 2);
    }, 90_000);
  });

  test("handler coverage: gVisor's handler is missing on the CRI-O node, which both RuntimeClasses admit; kubectl get audits -o wide counts them", async () => {
    await eventually(async () => {
      const status = (await auditStatus(testbed, audits.required)) ?? assert.fail('no status');
      assert.deepEqual(coverageSaid(status), [
        `gvisor: gvisor admits 3, 2 covered, 1 uncovered (${crioNode.name})`,
        `${selectedClass}: gvisor admits 2, 1 covered, 1 uncovered (${crioNode.name})`,
      ]);
      const covered = status.conditions?.find((c) => c.type === 'HandlersCovered') ?? assert.fail('no HandlersCovered');
      assert.equal(covered.status, 'False');
      assert.match(covered.message, new RegExp(`gvisor \\(handler gvisor\\): 1 of 3 nodes lack it, e\\.g\\. ${crioNode.name}`));
      assert.equal(status.conditions?.find((c) => c.type === 'PolicyResolved')?.status, 'True');
      assert.equal(await wideColumn(audits.required, 'UNCOVERED'), '2');
      const metrics = await operatorMetrics();
      assert.equal(metricValue(metrics, 'rcaudit_runtimeclass_nodes', { runtime_class: selectedClass, coverage: 'uncovered' }), 1);
      assert.equal(metricValue(metrics, 'rcaudit_runtimeclass_nodes', { runtime_class: selectedClass, coverage: 'covered' }), 1);
    }, 60_000);
  });

  test('eviction in DryRun: an Event on each broken-path pod it would evict, and nothing evicted', async () => {
    await apply(web);
    await apply(budget(2));
    await k(['rollout', 'status', '-n', brokenNs, 'deployment/web', '--timeout=120s']);
    const before = (await webPods()).map((p) => p.metadata.uid).sort();
    await apply(audit(audits.evict, 'evict', { remediation: { evict: { mode: 'DryRun', afterSeconds: 0, maxPerMinute: 60 } } }));
    await eventually(async () => {
      const said = await remediationEvents('RemediationDryRun');
      assert.equal(said.length, 2, JSON.stringify(said.map((e) => e.message)));
      for (const e of said)
        assert.match(e.message, new RegExp(`^dry run: audit ${audits.evict} would evict this pod: Mismatched \\(HandlerMismatch\\) since `));
    }, 90_000);
    assert.deepEqual((await webPods()).map((p) => p.metadata.uid).sort(), before, 'the same pods');
    assert.deepEqual(await remediationEvents('Evicted'), []);
  });

  test('eviction Enabled: a PodDisruptionBudget that allows none holds; once it allows one, pods are evicted at most one a minute, and each replacement is judged afresh', async () => {
    const originals = new Set((await webPods()).map((p) => p.metadata.uid));
    // The circuit breaker is the next test's: here every audited pod may go, for the rate to show.
    const evict = { mode: 'Enabled', afterSeconds: 0, maxPerMinute: 1, circuitBreaker: { percentOfAuditedPods: 100 } };
    await apply(audit(audits.evict, 'evict', { remediation: { evict } }));
    await eventually(async () => {
      assert.ok((await remediationEvents('EvictionBlocked')).length > 0, 'the budget said no');
    }, 90_000);
    assert.deepEqual(new Set((await webPods()).map((p) => p.metadata.uid)), originals, 'nothing evicted while the budget allows none');
    await apply(budget(1));
    const evicted = await eventually(async () => {
      const done = await remediationEvents('Evicted');
      assert.ok(done.length >= 2, `${String(done.length)} evicted so far`);
      return done;
    }, 240_000);
    // Stop the churn: every replacement is on the broken path too.
    await apply(audit(audits.evict, 'evict', { remediation: { evict: { mode: 'Disabled' } } }));
    const times = evicted.map((e) => Date.parse(e.firstTimestamp)).sort((a, b) => a - b);
    for (let i = 1; i < times.length; i++)
      assert.ok((times[i] ?? 0) - (times[i - 1] ?? 0) >= 59_000, `evictions ${String(i - 1)} and ${String(i)} within a minute: ${JSON.stringify(times)}`);
    for (const e of evicted) assert.match(e.message, new RegExp(`^evicted by audit ${audits.evict}: Mismatched \\(HandlerMismatch\\) since `));
    await eventually(async () => {
      const replacements = (await webPods()).filter((p) => !originals.has(p.metadata.uid));
      assert.ok(replacements.length > 0, 'the Deployment replaced what was evicted');
      const found = await entries(honestNode, audits.evict);
      for (const p of replacements) {
        const entry = found.get(p.metadata.name);
        assert.deepEqual([entry?.uid, entry?.verdict, entry?.reason], [p.metadata.uid, 'Mismatched', 'HandlerMismatch'], `${p.metadata.name} judged afresh`);
        assert.equal((await podEvents(testbed, brokenNs, p.metadata.name, 'RuntimeHandlerMismatch')).length, 1);
      }
    }, 90_000);
  });

  test('the circuit breaker: an audit whose evictions pass its share of the audited pods halts, says so in its status, an Event and a metric, and evicts nothing more until its spec changes', async () => {
    const evictedBefore = (await remediationEvents('Evicted')).length;
    // The defaults: 10% of the audit's two pods (three while one is replaced) allows one eviction an hour; the second trips it.
    await apply(audit(audits.evict, 'evict', { remediation: { evict: { mode: 'Enabled', afterSeconds: 0, maxPerMinute: 60 } } }));
    const halted = await eventually(async () => {
      const status = (await auditStatus(testbed, audits.evict)) ?? assert.fail('no status');
      const condition = status.conditions?.find((c) => c.type === 'Remediating');
      assert.equal(condition?.reason, 'Halted', JSON.stringify(condition));
      return condition;
    }, 90_000);
    assert.equal(halted.status, 'False');
    assert.match(
      halted.message,
      /^evictions halted by the circuit breaker \(spec\.remediation\.evict\.circuitBreaker\): one more eviction would make 2 in 1 h, more than 10% of the \d+ pods this audit audits \(1\)/,
    );
    const said = JSON.parse(
      await k([
        'get',
        'events',
        '-n',
        'default',
        '--field-selector',
        `involvedObject.kind=RuntimeClassAudit,involvedObject.name=${audits.evict},reason=RemediationHalted`,
        '-o',
        'json',
      ]),
    ) as { items: EventView[] };
    // The previous test's audit (every pod may go) may have tripped too, at its third eviction: an Event of its own.
    assert.ok(
      said.items.some((e) => e.message === halted.message),
      JSON.stringify(said.items.map((e) => e.message)),
    );
    assert.equal(metricValue(await operatorMetrics(), 'rcaudit_remediation_halted', { audit: audits.evict }), 1);
    assert.ok((metricValue(await operatorMetrics(), 'rcaudit_remediations_total', { audit: audits.evict, action: 'evict', outcome: 'halted' }) ?? 0) >= 1);
    // The replacement of the one evicted pod is on the broken path too, and due at once: it stays.
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    assert.equal((await remediationEvents('Evicted')).length, evictedBefore + 1, 'one eviction, then the halt');
    await apply(audit(audits.evict, 'evict', { remediation: { evict: { mode: 'Disabled' } } }));
    await eventually(async () => {
      const condition = (await auditStatus(testbed, audits.evict))?.conditions?.find((c) => c.type === 'Remediating');
      assert.equal(condition?.reason, 'NotAsked', 'the spec changed: the halt is lifted');
      assert.equal(metricValue(await operatorMetrics(), 'rcaudit_remediation_halted', { audit: audits.evict }), 0);
    }, 60_000);
  });

  test('the kuscia node is labelled when every kata sandbox on it lost its handler, and unlabelled once its kubelet path passes handlers again', async () => {
    await apply(audit(audits.label, 'label', { remediation: { labelNodes: { mode: 'Enabled', minPods: 2 } } }));
    for (const name of ['a', 'b']) await apply(pausePod(testbed, { namespace: kusciaNs, name, node: kusciaNode, runtimeClassName: 'kata' }));
    await k(['wait', '-n', kusciaNs, '--for=condition=Ready', '--timeout=120s', 'pod/a', 'pod/b']);
    await eventually(async () => {
      assert.equal(await nodeLabel(kusciaNode), 'true');
      const [dropped] = await nodeEvents(kusciaNode, 'HandlersDropped');
      assert.match(dropped?.message ?? '', /^labelled rcaudit\.dev\/handlers-dropped=true: its kubelet dropped the handler of all 2 current sandboxes/);
    }, 90_000);
    assert.equal(await nodeLabel(honestNode), '', 'the honest node passes handlers');
    // Mend the path: the proxy now blanks only the broken-* namespaces, as on the other nodes.
    await criProxy('stop', kusciaNode);
    await criProxy('start', kusciaNode, '^broken(-.*)?$');
    await apply(pausePod(testbed, { namespace: kusciaNs, name: 'mended', node: kusciaNode, runtimeClassName: 'kata' }));
    await k(['wait', '-n', kusciaNs, '--for=condition=Ready', '--timeout=120s', 'pod/mended']);
    await eventually(async () => {
      assert.equal(await nodeLabel(kusciaNode), '');
      const [passed] = await nodeEvents(kusciaNode, 'HandlersPassed');
      assert.match(passed?.message ?? '', /^removed rcaudit\.dev\/handlers-dropped: its kubelet passed a non-default handler again/);
      const metrics = await operatorMetrics();
      assert.equal(metricValue(metrics, 'rcaudit_remediations_total', { audit: audits.label, action: 'label', outcome: 'done' }), 1);
      assert.equal(metricValue(metrics, 'rcaudit_remediations_total', { audit: audits.label, action: 'unlabel', outcome: 'done' }), 1);
    }, 90_000);
    await criProxy('stop', kusciaNode);
    await criProxy('start', kusciaNode);
  });

  test("remediation's RBAC comes only with remediation.enabled, checked both ways; without it an audit that asks says it is not permitted", async () => {
    assert.deepEqual(
      [await canI('create', 'pods/eviction', brokenNs), await canI('patch', 'nodes'), await canI('delete', 'pods', brokenNs), await canI('update', 'nodes')],
      [true, true, false, false],
    );
    await helmK(['upgrade', release, CHART, '-n', system, '--reuse-values', '--set', 'remediation.enabled=false', '--wait', '--timeout', '240s']);
    assert.deepEqual([await canI('create', 'pods/eviction', brokenNs), await canI('patch', 'nodes')], [false, false]);
    await eventually(async () => {
      const remediating = (await auditStatus(testbed, audits.label))?.conditions?.find((c) => c.type === 'Remediating');
      assert.deepEqual([remediating?.status, remediating?.reason], ['False', 'NotPermitted']);
    }, 90_000);
  });
});
