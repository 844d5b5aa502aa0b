// The operator works with its least privileges (the chart's operator roles),
// and those privileges are no more than it needs: above all, it cannot
// write a report's spec, which is the agent's word.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  apply,
  namespace,
  pod,
  podEvents,
  podUid,
  report,
  reportStatus,
  type RunningOperator,
  sandbox,
  setUpStage,
  stage,
  startOperator,
  tearDownStage,
} from '../support/operator.ts';
import { applyChartRoles, canI, serviceAccountKubeconfig } from '../support/rbac.ts';
import { defaultServiceAccount, eventually, kubectl, loadTestbed } from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const staged = stage('oprbac');
const { id, ns, node, audit } = staged;
const system = `${id}-system`;
const sa = `system:serviceaccount:${system}:operator`;
const can = canI(testbed, sa);
const dir = mkdtempSync(join(tmpdir(), 'rca-oprbac-'));
// The chart's roles, as `helm install <id> -n <system>` would name them.
const chart = { release: id, namespace: system };

describe('operator RBAC', () => {
  let operator: RunningOperator | undefined;

  before(async () => {
    await setUpStage(testbed, staged, namespace(system, {}));
    const { clusterRole, role } = await applyChartRoles(testbed, 'operator', chart);
    await defaultServiceAccount(testbed, system);
    await kubectl(testbed, ['create', 'serviceaccount', 'operator', '-n', system]);
    await kubectl(testbed, ['create', 'clusterrolebinding', id, `--clusterrole=${clusterRole}`, `--serviceaccount=${system}:operator`]);
    await kubectl(testbed, ['create', 'rolebinding', id, '-n', system, `--role=${role ?? ''}`, `--serviceaccount=${system}:operator`]);
  });

  after(async () => {
    await operator?.process.stop();
    rmSync(dir, { recursive: true, force: true });
    await tearDownStage(testbed, staged, {
      first: [
        { kind: 'clusterrolebinding', names: [id] },
        { kind: 'clusterrole', names: [`${id}-runtimeclass-audit-operator`] },
      ],
      namespaces: [system],
    });
  });

  test('grants what the operator needs and nothing more', async () => {
    const allowed: [string, string, string[]?][] = [
      ['watch', 'pods'],
      ['list', 'nodes'],
      ['list', 'namespaces'],
      ['watch', 'runtimeclasses.node.k8s.io'],
      ['list', 'nodesandboxreports.rcaudit.dev'],
      ['watch', 'runtimeclassaudits.rcaudit.dev'],
      ['patch', 'nodesandboxreports.rcaudit.dev', ['--subresource=status']],
      ['patch', 'runtimeclassaudits.rcaudit.dev', ['--subresource=status']],
      ['create', 'events', ['-n', ns]],
      ['patch', 'events', ['-n', ns]],
      ['update', 'leases.coordination.k8s.io', ['-n', system]],
      ['create', 'leases.coordination.k8s.io', ['-n', system]],
      // The default audit (defaultAudit.enabled), created once.
      ['create', 'runtimeclassaudits.rcaudit.dev'],
    ];
    for (const [verb, resource, extra] of allowed) assert.equal(await can(verb, resource, extra), true, `${verb} ${resource} ${extra?.join(' ') ?? ''}`);
    const denied: [string, string, string[]?][] = [
      // A report's spec is the agent's word.
      ['update', 'nodesandboxreports.rcaudit.dev'],
      ['patch', 'nodesandboxreports.rcaudit.dev'],
      ['create', 'nodesandboxreports.rcaudit.dev'],
      ['delete', 'nodesandboxreports.rcaudit.dev'],
      ['update', 'runtimeclassaudits.rcaudit.dev'],
      ['delete', 'runtimeclassaudits.rcaudit.dev'],
      ['patch', 'pods'],
      ['patch', 'pods', ['--subresource=status']],
      ['delete', 'pods'],
      ['create', 'pods/eviction'],
      ['get', 'secrets'],
      ['list', 'secrets'],
      ['update', 'nodes'],
      ['update', 'leases.coordination.k8s.io', ['-n', 'kube-system']],
      ['delete', 'events', ['-n', ns]],
    ];
    for (const [verb, resource, extra] of denied) assert.equal(await can(verb, resource, extra), false, `${verb} ${resource} ${extra?.join(' ') ?? ''}`);
  });

  test('operator.podConditions adds pod status, and only that', async () => {
    await applyChartRoles(testbed, 'operator', chart, { 'operator.podConditions': true });
    try {
      await eventually(async () => {
        assert.equal(await can('patch', 'pods', ['--subresource=status']), true);
      }, 10_000);
      assert.equal(await can('patch', 'pods'), false);
    } finally {
      await applyChartRoles(testbed, 'operator', chart);
    }
    await eventually(async () => {
      assert.equal(await can('patch', 'pods', ['--subresource=status']), false);
    }, 10_000);
  });

  test('the operator judges, writes status and flags with only these privileges, leader-elected in its namespace', async () => {
    await defaultServiceAccount(testbed, ns);
    await apply(testbed, pod(ns, 'kata-on-runc', node, { runtimeClassName: 'kata' }), {
      apiVersion: 'rcaudit.dev/v1alpha1',
      kind: 'RuntimeClassAudit',
      metadata: { name: audit },
      spec: { namespaceSelector: { matchLabels: { 'rcaudit-test': id } } },
    });
    const uid = await podUid(testbed, ns, 'kata-on-runc');
    await apply(
      testbed,
      report(node, [
        sandbox(uid, { namespace: ns, name: 'kata-on-runc', requestedHandler: '', resolvedHandler: 'runc', runtimeType: 'io.containerd.runc.v2' }),
      ]),
    );
    const kubeconfig = await serviceAccountKubeconfig(testbed, system, 'operator', join(dir, 'operator.kubeconfig'));
    operator = await startOperator({ ...testbed, kubeconfig }, ['--namespace', system]);
    await eventually(async () => {
      const entry = (await reportStatus(testbed, node))?.audits?.find((a) => a.name === audit)?.pods[0];
      assert.equal(entry?.reason, 'HandlerMismatch');
      assert.equal((await podEvents(testbed, ns, 'kata-on-runc', 'RuntimeHandlerMismatch')).length, 1);
      const counts = JSON.parse(await kubectl(testbed, ['get', 'audit', audit, '-o', 'jsonpath={.status.counts}'])) as Record<string, number>;
      assert.equal(counts['mismatched'], 1);
    }, 30_000);
    assert.doesNotMatch(operator.process.output(), /Forbidden/);
  });
});
