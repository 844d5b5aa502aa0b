// End to end on the testbed's real kubelets and containerd: real pods ask for
// kata; the agents report what containerd really ran; the operator flags the
// pods whose kubelet dropped the handler (rcaudit-node's broken-* namespaces,
// and every pod on rcaudit-node-2, the kuscia node) and matches the rest.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { auditStatus, metricValue, podEvents, reportStatus, scopedAudit, startOperator, type RunningOperator } from '../support/operator.ts';
import { applyPod } from '../support/pods.ts';
import { startAgent, type Started } from '../support/processes.ts';
import { storedReport } from '../support/reports.ts';
import { createNamespace, eventually, kubectl, loadTestbed, testbedNode, uniqueName } from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const [honestNode, kusciaNode] = [testbedNode(testbed, 0), testbedNode(testbed, 1)];
const id = uniqueName('e2e');
const honestNs = `${id}-honest`;
const brokenNs = `broken-${id}`;
const audit = `${id}-audit`;

describe('end to end: the operator flags pods whose kubelet dropped their handler', () => {
  const agents: Started[] = [];
  let operator: RunningOperator | undefined;

  before(async () => {
    await kubectl(testbed, ['apply', '-f', 'charts/runtimeclass-audit/files/crds/']);
    await createNamespace(testbed, honestNs);
    await createNamespace(testbed, brokenNs);
    for (const ns of [honestNs, brokenNs]) await kubectl(testbed, ['label', 'namespace', ns, `rcaudit-test=${id}`]);
    await kubectl(testbed, ['apply', '-f', '-'], JSON.stringify(scopedAudit(audit, id)));
    for (const node of [honestNode, kusciaNode]) agents.push((await startAgent(testbed, node, node.criEndpoint, ['--interval', '1s'])).agent);
    operator = await startOperator(testbed, ['--no-leader-elect']);
  });

  after(async () => {
    await operator?.process.stop();
    for (const agent of agents) await agent.stop();
    await kubectl(testbed, ['delete', 'runtimeclassaudit', audit, '--ignore-not-found']);
    await kubectl(testbed, ['delete', 'namespace', honestNs, brokenNs, '--wait=false']);
  });

  test('kata on the honest path is matched; on the broken path and on the kuscia node it is flagged', async () => {
    await applyPod(testbed, { namespace: honestNs, name: 'vault', node: honestNode, runtimeClassName: 'kata' });
    await applyPod(testbed, { namespace: brokenNs, name: 'vault', node: honestNode, runtimeClassName: 'kata' });
    await applyPod(testbed, { namespace: honestNs, name: 'on-kuscia', node: kusciaNode, runtimeClassName: 'kata' });
    await kubectl(testbed, ['wait', '-n', honestNs, '--for=condition=Ready', '--timeout=120s', 'pod/vault', 'pod/on-kuscia']);
    await kubectl(testbed, ['wait', '-n', brokenNs, '--for=condition=Ready', '--timeout=120s', 'pod/vault']);
    const readyAt = Date.now();

    const events = await eventually(async () => {
      const broken = await podEvents(testbed, brokenNs, 'vault', 'RuntimeHandlerMismatch');
      const kuscia = await podEvents(testbed, honestNs, 'on-kuscia', 'RuntimeHandlerMismatch');
      assert.equal(broken.length, 1);
      assert.equal(kuscia.length, 1);
      return { broken: broken[0], kuscia: kuscia[0] };
    }, 60_000);
    // Not an assertion (timings belong in the benchmark): what the person running the tests sees.
    process.stdout.write(`# flagged ${String(Date.now() - readyAt)} ms after the pods were Ready (agent interval 1 s)\n`);
    assert.match(events.broken?.message ?? '', /RuntimeClass kata expects handler kata, but the pod runs with runc/);
    assert.match(events.kuscia?.message ?? '', /expects handler kata, but the pod runs with runc/);
    assert.equal((await podEvents(testbed, honestNs, 'vault', 'RuntimeHandlerMismatch')).length, 0, 'the honest pod is not flagged');

    const status = await eventually(async () => {
      const s = await auditStatus(testbed, audit);
      assert.deepEqual([s?.counts?.['audited'], s?.counts?.['matched'], s?.counts?.['mismatched']], [3, 1, 2], JSON.stringify(s?.counts));
      return s;
    }, 30_000);
    assert.deepEqual(
      status?.mismatches?.map((m) => `${m.namespace}/${m.pod}:${m.expectedHandler}->${m.actualHandler ?? ''}`).sort(),
      [`${brokenNs}/vault:kata->runc`, `${honestNs}/on-kuscia:kata->runc`].sort(),
    );
    const row = (await kubectl(testbed, ['get', 'audits', audit, '--no-headers'])).trim().split(/\s+/);
    assert.deepEqual(row.slice(1, 3), ['3', '2'], 'kubectl get audits: audited, mismatched');

    const metrics = (await operator?.metrics()) ?? '';
    assert.equal(
      metricValue(metrics, 'rcaudit_pod_mismatch_info', {
        namespace: brokenNs,
        pod: 'vault',
        node: honestNode.name,
        expected_handler: 'kata',
        actual_handler: 'runc',
      }),
      1,
    );
    assert.equal(metricValue(metrics, 'rcaudit_pod_mismatch_info', { namespace: honestNs, pod: 'on-kuscia', node: kusciaNode.name }), 1);
    assert.equal(metricValue(metrics, 'rcaudit_pod_mismatch_info', { namespace: honestNs, pod: 'vault' }), undefined);
  });

  test('an audit that asks kata for a VM: the honest "kata" (runc) is Mismatched for its isolation; with evidence turned off on its node, Unverified instead', async () => {
    const isolationAudit = `${id}-isolation`;
    await kubectl(testbed, ['apply', '-f', '-'], JSON.stringify(scopedAudit(isolationAudit, id, { expectedIsolation: { kata: 'vm' } })));
    const verdictOf = async (namespace: string): Promise<string[]> => {
      const entry = (await reportStatus(testbed, honestNode.name))?.audits
        ?.find((a) => a.name === isolationAudit)
        ?.pods.find((p) => p.namespace === namespace && p.name === 'vault');
      return [entry?.verdict ?? '', entry?.reason ?? '', entry?.actualIsolation ?? ''];
    };
    try {
      await eventually(async () => {
        assert.deepEqual(await verdictOf(honestNs), ['Mismatched', 'IsolationMismatch', 'host-kernel']);
        assert.deepEqual(await verdictOf(brokenNs), ['Mismatched', 'HandlerMismatch', 'host-kernel'], 'a dropped handler is said first');
      }, 60_000);
      // The node's agent, restarted without evidence: the report says so, and nothing is guessed.
      await agents.shift()?.stop();
      agents.unshift((await startAgent(testbed, honestNode, honestNode.criEndpoint, ['--interval', '1s', '--no-isolation-evidence'])).agent);
      await eventually(async () => {
        assert.equal((await storedReport(testbed, honestNode.name)).spec.isolationEvidence, 'Disabled');
        assert.deepEqual(await verdictOf(honestNs), ['Unverified', 'EvidenceDisabled', '']);
        assert.deepEqual(await verdictOf(brokenNs), ['Mismatched', 'HandlerMismatch', '']);
      }, 60_000);
    } finally {
      await kubectl(testbed, ['delete', 'runtimeclassaudit', isolationAudit, '--ignore-not-found']);
    }
  });
});
