// Proof before placement, the pure part: when a node's class is probed,
// what a probe's verdict proves, and which labels follow.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  labelChanges,
  nextDue,
  fingerprintText,
  probeOutcome,
  proofLabel,
  desiredLabels,
  decodeRecord,
  encodeRecord,
  recordsFromLabels,
  probeSummaries,
  stillProbing,
  type OperatorPod,
  probesToStart,
  type ProbeNode,
  type ProbeRecord,
  type WantedClass,
} from '../../../../operator/judging/probe-plan.ts';
import type { Verdict } from '../../../../operator/judging/verdict.ts';

const HOUR = 3_600_000;
/** As the view keeps a fingerprint: 16 hex digits of its hash. */
const hashed = (parts: Parameters<typeof fingerprintText>[0]): string => createHash('sha256').update(fingerprintText(parts)).digest('hex').slice(0, 16);
const DAY = 24 * HOUR;
const gvisor: WantedClass = { name: 'gvisor', handler: 'gvisor', uid: 'uid-g', admits: () => true, intervalMs: DAY, retryMs: 600_000, deadlineMs: 180_000 };
const kata: WantedClass = {
  name: 'kata',
  handler: 'kata',
  uid: 'uid-k',
  admits: (n) => n !== 'tainted',
  intervalMs: DAY,
  retryMs: 600_000,
  deadlineMs: 180_000,
};
const limits = { maxInFlight: 10, perMinute: 30, startedLastMinute: 0 };

function node(name: string, records: ProbeRecord[] = [], extra: Partial<ProbeNode> = {}): ProbeNode {
  return {
    name,
    judgeable: true,
    fingerprint: (c) =>
      hashed({
        nodeUID: `uid-${name}`,
        kubeletVersion: 'v1.37.2',
        runtimeName: 'containerd',
        runtimeVersion: '2.4.2',
        runtimeClassUID: c.uid,
        handlers: ['gvisor=io.containerd.runsc.v1', 'runc=io.containerd.runc.v2'],
      }),
    records: new Map(records.map((r) => [r.runtimeClass, r])),
    mismatchedAt: new Map(),
    ...extra,
  };
}
const proven = (n: ProbeNode, cls: WantedClass, probedAt: number): ProbeRecord => ({
  runtimeClass: cls.name,
  outcome: 'Proven',
  reason: 'Proven',
  message: '',
  probedAt,
  fingerprint: n.fingerprint(cls),
});

