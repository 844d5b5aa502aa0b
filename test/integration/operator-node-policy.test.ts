// The chart's policies on the operator's writes (remediation.enabled,
// probes.enabled), on the real API server: the operator's account may
// change its own labels on a Node (rcaudit.dev/, and the probes'
// runtimeclass.rcaudit.dev/ and probe.runtimeclass.rcaudit.dev/) and nothing
// else of it, and create or delete only its probes' shadow RuntimeClasses,
// with a handler and nothing else; everyone else is untouched. The same for
// the account of the Job that withdraws the proofs (a Helm hook, with
// policies of its own, since the operator's are gone when it runs).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { render } from '../support/chart.ts';
import { applyObjects, createNamespace, eventually, kubectl, loadTestbed, uniqueName } from '../../hack/testbed/testbed.ts';
import { applyChartRoles } from '../support/rbac.ts';
import { fakeNode } from '../support/operator.ts';

const testbed = loadTestbed();
const id = uniqueName('opnode');
const scope = { release: id, namespace: `${id}-system` };
const account = `${id}-runtimeclass-audit-operator`;
const policy = `${id}-runtimeclass-audit-operator-own-labels`;
const classPolicy = `${id}-runtimeclass-audit-operator-probe-classes`;
const chartValues = { 'remediation.enabled': true, 'probes.enabled': true };
const node = `${id}-node`;
const withdrawal = `${id}-runtimeclass-audit-withdraw-proofs`;

