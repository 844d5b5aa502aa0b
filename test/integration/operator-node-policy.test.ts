// The chart's policy on the operator's node patches (remediation.enabled),
// on the real API server: the operator's account may change rcaudit.dev/
// labels on a Node and nothing else of it; everyone else is untouched.
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
const node = `${id}-node`;

before(async () => {
  await createNamespace(testbed, scope.namespace);
  const { clusterRole } = await applyChartRoles(testbed, 'operator', scope, { 'remediation.enabled': true });
  await kubectl(testbed, ['create', 'serviceaccount', account, '-n', scope.namespace]);
  await kubectl(testbed, ['create', 'clusterrolebinding', id, `--clusterrole=${clusterRole}`, `--serviceaccount=${scope.namespace}:${account}`]);
  const rendered = await render({ 'remediation.enabled': true }, scope);
  await applyObjects(
    testbed,
    rendered.filter((o) => o.metadata.name === policy),
  );
  const labelled = fakeNode(node) as { metadata: { labels: Record<string, string>; annotations?: Record<string, string> } };
  labelled.metadata.labels['team'] = 'a';
  labelled.metadata.annotations = { note: 'kept' };
  await applyObjects(testbed, [labelled]);
});

after(async () => {
  await kubectl(testbed, ['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', policy, '--ignore-not-found']);
  await kubectl(testbed, ['delete', 'clusterrolebinding', id, '--ignore-not-found']);
  await kubectl(testbed, ['delete', 'clusterrole', `${id}-runtimeclass-audit-operator`, '--ignore-not-found']);
  await kubectl(testbed, ['delete', 'node', node, '--ignore-not-found']);
  await kubectl(testbed, ['delete', 'namespace', scope.namespace, '--wait=false']);
});

/** A merge patch of the node as the operator's account; the error text when refused. */
async function asOperator(patch: object): Promise<string | undefined> {
  try {
    await kubectl(testbed, ['patch', 'node', node, '--type=merge', '-p', JSON.stringify(patch), `--as=system:serviceaccount:${scope.namespace}:${account}`]);
    return undefined;
  } catch (err) {
    return (err as { stderr?: string }).stderr ?? String(err);
  }
}

test("the operator's account changes rcaudit.dev/ labels on a Node, and nothing else of it", async () => {
  const labelsOnly = /the runtimeclass-audit operator may change only rcaudit\.dev\/ labels on a Node/;
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