describe('which probes start', () => {
  test('every admitted (node, class) never probed, on nodes that can judge one; none where the class does not admit the node or one is in flight', () => {
    const nodes = [node('a'), node('b', [], { judgeable: false }), node('tainted')];
    const start = probesToStart(nodes, [gvisor, kata], [{ node: 'a', runtimeClass: 'kata', pod: 'p', startedAt: 0 }], { ...limits, now: 0 });
    assert.deepEqual(
      start.map((t) => [t.node, t.runtimeClass, t.why]),
      [
        ['a', 'gvisor', 'new'],
        ['tainted', 'gvisor', 'new'],
      ],
    );
  });

  test('probed again when the answer could change: the Node re-created, kubelet or runtime version, handlers, a re-created class, a workload mismatch after the proof, a runtime restart, a failure or error after the retry, or the interval', () => {
    const now = 10 * DAY;
    const base = node('a');
    const fresh = proven(base, gvisor, now - HOUR);
    assert.deepEqual(probesToStart([node('a', [fresh])], [gvisor], [], { ...limits, now }), [], 'a fresh proof holds');
    const upgraded = node('a', [fresh], {
      fingerprint: (c) =>
        hashed({ nodeUID: 'uid-a', kubeletVersion: 'v1.37.3', runtimeName: 'containerd', runtimeVersion: '2.4.2', runtimeClassUID: c.uid, handlers: [] }),
    });
    assert.equal(probesToStart([upgraded], [gvisor], [], { ...limits, now })[0]?.why, 'changed');
    // The Node deleted and made again under its name: maybe another machine, whatever the records it was given say.
    const rejoined = node('a', [fresh], {
      fingerprint: (c) =>
        hashed({
          nodeUID: 'uid-a2',
          kubeletVersion: 'v1.37.2',
          runtimeName: 'containerd',
          runtimeVersion: '2.4.2',
          runtimeClassUID: c.uid,
          handlers: ['gvisor=io.containerd.runsc.v1', 'runc=io.containerd.runc.v2'],
        }),
    });
    assert.equal(probesToStart([rejoined], [gvisor], [], { ...limits, now })[0]?.why, 'changed');
    assert.equal(desiredLabels(rejoined, [gvisor]).get('runtimeclass.rcaudit.dev/gvisor'), undefined, 'no label from the last Node of its name');
    const recreated = { ...gvisor, uid: 'uid-g2' };
    assert.equal(probesToStart([node('a', [fresh])], [recreated], [], { ...limits, now })[0]?.why, 'changed');
    const mismatch = node('a', [fresh], { mismatchedAt: new Map([['gvisor', now - 60_000]]) });
    assert.equal(probesToStart([mismatch], [gvisor], [], { ...limits, now })[0]?.why, 'mismatch');
    const old = node('a', [proven(base, gvisor, now - DAY)]);
    assert.equal(probesToStart([old], [gvisor], [], { ...limits, now })[0]?.why, 'interval');
    const restarted = node('a', [fresh], { runtimeSince: now - 60_000 });
    assert.equal(probesToStart([restarted], [gvisor], [], { ...limits, now })[0]?.why, 'restarted');
    assert.equal(desiredLabels(restarted, [gvisor]).get('runtimeclass.rcaudit.dev/gvisor'), 'proven', 'its label stays until the new probe answers');
    assert.deepEqual(probesToStart([node('a', [fresh], { runtimeSince: now - 2 * HOUR })], [gvisor], [], { ...limits, now }), [], 'a restart before the proof');
    const mismatchBefore = node('a', [fresh], { mismatchedAt: new Map([['gvisor', now - 2 * HOUR]]) });
    assert.deepEqual(probesToStart([mismatchBefore], [gvisor], [], { ...limits, now }), [], 'a mismatch the proof came after is already answered');
    const error = { ...fresh, outcome: 'Error' as const, reason: 'DeadlineExceeded' as const };
    assert.deepEqual(probesToStart([node('a', [{ ...error, probedAt: now - 60_000 }])], [gvisor], [], { ...limits, now }), [], 'not at once');
    assert.equal(probesToStart([node('a', [{ ...error, probedAt: now - 600_000 }])], [gvisor], [], { ...limits, now })[0]?.why, 'retry');
    const failed = { ...fresh, outcome: 'Failed' as const, reason: 'HandlerDropped' as const, probedAt: now - 600_000 };
    assert.equal(
      probesToStart([node('a', [failed])], [gvisor], [], { ...limits, now })[0]?.why,
      'retry',
      'a node mended is proven again without waiting a day',
    );
  });

  test('bounded: at most maxInFlight in flight and perMinute a minute, the most urgent first', () => {
    const now = 10 * DAY;
    const nodes = [
      node('a'), // new
      node('b', [proven(node('b'), gvisor, now - 2 * DAY)]), // interval
      node('c', [{ ...proven(node('c'), gvisor, now - HOUR), fingerprint: 'old' }]), // changed
    ];
    const order = probesToStart(nodes, [gvisor], [], { ...limits, now }).map((t) => `${t.node}:${t.why}`);
    assert.deepEqual(order, ['c:changed', 'a:new', 'b:interval']);
    assert.equal(probesToStart(nodes, [gvisor], [{ node: 'x', runtimeClass: 'kata', pod: 'p', startedAt: now }], { ...limits, maxInFlight: 2, now }).length, 1);
    assert.equal(probesToStart(nodes, [gvisor], [], { ...limits, perMinute: 5, startedLastMinute: 5, now }).length, 0);
    assert.equal(probesToStart(nodes, [gvisor], [], { ...limits, maxInFlight: 0, now }).length, 0);
  });

  test('when a record is next due: the interval after a proof, the retry after a failure or an error', () => {
    const base = node('a');
    assert.equal(nextDue(proven(base, gvisor, 1000), gvisor), 1000 + DAY);
    assert.equal(nextDue({ ...proven(base, gvisor, 1000), outcome: 'Error', reason: 'DeadlineExceeded' }, gvisor), 1000 + 600_000);
    assert.equal(nextDue({ ...proven(base, gvisor, 1000), outcome: 'Failed', reason: 'IsolationMismatch' }, gvisor), 1000 + 600_000);
    assert.equal(nextDue(undefined, gvisor), undefined);
  });
});

