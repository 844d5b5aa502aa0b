// Table tests of the verdict engine: every verdict and reason, and the rules behind them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NodeSandboxReportSpec, ReportedSandbox } from '../../../../api/v1alpha1/node-sandbox-report.ts';
import {
  auditNode,
  currentSandbox,
  judgePod,
  type AuditedPod,
  type AuditPolicy,
  type NodeView,
  type VerdictReason,
} from '../../../../operator/judging/verdict.ts';
import { reportSpec, sandbox as reportedSandbox } from '../../../support/operator.ts';

const NOW = Date.parse('2026-11-23T12:00:00Z');
const policy: AuditPolicy = { expectedRuntimeTypes: {}, expectedIsolation: {}, gracePeriodMs: 60_000 };
const strictPolicy: AuditPolicy = { expectedRuntimeTypes: { kata: 'io.containerd.kata.v2' }, expectedIsolation: {}, gracePeriodMs: 60_000 };
const isolationPolicy: AuditPolicy = { expectedRuntimeTypes: {}, expectedIsolation: { kata: 'vm', gvisor: 'gvisor' }, gracePeriodMs: 60_000 };
const requiring = (...names: string[]): AuditPolicy => ({ ...policy, requiredRuntimeClasses: new Set(names) });
const hostKernel = { class: 'host-kernel', process: 'pause', parent: 'containerd-shim-runc-v2', hostProcesses: 1 } as const;

const sandbox = (over: Partial<ReportedSandbox> = {}): ReportedSandbox =>
  reportedSandbox('uid-1', { id: 'sb-1', namespace: 'ns', name: 'p', createdAt: '2026-11-23T11:00:00.000Z', runtimeType: 'io.containerd.runc.v2', ...over });
/** Node n1's report, its runtime listing no handler unless `runtime` does. */
const report = (sandboxes: ReportedSandbox[], runtime: Partial<NodeSandboxReportSpec['runtime']> = {}): NodeSandboxReportSpec =>
  reportSpec('n1', sandboxes, { handlers: [], ...runtime });

const pod = (over: Partial<AuditedPod> = {}): AuditedPod => ({
  uid: 'uid-1',
  namespace: 'ns',
  name: 'p',
  nodeName: 'n1',
  runtimeClassName: 'kata',
  expectedHandler: 'kata',
  boundAt: NOW - 600_000,
  ...over,
});

/** A copy of `o` without the named (optional) fields. */
function omit<T extends object, K extends keyof T>(o: T, ...keys: K[]): Omit<T, K> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k as K))) as Omit<T, K>;
}
const classless = omit(pod(), 'runtimeClassName', 'expectedHandler');
const hiddenDefault = (): NodeSandboxReportSpec => {
  const r = report([], { infoFormat: 'unknown' });
  return { ...r, runtime: omit(r.runtime, 'defaultHandler') };
};
const unresolved = omit(sandbox({ requestedHandler: '' }), 'resolvedHandler');

const node = (r?: NodeSandboxReportSpec, agentReady = true): NodeView => ({ name: 'n1', agentReady, ...(r === undefined ? {} : { report: r }) });

interface Case {
  name: string;
  pod: AuditedPod;
  node: NodeView | undefined;
  sandboxes: ReportedSandbox[];
  policy?: AuditPolicy;
  want: [kind: string, reason: VerdictReason];
}

