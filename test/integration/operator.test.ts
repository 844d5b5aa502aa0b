// The operator against the testbed's real API server. Nodes here are Node
// objects with no kubelet: the test plays their agents, writing reports and
// setting the agent pods' readiness exactly as an agent and a kubelet would,
// so every verdict can be staged on demand.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PodVerdictEntry, ReportedSandbox } from '../../api/v1alpha1/node-sandbox-report.ts';
import {
  apply,
  auditStatus,
  deleteAll,
  fakeNode,
  metricSum,
  metricValue,
  namespace,
  pod,
  podEvents,
  podUid,
  report,
  reportStatus,
  sandbox,
  setPodReady,
  startOperator,
  type RunningOperator,
} from '../support/operator.ts';
import { defaultServiceAccount, eventually, kubectl, loadTestbed, uniqueName } from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const id = uniqueName('op');
const ns = `${id}-pods`;
const agentNs = `${id}-agents`;
const audit = `${id}-audit`;
// A laxer audit of the same pods, sorted first: a pod it finds matched but `audit` finds mismatched must still be flagged.
const laxAudit = `${id}-a-lax`;
const [n1, n2, n3, n4] = [1, 2, 3, 4].map((i) => `${id}-node-${String(i)}`) as [string, string, string, string];
const ownClass = `${id}-rc`; // a second RuntimeClass, also with the kata handler
const agentLabels = { 'app.kubernetes.io/name': 'runtimeclass-audit', 'app.kubernetes.io/component': 'agent' };

/** Changes the namespace's labels: every node with pods in it is reconciled again. */
async function touch(namespaceName: string): Promise<void> {
  await kubectl(testbed, ['label', 'namespace', namespaceName, `touched=${String(Date.now())}`, '--overwrite']);
}

async function entryOf(node: string, podName: string): Promise<PodVerdictEntry> {
  const status = await reportStatus(testbed, node);
  const entry = status?.audits?.find((a) => a.name === audit)?.pods.find((p) => p.name === podName);
  assert.ok(entry, `no verdict for ${podName} in ${node}'s report status: ${JSON.stringify(status)}`);
  return entry;
}

async function verdictBecomes(node: string, podName: string, reason: string, timeoutMs = 30_000): Promise<PodVerdictEntry> {
  return eventually(async () => {
    const entry = await entryOf(node, podName);
    assert.equal(entry.reason, reason, `${podName}: ${JSON.stringify(entry)}`);
    return entry;
  }, timeoutMs);
}

/** The reasons the operator gave, in order, for ignoring `node`'s report: one line per change, naming the node. */
function ignoredReasonsLogged(output: string, node: string): string[] {
  return output
    .split('\n')
    .filter((l) => l.includes(`"node":"${node}"`) && l.includes('report ignored by every audit'))
    .map((l) => /"reason":"(\w+)"/.exec(l)?.[1] ?? '?');
}

