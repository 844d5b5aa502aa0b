// From verdicts to the statuses the operator writes: pure, so tested here
// without an API server (Cluster API's way with its status functions).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NodeAuditEntry, PodVerdictEntry } from '../../../../api/v1alpha1/node-sandbox-report.ts';
import { auditStatus, MAX_MISMATCH_SAMPLE, reasonTotals, summarize, type NodeSummary } from '../../../../operator/judging/audit-status.ts';
import { capEntries, MAX_PODS_PER_ENTRY, MAX_PODS_PER_STATUS, nodeAuditEntry, nodeCounts } from '../../../../operator/judging/report-status.ts';
import { ignoredReport, nodeState } from '../../../../operator/judging/node-trust.ts';
import type { ReportRecord } from '../../../../operator/cache/records.ts';
import type { AuditedPod, NodeAudit, Verdict } from '../../../../operator/judging/verdict.ts';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const T1 = Date.parse('2026-11-23T11:00:00Z');
const pod = (name: string): AuditedPod => ({ uid: `uid-${name}`, namespace: 'ns', name, runtimeClassName: 'kata', expectedHandler: 'kata' });
const matched: Verdict = {
  kind: 'Matched',
  reason: 'Matched',
  message: '',
  expectedHandler: 'kata',
  actual: { sandboxId: 's1', requestedHandler: 'kata', resolvedHandler: 'kata' },
};
const mismatched: Verdict = {
  kind: 'Mismatched',
  reason: 'HandlerMismatch',
  message: '',
  expectedHandler: 'kata',
  actual: { sandboxId: 's2', requestedHandler: '', resolvedHandler: 'runc' },
};
const noReport: Verdict = { kind: 'Unverified', reason: 'NoReport', message: '' };

function audited(verdicts: [AuditedPod, Verdict][], extra: Partial<NodeAudit> = {}): NodeAudit {
  return { verdicts: new Map(verdicts.map(([p, v]) => [p.uid, v])), orphans: [], suspicious: [], ...extra };
}

describe('nodeAuditEntry', () => {
  const pods = [pod('b'), pod('a'), pod('c')];
  const result = audited([
    [pods[0] as AuditedPod, mismatched],
    [pods[1] as AuditedPod, matched],
    [pods[2] as AuditedPod, noReport],
  ]);

  test('one entry per judged pod, sorted, with counts', () => {
    const entry = nodeAuditEntry('cluster', [...pods, pod('not-judged')], result, { previous: undefined, now: T0 });
    assert.deepEqual(
      entry.pods.map((p) => `${p.name}:${p.reason}`),
      ['a:Matched', 'b:HandlerMismatch', 'c:NoReport'],
    );
    assert.deepEqual(entry.counts, { audited: 3, matched: 1, mismatched: 1, unverified: 1, orphanSandboxes: 0, suspiciousSandboxes: 0 });
    const b = entry.pods[1];
    assert.deepEqual([b?.expectedHandler, b?.actualHandler, b?.sandboxId, b?.since], ['kata', 'runc', 's2', new Date(T0).toISOString()]);
  });

  test('an unchanged finding keeps its since, so an unchanged node gives an identical entry', () => {
    const first = nodeAuditEntry('cluster', pods, result, { previous: undefined, now: T0 });
    const again = nodeAuditEntry('cluster', pods, result, { previous: first, now: T1 });
    assert.deepEqual(again, first);
  });

  test('a changed finding is dated anew', () => {
    const first = nodeAuditEntry('cluster', pods, result, { previous: undefined, now: T0 });
    const changed = audited([
      [pods[0] as AuditedPod, matched],
      [pods[1] as AuditedPod, matched],
      [pods[2] as AuditedPod, noReport],
    ]);
    const later = nodeAuditEntry('cluster', pods, changed, { previous: first, now: T1 });
    assert.equal(later.pods.find((p) => p.name === 'b')?.since, new Date(T1).toISOString());
    assert.equal(later.pods.find((p) => p.name === 'a')?.since, new Date(T0).toISOString());
  });
});

describe('nodeState', () => {
  const spec = { nodeName: 'n', runtime: { reachable: true, infoFormat: 'containerd' as const, handlers: [] }, sandboxes: [] };
  const cases: [string, ReportRecord | undefined, boolean, string][] = [
    ['no report', undefined, true, 'NoReport'],
    ['unusable report', { name: 'n', generation: 1, invalid: 'x' }, true, 'InvalidReport'],
    ['agent not ready', { name: 'n', generation: 1, spec }, false, 'AgentNotReady'],
    ['runtime unreachable', { name: 'n', generation: 1, spec: { ...spec, runtime: { ...spec.runtime, reachable: false } } }, true, 'RuntimeUnreachable'],
    [
      "runtime unreachable, agent not Ready: the agent's last word first",
      { name: 'n', generation: 1, spec: { ...spec, runtime: { ...spec.runtime, reachable: false } } },
      false,
      'RuntimeUnreachable',
    ],
    ['reporting', { name: 'n', generation: 1, spec }, true, 'Reporting'],
  ];
  for (const [name, report, agentReady, want] of cases) {
    test(name, () => {
      assert.equal(nodeState(report, agentReady), want);
    });
  }
});