const cases: Case[] = [
  { name: 'kata pod whose sandbox got kata', pod: pod(), node: node(report([])), sandboxes: [sandbox()], want: ['Matched', 'Matched'] },
  {
    name: 'the kuscia case: kata pod, sandbox asked for "" (runc)',
    pod: pod(),
    node: node(report([])),
    sandboxes: [sandbox({ requestedHandler: '', resolvedHandler: 'runc' })],
    want: ['Mismatched', 'HandlerMismatch'],
  },
  {
    name: 'kata pod whose sandbox named another handler',
    pod: pod(),
    node: node(report([])),
    sandboxes: [sandbox({ requestedHandler: 'runc-alt', resolvedHandler: 'runc-alt' })],
    want: ['Mismatched', 'HandlerMismatch'],
  },
  {
    name: 'handler name right, runtime type not the one the audit expects (kata configured as runc)',
    pod: pod(),
    node: node(report([])),
    sandboxes: [sandbox()],
    policy: strictPolicy,
    want: ['Mismatched', 'RuntimeTypeMismatch'],
  },
  {
    name: 'handler and runtime type both as the audit expects',
    pod: pod(),
    node: node(report([])),
    sandboxes: [sandbox({ runtimeType: 'io.containerd.kata.v2' })],
    policy: strictPolicy,
    want: ['Matched', 'Matched'],
  },
  {
    name: 'handler kata, but the host shows the host kernel where the audit asks for a VM (kata that is runc, on CRI-O too)',
    pod: pod(),
    node: node(report([])),
    sandboxes: [sandbox({ runtimeType: 'oci', evidence: hostKernel })],
    policy: isolationPolicy,
    want: ['Mismatched', 'IsolationMismatch'],
  },
  {
    name: 'gvisor pod in a real gVisor sandbox',
    pod: pod({ runtimeClassName: 'gvisor', expectedHandler: 'gvisor' }),
    node: node(report([])),
    sandboxes: [
      sandbox({
        requestedHandler: 'gvisor',
        resolvedHandler: 'gvisor',
        runtimeType: 'io.containerd.runsc.v1',
        evidence: { class: 'gvisor', process: 'runsc-sandbox' },
      }),
    ],
    policy: isolationPolicy,
    want: ['Matched', 'Matched'],
  },
  {
    name: 'a dropped handler is a HandlerMismatch first, whatever the evidence',
    pod: pod({ runtimeClassName: 'gvisor', expectedHandler: 'gvisor' }),
    node: node(report([])),
    sandboxes: [sandbox({ requestedHandler: '', resolvedHandler: 'runc', evidence: hostKernel })],
    policy: isolationPolicy,
    want: ['Mismatched', 'HandlerMismatch'],
  },
  {
    name: 'evidence unknown: unverified, never mismatched',
    pod: pod(),
    node: node(report([])),
    sandboxes: [sandbox({ evidence: { class: 'unknown', reason: 'process 42 is gone' } })],
    policy: isolationPolicy,
    want: ['Unverified', 'EvidenceUnknown'],
  },
  {
    name: 'no evidence on the sandbox (an older agent): unverified',
    pod: pod(),
    node: node(report([])),
    sandboxes: [sandbox()],
    policy: isolationPolicy,
    want: ['Unverified', 'EvidenceUnknown'],
  },
  {
    name: 'evidence gathering turned off on the node: unverified, saying so',
    pod: pod(),
    node: node({ ...report([]), isolationEvidence: 'Disabled' }),
    sandboxes: [sandbox()],
    policy: isolationPolicy,
    want: ['Unverified', 'EvidenceDisabled'],
  },
  {
    name: 'a handler the audit asks no isolation of is judged as before, evidence or not',
    pod: pod({ runtimeClassName: 'runc', expectedHandler: 'runc' }),
    node: node({ ...report([]), isolationEvidence: 'Disabled' }),
    sandboxes: [sandbox({ requestedHandler: 'runc', resolvedHandler: 'runc' })],
    policy: isolationPolicy,
    want: ['Matched', 'Matched'],
  },
  { name: 'no sandbox past the grace period', pod: pod(), node: node(report([])), sandboxes: [], want: ['Unverified', 'NoSandbox'] },
  {
    name: 'no sandbox listed, in a report that left sandboxes out to fit its schema: not known to be missing',
    pod: pod(),
    node: node({ ...report([]), omitted: { sandboxes: 3 } }),
    sandboxes: [],
    want: ['Unverified', 'SandboxNotReported'],
  },
  {
    name: 'no sandbox yet, in a report that left sandboxes out: within the grace period it is awaited as ever',
    pod: pod({ boundAt: NOW - 5_000 }),
    node: node({ ...report([]), omitted: { sandboxes: 3 } }),
    sandboxes: [],
    want: ['Unverified', 'AwaitingSandbox'],
  },
  {
    name: 'a report that left out only handlers or fields still knows its sandboxes',
    pod: pod(),
    node: node({ ...report([]), omitted: { handlers: 1, fields: 2 } }),
    sandboxes: [],
    want: ['Unverified', 'NoSandbox'],
  },
  {
    name: 'no sandbox yet, within the grace period',
    pod: pod({ boundAt: NOW - 5_000 }),
    node: node(report([])),
    sandboxes: [],
    want: ['Unverified', 'AwaitingSandbox'],
  },
  { name: 'no report from the node: unverified, never mismatched', pod: pod(), node: node(undefined), sandboxes: [], want: ['Unverified', 'NoReport'] },
  { name: 'node unknown', pod: pod(), node: undefined, sandboxes: [], want: ['Unverified', 'NoReport'] },
  {
    name: 'agent not ready: its report may be stale',
    pod: pod(),
    node: node(report([]), false),
    sandboxes: [sandbox({ requestedHandler: '', resolvedHandler: 'runc' })],
    want: ['Unverified', 'AgentNotReady'],
  },
  {
    name: 'runtime unreachable',
    pod: pod(),
    node: node(report([], { reachable: false, unreachableSince: '2026-11-23T11:59:00Z' })),
    sandboxes: [sandbox()],
    want: ['Unverified', 'RuntimeUnreachable'],
  },
  {
    name: 'runtime unreachable while the agent reads not Ready (the node controller marks every pod of a node whose runtime is down)',
    pod: pod(),
    node: node(report([], { reachable: false, unreachableSince: '2026-11-23T11:59:00Z' }), false),
    sandboxes: [sandbox()],
    want: ['Unverified', 'RuntimeUnreachable'],
  },
  {
    name: 'RuntimeClass not found when first seen',
    pod: pod({ expectedHandler: null }),
    node: node(report([])),
    sandboxes: [sandbox()],
    want: ['Unverified', 'RuntimeClassNotFound'],
  },
  {
    name: 'RuntimeClass re-created with another handler: the handler captured at first sight counts',
    pod: pod({ expectedHandler: 'kata' }),
    node: node(report([])),
    sandboxes: [sandbox()],
    want: ['Matched', 'Matched'],
  },
  {
    name: 'pod without a RuntimeClass gets the runtime default',
    pod: classless,
    node: node(report([])),
    sandboxes: [sandbox({ requestedHandler: '', resolvedHandler: 'runc' })],
    want: ['Matched', 'Matched'],
  },
  {
    name: 'pod without a RuntimeClass on a runtime that hides its default',
    pod: classless,
    node: node(hiddenDefault()),
    sandboxes: [unresolved],
    want: ['Unverified', 'UnsupportedRuntime'],
  },
  {
    name: 'sandbox asked for "" on a runtime that hides its default',
    pod: pod(),
    node: node(hiddenDefault()),
    sandboxes: [unresolved],
    want: ['Unverified', 'UnsupportedRuntime'],
  },
  {
    name: 'restarted pod: the newest live sandbox is judged, not the dead one',
    pod: pod(),
    node: node(report([])),
    sandboxes: [
      sandbox({ id: 'old', attempt: 0, state: 'NotReady', createdAt: '2026-11-23T10:00:00.000Z', requestedHandler: '', resolvedHandler: 'runc' }),
      sandbox({ id: 'new', attempt: 1, state: 'Ready', createdAt: '2026-11-23T11:00:00.000Z' }),
    ],
    want: ['Matched', 'Matched'],
  },
  {
    name: 'restarted pod whose newest live sandbox lost the handler',
    pod: pod(),
    node: node(report([])),
    sandboxes: [
      sandbox({ id: 'old', attempt: 0, state: 'NotReady', createdAt: '2026-11-23T10:00:00.000Z' }),
      sandbox({ id: 'new', attempt: 1, state: 'Ready', createdAt: '2026-11-23T11:00:00.000Z', requestedHandler: '', resolvedHandler: 'runc' }),
    ],
    want: ['Mismatched', 'HandlerMismatch'],
  },
  {
    name: 'required RuntimeClasses: a kata pod where only gvisor is allowed, though its sandbox got kata',
    pod: pod(),
    node: node(report([])),
    sandboxes: [sandbox()],
    policy: requiring('gvisor'),
    want: ['Mismatched', 'RuntimeClassNotAllowed'],
  },
  {
    name: 'required RuntimeClasses: a pod with no RuntimeClass at all',
    pod: classless,
    node: node(report([])),
    sandboxes: [sandbox({ requestedHandler: '', resolvedHandler: 'runc' })],
    policy: requiring('gvisor', 'kata'),
    want: ['Mismatched', 'RuntimeClassNotAllowed'],
  },
  {
    name: 'required RuntimeClasses: needs no report, since the pod spec says it',
    pod: pod({ runtimeClassName: 'runc', expectedHandler: 'runc' }),
    node: undefined,
    sandboxes: [],
    policy: requiring('gvisor'),
    want: ['Mismatched', 'RuntimeClassNotAllowed'],
  },
  {
    name: 'required RuntimeClasses: an allowed one is judged as usual, and can still be mismatched',
    pod: pod(),
    node: node(report([])),
    sandboxes: [sandbox({ requestedHandler: '', resolvedHandler: 'runc' })],
    policy: requiring('gvisor', 'kata'),
    want: ['Mismatched', 'HandlerMismatch'],
  },
  {
    name: 'required RuntimeClasses: an allowed one whose sandbox matches',
    pod: pod(),
    node: node(report([])),
    sandboxes: [sandbox()],
    policy: requiring('kata'),
    want: ['Matched', 'Matched'],
  },
];