describe('operator: verdicts, status, events and metrics on the real API server', () => {
  let operator: RunningOperator | undefined;
  const uids = new Map<string, string>();

  before(async () => {
    await kubectl(testbed, ['apply', '-f', 'charts/runtimeclass-audit/files/crds/']);
    await apply(testbed, namespace(ns, { 'rcaudit-test': id }), namespace(agentNs, {}), fakeNode(n1), fakeNode(n2), fakeNode(n3), fakeNode(n4), {
      apiVersion: 'node.k8s.io/v1',
      kind: 'RuntimeClass',
      metadata: { name: ownClass },
      handler: 'kata',
    });
    await defaultServiceAccount(testbed, ns);
    await defaultServiceAccount(testbed, agentNs);
    // One agent pod per node; the one on n2 is not Ready.
    await apply(testbed, ...[n1, n2, n3, n4].map((n, i) => pod(agentNs, `agent-${String(i + 1)}`, n, { labels: agentLabels })));
    for (const [i, ready] of [true, false, true, true].entries()) await setPodReady(testbed, agentNs, `agent-${String(i + 1)}`, ready);
    await apply(
      testbed,
      pod(ns, 'matched', n1, { runtimeClassName: 'kata' }),
      pod(ns, 'kuscia', n1, { runtimeClassName: 'kata' }),
      pod(ns, 'wrong-type', n1, { runtimeClassName: 'kata' }),
      pod(ns, 'own-class', n1, { runtimeClassName: ownClass }),
      pod(ns, 'no-sandbox', n1, { runtimeClassName: 'kata' }),
      pod(ns, 'plain', n1),
      pod(ns, 'agent-down', n2, { runtimeClassName: 'kata' }),
      pod(ns, 'no-report', n3, { runtimeClassName: 'kata' }),
      pod(ns, 'unreachable', n4, { runtimeClassName: 'kata' }),
    );
    for (const name of ['matched', 'kuscia', 'wrong-type', 'own-class', 'no-sandbox', 'plain', 'agent-down', 'no-report', 'unreachable']) {
      uids.set(name, await podUid(testbed, ns, name));
    }
    const uid = (name: string): string => uids.get(name) ?? '';
    const sb = (name: string, over: Partial<ReportedSandbox> = {}): ReportedSandbox => sandbox(uid(name), { namespace: ns, name, ...over });
    await apply(
      testbed,
      report(n1, [
        sb('matched'),
        sb('kuscia', { requestedHandler: '', resolvedHandler: 'runc', runtimeType: 'io.containerd.runc.v2' }),
        sb('wrong-type', { runtimeType: 'io.containerd.runc.v2' }),
        sb('own-class'),
        sb('plain', { requestedHandler: '', resolvedHandler: 'runc', runtimeType: 'io.containerd.runc.v2' }),
        sandbox(`${id}-orphan`, { namespace: ns, name: 'deleted-long-ago' }),
        // Claims a pod bound to n2: n1's report does not speak for it.
        sandbox(uid('agent-down'), { namespace: ns, name: 'agent-down', id: 'claims-n2-pod' }),
      ]),
      report(n2, [sb('agent-down')]),
      report(n4, [sb('unreachable')], { reachable: false, unreachableSince: '2026-11-23T09:00:00Z', lastError: 'UNAVAILABLE' }),
      {
        apiVersion: 'rcaudit.dev/v1alpha1',
        kind: 'RuntimeClassAudit',
        metadata: { name: audit },
        spec: {
          namespaceSelector: { matchLabels: { 'rcaudit-test': id } },
          expectedRuntimeTypes: { kata: 'io.containerd.kata.v2' },
          gracePeriodSeconds: 2,
          flagging: { events: true, podCondition: true },
        },
      },
      {
        apiVersion: 'rcaudit.dev/v1alpha1',
        kind: 'RuntimeClassAudit',
        metadata: { name: laxAudit },
        spec: { namespaceSelector: { matchLabels: { 'rcaudit-test': id } } },
      },
    );
    operator = await startOperator(testbed, ['--no-leader-elect', '--agent-namespace', agentNs, '--event-series-interval', '2s']);
  });

  after(async () => {
    await operator?.process.stop();
    await deleteAll(testbed, [
      { kind: 'runtimeclassaudit', names: [audit, laxAudit] },
      { kind: 'nodesandboxreport', names: [n1, n2, n3, n4] },
      { kind: 'runtimeclass', names: [ownClass] },
      { kind: 'namespace', names: [ns, agentNs] },
      { kind: 'node', names: [n1, n2, n3, n4] },
    ]);
  });

  test("the audit's status counts every node's pods, and kubectl get audits shows the counts", async () => {
    // n3 has no report: its pod is unverified (NoReport) in the audit, and there is no status to write it into.
    const status = await eventually(async () => {
      const s = await auditStatus(testbed, audit);
      assert.ok(s?.counts);
      assert.equal(s.counts['unverified'], 4, JSON.stringify(s));
      return { ...s, counts: s.counts };
    }, 30_000);
    const { counts } = status;
    assert.deepEqual([counts['audited'], counts['matched'], counts['mismatched'], counts['nodesReporting']], [8, 2, 2, 1], JSON.stringify(counts));
    assert.equal(status.conditions?.find((c) => c.type === 'Compliant')?.status, 'False');
    assert.deepEqual(status.mismatches?.map((m) => `${m.pod}:${m.reason}`).sort(), ['kuscia:HandlerMismatch', 'wrong-type:RuntimeTypeMismatch']);
    const row = (await kubectl(testbed, ['get', 'audit', audit, '--no-headers'])).trim().split(/\s+/);
    assert.deepEqual(row.slice(0, 5), [audit, '8', '2', '4', '1'], row.join(' '));
    assert.equal(row[5], 'False', 'not Ready: nodes do not report');
  });

  test('a mismatched pod gets one Warning event naming expected and actual, a condition, and a metric series', async () => {
    const events = await eventually(async () => {
      const found = await podEvents(testbed, ns, 'kuscia', 'RuntimeHandlerMismatch');
      assert.equal(found.length, 1, JSON.stringify(found));
      return found;
    }, 30_000);
    const [event] = events;
    assert.ok(event);
    assert.equal(event.type, 'Warning');
    assert.match(event.message, /RuntimeClass kata expects handler kata, but the pod runs with runc \(io\.containerd\.runc\.v2\)/);
    assert.match(
      (await podEvents(testbed, ns, 'wrong-type', 'RuntimeHandlerMismatch'))[0]?.message ?? '',
      /expects runtime type io\.containerd\.kata\.v2 for handler kata/,
    );
    assert.equal((await podEvents(testbed, ns, 'matched')).filter((e) => e.reason.startsWith('RuntimeHandler')).length, 0, 'no event for a matched pod');
    const condition = JSON.parse(
      await kubectl(testbed, ['get', 'pod', '-n', ns, 'kuscia', '-o', 'jsonpath={.status.conditions[?(@.type=="rcaudit.dev/RuntimeHandlerVerified")]}']),
    ) as { status: string; reason: string };
    assert.deepEqual([condition.status, condition.reason], ['False', 'HandlerMismatch']);
    const metrics = (await operator?.metrics()) ?? '';
    assert.equal(metricValue(metrics, 'rcaudit_pod_mismatch_info', { pod: 'kuscia', expected_handler: 'kata', actual_handler: 'runc', node: n1 }), 1);
    assert.equal(metricValue(metrics, 'rcaudit_pod_mismatch_info', { pod: 'matched' }), undefined, 'no series for a matched pod');
    assert.equal(metricValue(metrics, 'rcaudit_pods', { audit, verdict: 'Mismatched', reason: 'HandlerMismatch' }), 1);
    assert.ok((metricValue(metrics, 'rcaudit_nodes', { state: 'AgentNotReady' }) ?? 0) >= 1, 'n2 counts as AgentNotReady');
  });

  /**
   * Changes the namespace's labels and waits until the operator has
   * reconciled a node since, so what follows is checked after a pass that
   * saw everything done before it, not after a guessed pause.
   */
  const reconciledAgain = async (node: string): Promise<void> => {
    const passes = async (): Promise<number> =>
      metricValue((await operator?.metrics()) ?? '', 'rcaudit_reconcile_duration_seconds_count', { kind: 'node' }) ?? 0;
    const before = await passes();
    await touch(ns);
    await eventually(async () => {
      assert.ok((await passes()) > before, `no node reconciled since (${node})`);
    }, 15_000);
    // Every node of the namespace was queued by the same change: let the queue drain.
    await new Promise((resolve) => setTimeout(resolve, 500));
  };

  test('a lasting mismatch is one event series: its count grows, no new events', async () => {
    // The series interval is 2 s here; a change to the namespace's labels makes the operator look again.
    const first = (await podEvents(testbed, ns, 'kuscia', 'RuntimeHandlerMismatch'))[0];
    await new Promise((resolve) => setTimeout(resolve, 2500));
    await touch(ns);
    const later = await eventually(async () => {
      const found = await podEvents(testbed, ns, 'kuscia', 'RuntimeHandlerMismatch');
      assert.equal(found.length, 1, 'still one event');
      assert.ok((found[0]?.count ?? 0) > (first?.count ?? 0), `count ${String(found[0]?.count)} did not grow`);
      return found[0];
    }, 30_000);
    assert.equal(later?.metadata.name, first?.metadata.name);
  });

  test('under churn elsewhere on its node, a lasting mismatch costs one event write per series interval and no other write', async () => {
    const text = async (): Promise<string> => (await operator?.metrics()) ?? '';
    const writes = (t: string): number => ['PATCH', 'POST', 'PUT'].reduce((sum, verb) => sum + metricSum(t, 'rcaudit_api_requests_total', { verb }), 0);
    const eventWrites = (t: string): number => metricSum(t, 'rcaudit_events_total', { reason: 'RuntimeHandlerMismatch' });
    const passes = (t: string): number => metricValue(t, 'rcaudit_reconcile_duration_seconds_count', { kind: 'node' }) ?? 0;
    const countOf = async (pod: string): Promise<number> => (await podEvents(testbed, ns, pod, 'RuntimeHandlerMismatch'))[0]?.count ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const before = await text();
    const counts = [await countOf('kuscia'), await countOf('wrong-type')];
    const started = Date.now();
    // Churn: the namespace's labels change every 300 ms, so every node is reconciled again and again.
    for (let i = 0; i < 20; i++) {
      await touch(ns);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = await text();
    const intervals = Math.ceil((Date.now() - started) / 2000);
    assert.ok(passes(after) - passes(before) >= 20, `${String(passes(after) - passes(before))} node passes under churn`);
    const written = eventWrites(after) - eventWrites(before);
    const seconds = (Date.now() - started) / 1000;
    process.stdout.write(
      `# under churn: ${String(passes(after) - passes(before))} node passes in ${seconds.toFixed(1)} s, ${String(written)} event writes for 2 lasting mismatches (series interval 2 s)\n`,
    );
    // Two lasting mismatches (kuscia, wrong-type): at most one write each per 2 s interval.
    assert.ok(written <= 2 * intervals, `${String(written)} event writes in ${String(intervals)} intervals`);
    assert.equal(writes(after) - writes(before), written, 'no write but the event series');
    for (const [i, pod] of ['kuscia', 'wrong-type'].entries()) {
      const grew = (await countOf(pod)) - (counts[i] ?? 0);
      assert.ok(grew >= 1 && grew <= intervals, `${pod}: count grew by ${String(grew)} (one per write, not per pass)`);
    }
  });

  test('an event that expired while its mismatch lasts (a short --event-ttl) is said anew, not patched in vain', async () => {
    const [old] = await podEvents(testbed, ns, 'kuscia', 'RuntimeHandlerMismatch');
    assert.ok(old);
    const logBefore = operator?.process.output().length ?? 0;
    await kubectl(testbed, ['delete', 'event', '-n', ns, old.metadata.name]);
    // Past the series interval (2 s), the next pass would update it.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    await touch(ns);
    const [again] = await eventually(async () => {
      const found = await podEvents(testbed, ns, 'kuscia', 'RuntimeHandlerMismatch');
      assert.equal(found.length, 1, 'created again');
      return found;
    }, 30_000);
    assert.deepEqual([again?.metadata.name, again?.count], [old.metadata.name, 1]);
    assert.doesNotMatch(operator?.process.output().slice(logBefore) ?? '', /could not flag pod/);
  });

  test('a finding outlasts an agent that is not ready for a while and an operator restart: same since, same event, no resolution', async () => {
    const first = await verdictBecomes(n1, 'kuscia', 'HandlerMismatch');
    const [event] = await podEvents(testbed, ns, 'kuscia', 'RuntimeHandlerMismatch');
    await setPodReady(testbed, agentNs, 'agent-1', false);
    const held = await verdictBecomes(n1, 'kuscia', 'AgentNotReady');
    assert.deepEqual([held.lastVerified?.verdict, held.lastVerified?.since, held.expectedHandler], ['Mismatched', first.since, 'kata']);
    await operator?.process.stop();
    operator = await startOperator(testbed, ['--no-leader-elect', '--agent-namespace', agentNs, '--event-series-interval', '2s']);
    await setPodReady(testbed, agentNs, 'agent-1', true);
    const back = await verdictBecomes(n1, 'kuscia', 'HandlerMismatch');
    assert.equal(back.since, first.since, 'the mismatch began when it first did');
    assert.equal(back.lastVerified, undefined);
    await reconciledAgain(n1);
    const events = await podEvents(testbed, ns, 'kuscia', 'RuntimeHandlerMismatch');
    assert.deepEqual(
      events.map((e) => e.metadata.name),
      [event?.metadata.name],
      'the one event object, adopted by the new operator',
    );
    assert.deepEqual(await podEvents(testbed, ns, 'kuscia', 'RuntimeHandlerMatched'), [], 'no resolution was said');
  });

  test('a resolved mismatch is announced once, and its metric series goes away', async () => {
    const uid = uids.get('kuscia') ?? '';
    const current = JSON.parse(await kubectl(testbed, ['get', 'nodesandboxreport', n1, '-o', 'json'])) as { spec: { sandboxes: ReturnType<typeof sandbox>[] } };
    const sandboxes = current.spec.sandboxes.map((s) => (s.podUID === uid ? { ...s, state: 'NotReady' as const } : s));
    // The pod restarted: a newer sandbox, this time with the right handler.
    sandboxes.push(sandbox(uid, { namespace: ns, name: 'kuscia', attempt: 1, createdAt: '2026-11-23T11:00:00Z' }));
    await apply(testbed, report(n1, sandboxes));
    await verdictBecomes(n1, 'kuscia', 'Matched');
    const resolved = await eventually(async () => {
      const found = await podEvents(testbed, ns, 'kuscia', 'RuntimeHandlerMatched');
      assert.equal(found.length, 1);
      return found[0];
    }, 30_000);
    assert.ok(resolved);
    assert.equal(resolved.type, 'Normal');
    assert.match(resolved.message, /now runs with the expected handler kata .* it ran with runc/);
    await eventually(async () => {
      assert.equal(metricValue((await operator?.metrics()) ?? '', 'rcaudit_pod_mismatch_info', { pod: 'kuscia' }), undefined);
    }, 10_000);
    // Past the series interval (2 s), a pass that would say it again if it were not said once.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    await reconciledAgain(n1);
    assert.equal((await podEvents(testbed, ns, 'kuscia', 'RuntimeHandlerMatched')).length, 1, 'said once');
    assert.equal((await podEvents(testbed, ns, 'kuscia', 'RuntimeHandlerMatched'))[0]?.count, 1);
  });

  test("a report the operator cannot use is ignored with a logged reason; its node's pods stay unverified", async () => {
    // Valid for the schema, but it claims to speak for another node.
    const bad = report(n3, []) as { spec: { nodeName: string } };
    bad.spec.nodeName = n1;
    await apply(testbed, bad);
    await eventually(() => {
      assert.match(operator?.process.output() ?? '', new RegExp(`"report":"${n3}".*report ignored`));
      return Promise.resolve();
    }, 15_000);
    assert.equal((await verdictBecomes(n3, 'no-report', 'NoReport')).verdict, 'Unverified');
    assert.ok((metricValue((await operator?.metrics()) ?? '', 'rcaudit_nodes', { state: 'InvalidReport' }) ?? 0) >= 1);
    assert.equal(operator?.process.child.exitCode, null, 'still running');
  });

  test('reports of no Node, or of an earlier Node of that name, are ignored by every audit, logged once and counted', async () => {
    const ghost = `${id}-ghost`;
    const reborn = `${id}-reborn`;
    const counted = async (): Promise<Record<string, number | undefined>> => {
      const text = (await operator?.metrics()) ?? '';
      return {
        NoSuchNode: metricValue(text, 'rcaudit_ignored_reports', { reason: 'NoSuchNode' }),
        NotOwnedByNode: metricValue(text, 'rcaudit_ignored_reports', { reason: 'NotOwnedByNode' }),
      };
    };
    assert.deepEqual(await counted(), { NoSuchNode: 0, NotOwnedByNode: 0 });
    const orphansBefore = (await auditStatus(testbed, audit))?.counts?.['orphanSandboxes'];
    const junk = Array.from({ length: 2000 }, (_, i) => sandbox(`junk-${String(i)}`, { id: `junk-${String(i)}`, namespace: ns, name: `junk-${String(i)}` }));
    try {
      // Named after no Node: made by hand, with 2,000 sandboxes of no pod (created: too big for apply's annotation).
      await kubectl(testbed, ['create', '-f', '-'], JSON.stringify(report(ghost, junk)));
      // A Node deleted and re-created: its report (kept here by a finalizer from the garbage collector) is owned by the old Node.
      await apply(testbed, fakeNode(reborn));
      await apply(testbed, { ...report(reborn, junk.slice(0, 5)), metadata: { name: reborn, finalizers: ['rcaudit.dev/test-hold'] } });
      await kubectl(testbed, ['delete', 'node', reborn]);
      await apply(testbed, fakeNode(reborn));
      await eventually(async () => {
        assert.deepEqual(await counted(), { NoSuchNode: 1, NotOwnedByNode: 1 });
      }, 30_000);
      await reconciledAgain(n1);
      const status = await auditStatus(testbed, audit);
      assert.equal(status?.counts?.['orphanSandboxes'], orphansBefore, 'none of their sandboxes counts');
      assert.equal(await reportStatus(testbed, ghost), undefined, 'no status is written into an ignored report');
      const output = operator?.process.output() ?? '';
      assert.deepEqual(ignoredReasonsLogged(output, ghost), ['NoSuchNode'], 'logged once, naming the node');
      // While the Node was gone, its report was of no Node; once it is back, of an earlier one. Said once each.
      const reasons = ignoredReasonsLogged(output, reborn);
      assert.equal(reasons.at(-1), 'NotOwnedByNode', reasons.join());
      assert.ok(reasons.length <= 2 && new Set(reasons).size === reasons.length, `one line per change: ${reasons.join()}`);
    } finally {
      await kubectl(testbed, ['patch', 'nodesandboxreport', reborn, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']).catch(() => undefined);
      await deleteAll(testbed, [
        { kind: 'nodesandboxreport', names: [ghost, reborn] },
        { kind: 'node', names: [reborn] },
      ]);
    }
    await eventually(async () => {
      assert.deepEqual(await counted(), { NoSuchNode: 0, NotOwnedByNode: 0 });
    }, 30_000);
  });

  test('steady state: no writes while nothing changes', async () => {
    const writes = async (): Promise<number> => {
      const text = (await operator?.metrics()) ?? '';
      return ['PATCH', 'POST', 'PUT'].reduce((sum, verb) => sum + metricSum(text, 'rcaudit_api_requests_total', { verb }), 0);
    };
    // Let pending work finish (the event series interval is 2 s).
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const before = await writes();
    await new Promise((resolve) => setTimeout(resolve, 5000));
    assert.equal(await writes(), before);
  });
});
