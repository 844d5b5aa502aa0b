// The agent's report writes and the operator's status writes, together on
// one NodeSandboxReport against the real API server: the two owners of one
// object must not trip each other. Counted at the HTTP layer, where a retry
// would hide a 409.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { NodeSandboxReportSpec } from '../../api/v1alpha1/node-sandbox-report.ts';
import { ReportWriter } from '../../agent/report-writer.ts';
import { kubeconfigConnection } from '../../kube/connection.ts';
import { MERGE_PATCH, KubeRest } from '../../kube/rest.ts';
import { reportSpec, sandbox, setUpStage, stage, tearDownStage } from '../support/operator.ts';
import { kubectl, loadTestbed } from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const staged = stage('reportw');
const { ns, node } = staged;

before(async () => {
  await setUpStage(testbed, staged);
});

after(async () => {
  await tearDownStage(testbed, staged);
});

/** A spec that differs from pass to pass, as a node's does under pod churn. */
const specAt = (pass: number): NodeSandboxReportSpec =>
  reportSpec(
    node,
    Array.from({ length: 1 + (pass % 5) }, (_, i) => sandbox(`u${String(pass)}-${String(i)}`, { namespace: ns, name: `p${String(pass)}-${String(i)}` })),
  );

test("the agent's spec writes and the operator's status writes never conflict, and no write waits", async () => {
  const codes: number[] = [];
  const agentApi = new KubeRest(await kubeconfigConnection(testbed.kubeconfig), {
    timeoutMs: 10_000,
    observe: (_verb, resource, code) => {
      if (resource === 'nodesandboxreports') codes.push(code);
    },
  });
  const operatorApi = new KubeRest(await kubeconfigConnection(testbed.kubeconfig), { timeoutMs: 10_000 });
  const writer = new ReportWriter(agentApi, node);
  await writer.write(specAt(0));
  const statusPath = `/apis/rcaudit.dev/v1alpha1/nodesandboxreports/${node}/status`;
  let statusWrites = 0;
  const writing = { on: true };
  // The operator: a status write after another, as fast as the API server takes them.
  const operator = (async () => {
    while (writing.on) {
      statusWrites++;
      await operatorApi.request('PATCH', statusPath, {
        what: 'patch status',
        contentType: MERGE_PATCH,
        body: { status: { observedGeneration: 1, counts: { sandboxes: statusWrites, audited: 0, matched: 0, mismatched: 0, unverified: 0 } } },
      });
    }
  })();
  const slowest: number[] = [];
  for (let pass = 1; pass <= 60; pass++) {
    const started = Date.now();
    await writer.write(specAt(pass));
    slowest.push(Date.now() - started);
  }
  writing.on = false;
  await operator;

  assert.ok(statusWrites > 60, `the operator wrote too: ${String(statusWrites)}`);
  assert.deepEqual(
    codes.filter((c) => c === 409),
    [],
    `409s among the agent's ${String(codes.length)} requests`,
  );
  assert.ok(Math.max(...slowest) < 2000, `a write waited: ${String(Math.max(...slowest))} ms`);
  const stored = JSON.parse(await kubectl(testbed, ['get', 'nodesandboxreport', node, '-o', 'json'])) as {
    spec: NodeSandboxReportSpec;
    status: { counts: { sandboxes: number } };
  };
  assert.deepEqual(stored.spec, specAt(60), 'the last spec written is the one stored');
  assert.equal(stored.status.counts.sandboxes, statusWrites, "the operator's last status is kept: a spec write never touches it");
});

test('a report with nothing in its lists (a runtime unreachable at start, an empty node), and fields that go away when it recovers', async () => {
  const api = new KubeRest(await kubeconfigConnection(testbed.kubeconfig), { timeoutMs: 10_000 });
  const writer = new ReportWriter(api, node);
  const down = reportSpec(node, [], {
    reachable: false,
    infoFormat: 'unknown',
    handlers: [],
    unreachableSince: '2026-12-04T10:00:00.000Z',
    lastError: 'UNAVAILABLE',
  });
  delete down.runtime.defaultHandler;
  await writer.write(down);
  const stored = async (): Promise<NodeSandboxReportSpec> =>
    (JSON.parse(await kubectl(testbed, ['get', 'nodesandboxreport', node, '-o', 'json'])) as { spec: NodeSandboxReportSpec }).spec;
  assert.deepEqual(await stored(), down, 'empty lists are stored as empty lists');
  const up = specAt(1);
  await writer.write(up);
  assert.deepEqual(await stored(), up, 'unreachableSince and lastError are gone, not kept from before');
});