describe('judgePod', () => {
  for (const c of cases) {
    test(c.name, () => {
      const v = judgePod(c.pod, c.node, c.sandboxes, { policy: c.policy ?? policy, now: NOW });
      assert.deepEqual([v.kind, v.reason], c.want, v.message);
      assert.ok(v.message.length > 0);
    });
  }

  test('a pod outside the required RuntimeClasses: the message names its class and the allowed ones, and no handler or sandbox', () => {
    const v = judgePod(pod({ runtimeClassName: 'runc', expectedHandler: 'runc' }), node(report([])), [sandbox()], {
      policy: requiring('kata', 'gvisor'),
      now: NOW,
    });
    assert.equal(v.message, 'the pod names RuntimeClass runc; its namespace requires one of gvisor, kata');
    assert.equal(v.expectedHandler, undefined);
    assert.equal(v.actual, undefined, 'a sandbox cannot make it right, so a new one must not start a new finding');
  });

  test('a mismatch names what was expected and what the sandbox really got', () => {
    const v = judgePod(pod(), node(report([])), [sandbox({ id: 'abcdef0123456789', requestedHandler: '', resolvedHandler: 'runc' })], { policy, now: NOW });
    assert.equal(v.expectedHandler, 'kata');
    assert.deepEqual(v.actual, { sandboxId: 'abcdef0123456789', requestedHandler: '', resolvedHandler: 'runc', runtimeType: 'io.containerd.runc.v2' });
    assert.equal(v.message, 'expected handler kata, sandbox abcdef012345 got "" (the default, runc)');
  });
});