describe('what a probe proves', () => {
  const v = (reason: Verdict['reason'], extra: Partial<Verdict> = {}): Verdict => ({ kind: 'Mismatched', reason, message: reason, ...extra });
  test('Matched proves; a dropped handler, another handler, runtime type or isolation fails, and says which; evidence that cannot tell fails too', () => {
    assert.equal(probeOutcome(v('Matched', { kind: 'Matched' }))?.outcome, 'Proven');
    assert.equal(probeOutcome(v('HandlerMismatch', { actual: { sandboxId: 's', requestedHandler: '' } }))?.reason, 'HandlerDropped');
    assert.equal(probeOutcome(v('HandlerMismatch', { actual: { sandboxId: 's', requestedHandler: 'runc' } }))?.reason, 'HandlerMismatch');
    assert.equal(probeOutcome(v('RuntimeTypeMismatch'))?.outcome, 'Failed');
    assert.deepEqual(probeOutcome(v('IsolationMismatch')), { outcome: 'Failed', reason: 'IsolationMismatch', message: 'IsolationMismatch' });
    assert.equal(probeOutcome(v('EvidenceUnknown', { kind: 'Unverified' }))?.reason, 'IsolationUnknown');
  });
  test('no sandbox yet, an agent not ready, a runtime not answering: not yet (the deadline decides)', () => {
    for (const reason of ['AwaitingSandbox', 'NoSandbox', 'AgentNotReady', 'RuntimeUnreachable', 'NoReport', 'SandboxNotReported'] as const) {
      assert.equal(probeOutcome(v(reason, { kind: 'Unverified' })), undefined, reason);
    }
  });
});

describe('which labels follow', () => {
  const PROOF = 'runtimeclass.rcaudit.dev/';
  const RECORD = 'probe.runtimeclass.rcaudit.dev/';
  test("a class's proof label exactly while its last probe proved it for the node's current kubelet, runtime, handlers and class; each record's own label beside", () => {
    const base = node('a');
    const now = DAY;
    const ok = node('a', [proven(base, gvisor, now), { ...proven(base, kata, now), outcome: 'Failed', reason: 'IsolationMismatch' }]);
    const labels = desiredLabels(ok, [gvisor, kata]);
    assert.equal(labels.get(`${PROOF}gvisor`), 'proven');
    assert.equal(labels.has(`${PROOF}kata`), false);
    assert.match(labels.get(`${RECORD}kata`) ?? '', /^IsolationMismatch\.[0-9a-f]{16}\.86400$/);
    const changed = node('a', [{ ...proven(base, gvisor, now), fingerprint: '0123456789abcdef' }]);
    assert.equal(desiredLabels(changed, [gvisor]).has(`${PROOF}gvisor`), false, 'a change takes the label until proven again');
    assert.deepEqual([...desiredLabels(ok, [])], [], 'a class no audit asks to prove any more has no label');
  });

  test('a record survives in its label (but its message), and a label this operator did not write is no record', () => {
    const base = node('a');
    const record = { ...proven(base, gvisor, 1_700_000_000_000), outcome: 'Failed' as const, reason: 'HandlerDropped' as const };
    const kept = decodeRecord('gvisor', encodeRecord(record));
    assert.deepEqual({ ...kept, message: '' }, { ...record, message: '' });
    for (const value of ['proven', 'Nonsense.0123456789abcdef.1', 'Proven.xyz.1', 'Proven.0123456789abcdef.'])
      assert.equal(decodeRecord('gvisor', value), undefined, value);
    assert.deepEqual([...recordsFromLabels({ [`${RECORD}gvisor`]: encodeRecord(record), 'other/x': 'y', [`${RECORD}kata`]: 'typo' }).keys()], ['gvisor']);
  });

  test('a class name too long for a label name is never a label', () => {
    assert.equal(proofLabel('a'.repeat(64)), undefined);
    assert.equal(proofLabel('gvisor'), 'runtimeclass.rcaudit.dev/gvisor');
  });

  test("label changes touch only the operator's own prefixes: adds, removals, nothing else", () => {
    const current = {
      'kubernetes.io/hostname': 'a',
      [`${PROOF}kata`]: 'proven',
      [`${PROOF}gvisor`]: 'proven',
      [`${RECORD}kata`]: 'x',
      'rcaudit.dev/handlers-dropped': 'true',
    };
    assert.deepEqual(labelChanges(current, new Map([[`${PROOF}gvisor`, 'proven']])), { [`${PROOF}kata`]: null, [`${RECORD}kata`]: null });
    assert.deepEqual(labelChanges({}, new Map([[`${PROOF}gvisor`, 'proven']])), { [`${PROOF}gvisor`]: 'proven' });
    assert.deepEqual(
      labelChanges(
        current,
        new Map([
          [`${PROOF}gvisor`, 'proven'],
          [`${PROOF}kata`, 'proven'],
          [`${RECORD}kata`, 'x'],
        ]),
      ),
      {},
    );
  });
});

