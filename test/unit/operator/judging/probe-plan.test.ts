// Proof before placement, the pure part: when a node's class is probed,
// what a probe's verdict proves, and which labels follow.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  labelChanges,
  pastDeadline,
  probeFingerprint,
  probeOutcome,
  proofLabel,
  proofLabels,
  probesToStart,
  type ProbeNode,
  type ProbeRecord,
  type WantedClass,
} from '../../../../operator/judging/probe-plan.ts';
import type { Verdict } from '../../../../operator/judging/verdict.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const gvisor: WantedClass = { name: 'gvisor', handler: 'gvisor', uid: 'uid-g', admits: () => true };
const kata: WantedClass = { name: 'kata', handler: 'kata', uid: 'uid-k', admits: (n) => n !== 'tainted' };
const limits = { maxInFlight: 10, perMinute: 30, startedLastMinute: 0, intervalMs: DAY, deadlineMs: 180_000 };

function node(name: string, records: ProbeRecord[] = [], extra: Partial<ProbeNode> = {}): ProbeNode {
  return {
    name,
    judgeable: true,
    fingerprint: (c) =>
      probeFingerprint({
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

  test('probed again when the answer could change: kubelet or runtime version, handlers, a re-created class, a workload mismatch after the proof, or the interval', () => {
    const now = 10 * DAY;
    const base = node('a');
    const fresh = proven(base, gvisor, now - HOUR);
    assert.deepEqual(probesToStart([node('a', [fresh])], [gvisor], [], { ...limits, now }), [], 'a fresh proof holds');
    const upgraded = node('a', [fresh], {
      fingerprint: (c) =>
        probeFingerprint({ kubeletVersion: 'v1.37.3', runtimeName: 'containerd', runtimeVersion: '2.4.2', runtimeClassUID: c.uid, handlers: [] }),
    });
    assert.equal(probesToStart([upgraded], [gvisor], [], { ...limits, now })[0]?.why, 'changed');
    const recreated = { ...gvisor, uid: 'uid-g2' };
    assert.equal(probesToStart([node('a', [fresh])], [recreated], [], { ...limits, now })[0]?.why, 'changed');
    const mismatch = node('a', [fresh], { mismatchedAt: new Map([['gvisor', now - 60_000]]) });
    assert.equal(probesToStart([mismatch], [gvisor], [], { ...limits, now })[0]?.why, 'mismatch');
    const old = node('a', [proven(base, gvisor, now - DAY)]);
    assert.equal(probesToStart([old], [gvisor], [], { ...limits, now })[0]?.why, 'interval');
    const mismatchBefore = node('a', [fresh], { mismatchedAt: new Map([['gvisor', now - 2 * HOUR]]) });
    assert.deepEqual(probesToStart([mismatchBefore], [gvisor], [], { ...limits, now }), [], 'a mismatch the proof came after is already answered');
  });

  test('bounded: at most maxInFlight in flight and perMinute a minute, the most urgent first', () => {
    const now = 10 * DAY;
    const base = node('z');
    const nodes = [
      node('a'), // new
      node('b', [proven(base, gvisor, now - 2 * DAY)]), // interval
      node('c', [{ ...proven(base, gvisor, now - HOUR), fingerprint: 'old' }]), // changed
    ];
    const order = probesToStart(nodes, [gvisor], [], { ...limits, now }).map((t) => `${t.node}:${t.why}`);
    assert.deepEqual(order, ['c:changed', 'a:new', 'b:interval']);
    assert.equal(probesToStart(nodes, [gvisor], [{ node: 'x', runtimeClass: 'kata', pod: 'p', startedAt: now }], { ...limits, maxInFlight: 2, now }).length, 1);
    assert.equal(probesToStart(nodes, [gvisor], [], { ...limits, perMinute: 5, startedLastMinute: 5, now }).length, 0);
    assert.equal(probesToStart(nodes, [gvisor], [], { ...limits, maxInFlight: 0, now }).length, 0);
  });

  test('past the deadline: the probes to delete and record as errors', () => {
    const inFlight = [
      { node: 'a', runtimeClass: 'gvisor', pod: 'p1', startedAt: 0 },
      { node: 'b', runtimeClass: 'gvisor', pod: 'p2', startedAt: 100_000 },
    ];
    assert.deepEqual(
      pastDeadline(inFlight, 180_000, 200_000).map((p) => p.pod),
      ['p1'],
    );
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
  test("a class's label exactly while its last probe proved it for the node's current kubelet, runtime, handlers and class", () => {
    const base = node('a');
    const now = DAY;
    const ok = node('a', [proven(base, gvisor, now), { ...proven(base, kata, now), outcome: 'Failed', reason: 'IsolationMismatch' }]);
    assert.deepEqual([...proofLabels(ok, [gvisor, kata])], [['runtimeclass.rcaudit.dev/gvisor', 'proven']]);
    const changed = node('a', [{ ...proven(base, gvisor, now), fingerprint: 'before the upgrade' }]);
    assert.deepEqual([...proofLabels(changed, [gvisor])], [], 'a change takes the label until proven again');
    assert.deepEqual([...proofLabels(ok, [kata])], [], 'a class no audit asks to prove any more has no label');
  });

  test('a class name too long for a label name is never a label', () => {
    assert.equal(proofLabel('a'.repeat(64)), undefined);
    assert.equal(proofLabel('gvisor'), 'runtimeclass.rcaudit.dev/gvisor');
  });

  test("label changes touch only the operator's own prefix: adds, removals, nothing else", () => {
    const current = {
      'kubernetes.io/hostname': 'a',
      'runtimeclass.rcaudit.dev/kata': 'proven',
      'runtimeclass.rcaudit.dev/gvisor': 'proven',
      'rcaudit.dev/handlers-dropped': 'true',
    };
    assert.deepEqual(labelChanges(current, new Map([['runtimeclass.rcaudit.dev/gvisor', 'proven']])), { 'runtimeclass.rcaudit.dev/kata': null });
    assert.deepEqual(labelChanges({}, new Map([['runtimeclass.rcaudit.dev/gvisor', 'proven']])), { 'runtimeclass.rcaudit.dev/gvisor': 'proven' });
    assert.deepEqual(
      labelChanges(
        current,
        new Map([
          ['runtimeclass.rcaudit.dev/gvisor', 'proven'],
          ['runtimeclass.rcaudit.dev/kata', 'proven'],
        ]),
      ),
      {},
    );
  });
});