function mismatchEntry(i: number): PodVerdictEntry {
  return {
    uid: `u${String(i)}`,
    namespace: 'ns',
    name: `p${String(i).padStart(3, '0')}`,
    verdict: 'Mismatched',
    reason: 'HandlerMismatch',
    expectedHandler: 'kata',
    actualHandler: 'runc',
    since: new Date(T0 + i * 1000).toISOString(),
  };
}

function summary(state: NodeSummary['state'], entry: Partial<NodeAuditEntry['counts']>, mismatches: PodVerdictEntry[] = []): NodeSummary {
  const counts = { audited: 0, matched: 0, mismatched: 0, unverified: 0, orphanSandboxes: 0, suspiciousSandboxes: 0, ...entry };
  return { state, counts, reasons: {}, mismatches };
}

describe('auditStatus', () => {
  test('sums the nodes; only existing, reporting nodes count as reporting', () => {
    const summaries = new Map([
      ['n1', summary('Reporting', { audited: 3, matched: 2, mismatched: 1, orphanSandboxes: 1 }, [mismatchEntry(1)])],
      ['n2', summary('AgentNotReady', { audited: 2, unverified: 2, suspiciousSandboxes: 1 })],
      ['gone', summary('Reporting', { audited: 1, matched: 1 })],
    ]);
    const status = auditStatus({ generation: 3 }, summaries, { nodes: new Set(['n1', 'n2']) }, T0);
    assert.deepEqual(status.counts, {
      audited: 6,
      matched: 3,
      mismatched: 1,
      unverified: 2,
      nodesReporting: 1,
      nodes: 2,
      orphanSandboxes: 1,
      suspiciousSandboxes: 1,
    });
    assert.equal(status.observedGeneration, 3);
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    assert.deepEqual(
      [ready?.status, ready?.reason, ready?.message],
      ['False', 'NodesNotReporting', '1 of 2 nodes have no current report; their pods are unverified'],
    );
    assert.deepEqual(status.conditions?.find((c) => c.type === 'Compliant')?.status, 'False');
    assert.deepEqual(status.mismatches, [
      { namespace: 'ns', pod: 'p001', node: 'n1', expectedHandler: 'kata', actualHandler: 'runc', reason: 'HandlerMismatch', since: mismatchEntry(1).since },
    ]);
  });

  test('no agent pod where the operator looks: Ready says so, naming the namespace and selector; agents found, it says what the nodes show', () => {
    const summaries = new Map([['n1', summary('AgentNotReady', { audited: 1, unverified: 1 })]]);
    const agents = { namespace: 'rcaudit', selector: 'app=agent' };
    const missing = auditStatus({ generation: 1 }, summaries, { nodes: new Set(['n1']), agents: { ...agents, found: 0 } }, T0);
    assert.deepEqual(
      missing.conditions?.filter((c) => c.type === 'Ready').map((c) => [c.status, c.reason, c.message]),
      [
        [
          'False',
          'NoAgentPods',
          "no pod in namespace rcaudit matches the agent selector app=agent (--agent-namespace, --agent-selector): until one does, no node's report is taken as current and every pod is unverified",
        ],
      ],
    );
    const found = auditStatus({ generation: 1 }, summaries, { nodes: new Set(['n1']), agents: { ...agents, found: 1 } }, T0);
    assert.equal(found.conditions?.find((c) => c.type === 'Ready')?.reason, 'NodesNotReporting');
  });

  test('Ready and Compliant when every node reports and nothing differs', () => {
    const status = auditStatus({ generation: 1 }, new Map([['n1', summary('Reporting', { audited: 1, matched: 1 })]]), { nodes: new Set(['n1']) }, T0);
    assert.deepEqual(
      status.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`),
      ['Ready=True/AllNodesReporting', 'Compliant=True/NoMismatches'],
    );
  });

  test('an invalid spec is not Ready, and says why', () => {
    const status = auditStatus({ generation: 2, invalid: 'spec/gracePeriodSeconds must be >= 0' }, new Map(), { nodes: new Set() }, T0);
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    assert.deepEqual([ready?.status, ready?.reason, ready?.message], ['False', 'InvalidSpec', 'spec/gracePeriodSeconds must be >= 0']);
  });

  test('a condition keeps its lastTransitionTime while its status holds', () => {
    const nodes = new Set(['n1']);
    const first = auditStatus({ generation: 1 }, new Map([['n1', summary('Reporting', {})]]), { nodes }, T0);
    const same = auditStatus({ generation: 1, status: first }, new Map([['n1', summary('Reporting', {})]]), { nodes }, T1);
    assert.deepEqual(same, first);
    const flipped = auditStatus({ generation: 1, status: first }, new Map([['n1', summary('NoReport', {})]]), { nodes }, T1);
    const since = Object.fromEntries((flipped.conditions ?? []).map((c) => [c.type, c.lastTransitionTime]));
    assert.deepEqual(since, { Ready: new Date(T1).toISOString(), Compliant: new Date(T0).toISOString() });
  });

  test('the mismatch sample is bounded, oldest first', () => {
    const many = Array.from({ length: 120 }, (_, i) => mismatchEntry(119 - i));
    const status = auditStatus(
      { generation: 1 },
      new Map([['n1', summary('Reporting', { audited: 120, mismatched: 120 }, many)]]),
      { nodes: new Set(['n1']) },
      T0,
    );
    const pods = (status.mismatches ?? []).map((m) => m.pod);
    assert.equal(pods.length, MAX_MISMATCH_SAMPLE);
    assert.deepEqual([pods[0], pods.at(-1)], ['p000', `p0${String(MAX_MISMATCH_SAMPLE - 1)}`]);
    assert.equal(status.counts.mismatched, 120, 'the counts cover them all');
  });
});

describe('summarize and reasonTotals', () => {
  test('pods by verdict and reason over every node', () => {
    const entry = nodeAuditEntry(
      'a',
      [pod('x'), pod('y')],
      audited([
        [pod('x'), mismatched],
        [pod('y'), noReport],
      ]),
      { previous: undefined, now: T0 },
    );
    const s = summarize('Reporting', entry);
    assert.deepEqual(s.reasons, { 'Mismatched/HandlerMismatch': 1, 'Unverified/NoReport': 1 });
    assert.deepEqual(
      s.mismatches.map((p) => p.name),
      ['x'],
    );
    assert.deepEqual(
      [
        ...reasonTotals(
          new Map([
            ['n1', s],
            ['n2', s],
          ]),
        ),
      ],
      [
        ['Mismatched/HandlerMismatch', 2],
        ['Unverified/NoReport', 2],
      ],
    );
  });
});

describe('capEntries', () => {
  const many = (n: number, verdict: PodVerdictEntry['verdict']): PodVerdictEntry[] =>
    Array.from({ length: n }, (_, i) => ({ ...mismatchEntry(i), uid: `${verdict}-${String(i)}`, verdict }));
  const entry = (name: string, pods: PodVerdictEntry[]): NodeAuditEntry => ({
    name,
    counts: { audited: pods.length, matched: 0, mismatched: 0, unverified: 0, orphanSandboxes: 0, suspiciousSandboxes: 0 },
    pods,
  });

  test('a small status is left as it is', () => {
    const entries = [entry('a', many(10, 'Matched'))];
    assert.deepEqual(capEntries(entries), entries);
  });
  test('a big one is cut, per audit and over all audits, keeping the pods that need a look', () => {
    const [capped] = capEntries([entry('a', [...many(2500, 'Matched'), ...many(5, 'Mismatched')])]);
    assert.ok(capped);
    assert.equal(capped.pods.length, MAX_PODS_PER_ENTRY);
    assert.equal(capped.pods.filter((p) => p.verdict === 'Mismatched').length, 5);
    assert.equal(capped.counts.audited, 2505, 'counts still cover every pod');
    const three = capEntries(['a', 'b', 'c'].map((n) => entry(n, many(1500, 'Matched'))));
    assert.equal(
      three.reduce((sum, e) => sum + e.pods.length, 0),
      MAX_PODS_PER_STATUS,
    );
  });
});

describe('ignoredReport', () => {
  test('a report speaks for its node only while a Node of its name exists and owns it', () => {
    assert.equal(ignoredReport({ nodeOwnerUid: 'uid-1' }, 'uid-1'), undefined);
    assert.equal(ignoredReport({ nodeOwnerUid: 'uid-1' }, undefined), 'NoSuchNode');
    assert.equal(ignoredReport({}, undefined), 'NoSuchNode');
    assert.equal(ignoredReport({ nodeOwnerUid: 'uid-1' }, 'uid-2'), 'NotOwnedByNode', 'the node was deleted and re-created');
    assert.equal(ignoredReport({}, 'uid-1'), 'NotOwnedByNode', 'made by hand, not by an agent');
  });
});

describe('nodeCounts', () => {
  test("each pod once, with its gravest verdict over all audits, beside the node's sandboxes", () => {
    const strict = nodeAuditEntry(
      'strict',
      [pod('a'), pod('b')],
      audited([
        [pod('a'), mismatched],
        [pod('b'), noReport],
      ]),
      { previous: undefined, now: T0 },
    );
    const lax = nodeAuditEntry(
      'lax',
      [pod('a'), pod('b'), pod('c')],
      audited([
        [pod('a'), matched],
        [pod('b'), matched],
        [pod('c'), matched],
      ]),
      { previous: undefined, now: T0 },
    );
    assert.deepEqual(nodeCounts([strict, lax], 7), { sandboxes: 7, audited: 3, matched: 1, mismatched: 1, unverified: 1 });
    assert.deepEqual(nodeCounts([], 0), { sandboxes: 0, audited: 0, matched: 0, mismatched: 0, unverified: 0 });
  });
});