describe("what an audit's status says", () => {
  test('per class asked: the admitted nodes by outcome, a sample of the failures (by node), and a class that does not exist said so', () => {
    const figures = [
      { runtimeClass: 'gvisor', node: 'b', outcome: 'Failed' as const, reason: 'HandlerDropped', message: 'dropped' },
      { runtimeClass: 'gvisor', node: 'a', outcome: 'Proven' as const, reason: 'Proven' },
      { runtimeClass: 'gvisor', node: 'c', outcome: 'Error' as const, reason: 'ProbeDidNotRun' },
      { runtimeClass: 'gvisor', node: 'd', outcome: 'NotProbed' as const, reason: 'NotProbed' },
      { runtimeClass: 'kata', node: 'a', outcome: 'Failed' as const, reason: 'IsolationMismatch' },
    ];
    assert.deepEqual(probeSummaries(['gvisor', 'missing'], new Set(['gvisor', 'kata']), figures), [
      {
        runtimeClass: 'gvisor',
        exists: true,
        label: 'runtimeclass.rcaudit.dev/gvisor',
        nodes: 4,
        proven: 1,
        failed: 1,
        errors: 1,
        notProbed: 1,
        failures: [
          { node: 'b', outcome: 'Failed', reason: 'HandlerDropped', message: 'dropped' },
          { node: 'c', outcome: 'Error', reason: 'ProbeDidNotRun' },
        ],
      },
      { runtimeClass: 'missing', exists: false, label: 'runtimeclass.rcaudit.dev/missing', nodes: 0, proven: 0, failed: 0, errors: 0, notProbed: 0 },
    ]);
  });
});

describe('whom the withdrawal of the proofs waits for', () => {
  test('an operator pod running with a probe namespace, in either form; not one without, nor one that ended', () => {
    const pod = (name: string, args: string[], phase = 'Running'): OperatorPod => ({ name, phase, args: [args] });
    assert.deepEqual(
      stillProbing([
        pod('old', ['operator/main.js', '--probe-namespace=rcaudit-probes']),
        pod('spaced', ['operator/main.js', '--probe-namespace', 'rcaudit-probes']),
        pod('starting', ['operator/main.js', '--probe-namespace=rcaudit-probes'], 'Pending'),
        pod('new', ['operator/main.js', '--probe-image=x', '--remediation']),
        pod('ended', ['operator/main.js', '--probe-namespace=rcaudit-probes'], 'Failed'),
        pod('done', ['operator/main.js', '--probe-namespace=rcaudit-probes'], 'Succeeded'),
      ]),
      ['old', 'spaced', 'starting'],
    );
    assert.deepEqual(stillProbing([{ name: 'unknown-phase', args: [[], ['--probe-namespace=p']] }]), ['unknown-phase'], 'any container');
  });
});
