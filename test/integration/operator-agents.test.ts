// An operator told to look for its agents where none run (a wrong
// --agent-namespace or --agent-selector) says so once in its log and in
// every audit's Ready condition, rather than silently calling every node
// AgentNotReady; and says when agents appear, judging that node's pods again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  apply,
  auditStatus,
  namespace,
  pod,
  podUid,
  report,
  reportStatus,
  type RunningOperator,
  sandbox,
  scopedAudit,
  setPodReady,
  setUpStage,
  stage,
  startOperator,
  tearDownStage,
} from '../support/operator.ts';
import { defaultServiceAccount, eventually, loadTestbed } from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const staged = stage('opagents');
const { id, ns, node, audit } = staged;
const agentNs = `${id}-agents`;
const agentLabels = { 'app.kubernetes.io/name': 'runtimeclass-audit', 'app.kubernetes.io/component': 'agent' };
let operator: RunningOperator | undefined;

before(async () => {
  await setUpStage(testbed, staged, namespace(agentNs, {}), scopedAudit(audit, id), pod(ns, 'kata', node, { runtimeClassName: 'kata' }));
  await defaultServiceAccount(testbed, agentNs);
  const uid = await podUid(testbed, ns, 'kata');
  await apply(testbed, report(node, [sandbox(uid, { namespace: ns, name: 'kata' })]));
  operator = await startOperator(testbed, ['--no-leader-elect', '--agent-namespace', agentNs]);
});

after(async () => {
  await operator?.process.stop();
  await tearDownStage(testbed, staged, { namespaces: [agentNs] });
});

const ready = async (): Promise<{ reason?: string; message?: string } | undefined> =>
  (await auditStatus(testbed, audit))?.conditions?.find((c) => c.type === 'Ready');

test('no agent pod where the operator looks: one log line naming the namespace and selector, and the audit says why', async () => {
  const running = operator;
  assert.ok(running !== undefined);
  await eventually(async () => {
    assert.equal((await ready())?.reason, 'NoAgentPods');
  }, 30_000);
  assert.equal(
    (await ready())?.message,
    `no pod in namespace ${agentNs} matches the agent selector app.kubernetes.io/name=runtimeclass-audit,app.kubernetes.io/component=agent (--agent-namespace, --agent-selector): until one does, no node's report is taken as current and every pod is unverified`,
  );
  const said = running.process
    .output()
    .split('\n')
    .filter((l) => l.includes('no agent pod found'));
  assert.equal(said.length, 1, running.process.output().slice(-2000));
  assert.match(said[0] ?? '', new RegExp(`"namespace":"${agentNs}"`));

  // An agent appears on the node: said once, and the audit goes on to what the report shows.
  await apply(testbed, pod(agentNs, 'agent', node, { labels: agentLabels }));
  await setPodReady(testbed, agentNs, 'agent', true);
  await eventually(async () => {
    // The testbed's real nodes run no agent in this test: they are the ones not reporting now.
    assert.equal((await ready())?.reason, 'NodesNotReporting');
    const entry = (await reportStatus(testbed, node))?.audits?.find((a) => a.name === audit)?.pods.find((p) => p.name === 'kata');
    assert.equal(entry?.verdict, 'Matched', JSON.stringify(entry));
  }, 30_000);
  assert.equal(
    running.process
      .output()
      .split('\n')
      .filter((l) => l.includes('agent pods found')).length,
    1,
  );
});