before(async () => {
  await createNamespace(testbed, scope.namespace);
  // The probes' Role lives in the probe namespace, which the chart would create.
  await createNamespace(testbed, `${scope.namespace}-probes`);
  const { clusterRole } = await applyChartRoles(testbed, 'operator', scope, chartValues);
  await kubectl(testbed, ['create', 'serviceaccount', account, '-n', scope.namespace]);
  await kubectl(testbed, ['create', 'clusterrolebinding', id, `--clusterrole=${clusterRole}`, `--serviceaccount=${scope.namespace}:${account}`]);
  const rendered = await render(chartValues, scope);
  await applyObjects(
    testbed,
    rendered.filter((o) => o.metadata.name === policy || o.metadata.name === classPolicy),
  );
  // The withdrawal hook's account, grants and policies, as Helm makes them before its Job.
  await applyObjects(
    testbed,
    rendered.filter((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'withdraw-proofs' && o.kind !== 'Job'),
  );
  const labelled = fakeNode(node) as { metadata: { labels: Record<string, string>; annotations?: Record<string, string> } };
  labelled.metadata.labels['team'] = 'a';
  labelled.metadata.annotations = { note: 'kept' };
  await applyObjects(testbed, [labelled]);
});

after(async () => {
  await kubectl(testbed, ['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', policy, classPolicy, '--ignore-not-found']);
  await kubectl(testbed, [
    'delete',
    'validatingadmissionpolicybinding,validatingadmissionpolicy',
    `${withdrawal}-nodes`,
    `${withdrawal}-classes`,
    '--ignore-not-found',
  ]);
  await kubectl(testbed, ['delete', 'clusterrolebinding,clusterrole', withdrawal, '--ignore-not-found']);
  await kubectl(testbed, ['delete', 'runtimeclass', `rcaudit-probe.${id}`, `rcaudit-probe.${id}-w`, `${id}-other`, '--ignore-not-found']);
  await kubectl(testbed, ['delete', 'clusterrolebinding', id, '--ignore-not-found']);
  await kubectl(testbed, ['delete', 'clusterrole', `${id}-runtimeclass-audit-operator`, '--ignore-not-found']);
  await kubectl(testbed, ['delete', 'node', node, '--ignore-not-found']);
  await kubectl(testbed, ['delete', 'namespace', scope.namespace, `${scope.namespace}-probes`, '--wait=false']);
});

/** A merge patch of the node as the operator's account (or another of the release's); the error text when refused. */
async function asOperator(patch: object, as = account): Promise<string | undefined> {
  try {
    await kubectl(testbed, ['patch', 'node', node, '--type=merge', '-p', JSON.stringify(patch), `--as=system:serviceaccount:${scope.namespace}:${as}`]);
    return undefined;
  } catch (err) {
    return (err as { stderr?: string }).stderr ?? String(err);
  }
}

test("the operator's account changes its own labels on a Node, and nothing else of it", async () => {
  const labelsOnly = /the runtimeclass-audit operator may change only its own labels on a Node/;
  // A policy takes a moment to be enforced once created: wait with a change that is a change every time (a
  // patch that went through before would make the same patch again no change at all, rightly let through).
  let attempt = 0;
  await eventually(async () => {
    attempt++;
    assert.match((await asOperator({ metadata: { labels: { probe: String(attempt) } } })) ?? 'accepted', labelsOnly);
  }, 30_000);
  await kubectl(testbed, ['label', 'node', node, 'probe-']);
  assert.match((await asOperator({ metadata: { labels: { team: 'b' } } })) ?? 'accepted', labelsOnly);
  assert.equal(await asOperator({ metadata: { labels: { 'rcaudit.dev/handlers-dropped': 'true' } } }), undefined);
  assert.match((await asOperator({ metadata: { labels: { other: 'x' } } })) ?? 'accepted', labelsOnly);
  // The probes' two prefixes, and nothing that only ends like them.
  const proof = { 'runtimeclass.rcaudit.dev/gvisor': 'proven', 'probe.runtimeclass.rcaudit.dev/gvisor': 'Proven.0123456789abcdef.1' };
  assert.equal(await asOperator({ metadata: { labels: proof } }), undefined);
  assert.match((await asOperator({ metadata: { labels: { 'evil.runtimeclass.rcaudit.dev/x': 'y' } } })) ?? 'accepted', labelsOnly);
  assert.equal(
    await asOperator({ metadata: { labels: { 'runtimeclass.rcaudit.dev/gvisor': null, 'probe.runtimeclass.rcaudit.dev/gvisor': null } } }),
    undefined,
  );
  assert.match((await asOperator({ metadata: { labels: { team: null } } })) ?? 'accepted', labelsOnly);
  const specAndNotes = /may not change a Node's annotations or spec/;
  assert.match((await asOperator({ metadata: { annotations: { note: 'changed' } } })) ?? 'accepted', specAndNotes);
  assert.match((await asOperator({ spec: { unschedulable: true } })) ?? 'accepted', specAndNotes);
  assert.match((await asOperator({ spec: { taints: [{ key: 'evil', effect: 'NoSchedule' }] } })) ?? 'accepted', specAndNotes);
  assert.equal(await asOperator({ metadata: { labels: { 'rcaudit.dev/handlers-dropped': null } } }), undefined);
  // Anyone else, as before.
  await kubectl(testbed, ['label', 'node', node, 'team=c', '--overwrite']);
  const stored = JSON.parse(await kubectl(testbed, ['get', 'node', node, '-o', 'json'])) as {
    metadata: { labels: Record<string, string> };
    spec: Record<string, unknown>;
  };
  assert.equal(stored.metadata.labels['team'], 'c');
  assert.equal('rcaudit.dev/handlers-dropped' in stored.metadata.labels, false);
  assert.equal(stored.spec['unschedulable'], undefined);
});

/** Creates a RuntimeClass (an object) or deletes one (a name) as the operator's account (or another); the error text when refused. */
async function classAsOperator(runtimeClass: object | string, who = account): Promise<string | undefined> {
  const as = `--as=system:serviceaccount:${scope.namespace}:${who}`;
  try {
    // No --wait: the withdrawal's account may not watch.
    if (typeof runtimeClass === 'string') await kubectl(testbed, ['delete', 'runtimeclass', runtimeClass, as, '--wait=false']);
    else await kubectl(testbed, ['create', '-f', '-', as], JSON.stringify(runtimeClass));
    return undefined;
  } catch (err) {
    return (err as { stderr?: string }).stderr ?? String(err);
  }
}

test("the operator's account creates and deletes only its probes' shadow RuntimeClasses, with a handler and nothing else", async () => {
  const rc = (name: string, extra: object = {}): object => ({
    apiVersion: 'node.k8s.io/v1',
    kind: 'RuntimeClass',
    metadata: { name },
    handler: 'runc',
    ...extra,
  });
  const onlyShadows = /may create and delete only its probes' RuntimeClasses/;
  await eventually(async () => {
    assert.match((await classAsOperator(rc(`${id}-other`))) ?? 'accepted', onlyShadows);
  }, 30_000);
  assert.match(
    (await classAsOperator(rc(`rcaudit-probe.${id}`, { scheduling: { nodeSelector: { a: 'b' } } }))) ?? 'accepted',
    /have a handler and nothing else/,
  );
  assert.equal(await classAsOperator(rc(`rcaudit-probe.${id}`)), undefined);
  assert.equal(await classAsOperator(`rcaudit-probe.${id}`), undefined);
  // Someone else's class: not the operator's to delete, whatever RBAC says.
  await kubectl(testbed, ['create', '-f', '-'], JSON.stringify(rc(`${id}-other`)));
  assert.match((await classAsOperator(`${id}-other`)) ?? 'accepted', onlyShadows);
});

test("the withdrawal's account removes the product's labels from a Node and nothing else of it, and deletes only the shadow RuntimeClasses", async () => {
  const labelsOnly = /the runtimeclass-audit withdrawal may change only the product's own labels on a Node/;
  let attempt = 0;
  await eventually(async () => {
    attempt++;
    assert.match((await asOperator({ metadata: { labels: { probe: String(attempt) } } }, withdrawal)) ?? 'accepted', labelsOnly);
  }, 30_000);
  await kubectl(testbed, ['label', 'node', node, 'probe-', 'runtimeclass.rcaudit.dev/gvisor=proven', 'team=d', '--overwrite']);
  assert.equal(await asOperator({ metadata: { labels: { 'runtimeclass.rcaudit.dev/gvisor': null } } }, withdrawal), undefined);
  assert.match((await asOperator({ metadata: { labels: { team: null } } }, withdrawal)) ?? 'accepted', labelsOnly);
  assert.match(
    (await asOperator({ spec: { taints: [{ key: 'evil', effect: 'NoSchedule' }] } }, withdrawal)) ?? 'accepted',
    /the runtimeclass-audit withdrawal may not change a Node's annotations or spec/,
  );
  const rc = (name: string): string => JSON.stringify({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name }, handler: 'runc' });
  await kubectl(testbed, ['apply', '-f', '-'], rc(`${id}-other`));
  await kubectl(testbed, ['apply', '-f', '-'], rc(`rcaudit-probe.${id}-w`));
  await eventually(async () => {
    assert.match(
      (await classAsOperator(`${id}-other`, withdrawal)) ?? 'accepted',
      /the runtimeclass-audit withdrawal may delete only the probes' RuntimeClasses/,
    );
  }, 30_000);
  assert.equal(await classAsOperator(`rcaudit-probe.${id}-w`, withdrawal), undefined);
  const stored = JSON.parse(await kubectl(testbed, ['get', 'node', node, '-o', 'json'])) as { metadata: { labels: Record<string, string> } };
  assert.equal(stored.metadata.labels['team'], 'd');
  assert.equal('runtimeclass.rcaudit.dev/gvisor' in stored.metadata.labels, false);
});