describe('currentSandbox', () => {
  test('with no live sandbox, the newest dead one speaks', () => {
    const a = sandbox({ id: 'a', state: 'NotReady', createdAt: '2026-11-23T10:00:00.000Z' });
    const b = sandbox({ id: 'b', state: 'NotReady', createdAt: '2026-11-23T11:00:00.000Z' });
    assert.equal(currentSandbox([a, b])?.id, 'b');
    assert.equal(currentSandbox([]), undefined);
  });
});

describe('auditNode', () => {
  test('static pods match through kubernetes.io/config.mirror; orphans and pods bound elsewhere are set apart', () => {
    const staticSandbox = sandbox({ id: 'static', podUID: 'static-hash', requestedHandler: '', resolvedHandler: 'runc' });
    const orphan = sandbox({ id: 'orphan', podUID: 'nobody' });
    const foreign = sandbox({ id: 'foreign', podUID: 'uid-elsewhere' });
    const kata = sandbox({ id: 'kata', podUID: 'uid-1' });
    const stoppedOrphan = sandbox({ id: 'stopped-orphan', podUID: 'gone', state: 'NotReady' });
    const unaudited = sandbox({ id: 'unaudited', podUID: 'uid-plain', requestedHandler: '', resolvedHandler: 'runc' });
    const r = report([staticSandbox, orphan, foreign, kata, stoppedOrphan, unaudited]);
    const mirror: AuditedPod = { ...classless, uid: 'mirror-uid', name: 'etcd-n1', mirrorOf: 'static-hash' };
    const boundTo = new Map([
      ['uid-elsewhere', 'n2'],
      ['uid-plain', 'n1'],
    ]);
    const result = auditNode(node(r), [pod(), mirror], (uid) => boundTo.get(uid), { policy, now: NOW });
    assert.equal(result.verdicts.get('uid-1')?.reason, 'Matched');
    assert.equal(result.verdicts.get('mirror-uid')?.reason, 'Matched');
    assert.equal(result.verdicts.size, 2, 'a pod on the node that is not audited gets no verdict');
    // A stopped sandbox of a deleted pod is the kubelet's garbage, not an orphan; one of a pod on this node that is not audited is neither.
    assert.deepEqual(
      result.orphans.map((s) => s.id),
      ['orphan'],
    );
    assert.deepEqual(
      result.suspicious.map((s) => s.id),
      ['foreign'],
    );
  });

  test('says when a verdict next changes by itself: the first pod awaiting its sandbox runs out of grace', () => {
    const waiting = [pod({ uid: 'a', boundAt: NOW - 5_000 }), pod({ uid: 'b', boundAt: NOW - 20_000 }), pod({ uid: 'c', boundAt: NOW - 90_000 })];
    assert.equal(auditNode(node(report([])), waiting, () => 'n1', { policy, now: NOW }).nextChangeAt, NOW - 20_000 + 60_000);
    assert.equal(auditNode(node(report([sandbox({ podUID: 'uid-1' })])), [pod()], () => 'n1', { policy, now: NOW }).nextChangeAt, undefined, 'nothing awaits');
  });

  test('a report that names a pod bound to another node does not judge that pod', () => {
    const claim = sandbox({ podUID: 'uid-2', requestedHandler: '', resolvedHandler: 'runc' });
    const result = auditNode(node(report([claim])), [], (uid) => (uid === 'uid-2' ? 'n2' : undefined), { policy, now: NOW });
    assert.equal(result.verdicts.size, 0);
    assert.equal(result.suspicious.length, 1);
  });
});
