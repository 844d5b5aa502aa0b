// What the operator says about a pod, and which audit's verdict it says.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NodeAuditEntry, PodVerdictEntry } from '../../../../api/v1alpha1/node-sandbox-report.ts';
import { eventName } from '../../../../operator/acting/event-recorder.ts';
import { gravestPerPod, heldNotice, MISMATCH_REASON, noticeFor, podConditionFor, RESOLVED_REASON } from '../../../../operator/judging/notices.ts';
import { verdictEntry } from '../../../support/operator.ts';

const base = verdictEntry({ actualHandler: 'kata', sandboxId: '0123456789abcdef', since: '2026-11-23T10:00:00Z' });
const kuscia: PodVerdictEntry = {
  ...base,
  verdict: 'Mismatched',
  reason: 'HandlerMismatch',
  actualHandler: 'runc',
  actualRuntimeType: 'io.containerd.runc.v2',
};
const wrongType: PodVerdictEntry = {
  ...base,
  verdict: 'Mismatched',
  reason: 'RuntimeTypeMismatch',
  expectedRuntimeType: 'io.containerd.kata.v2',
  actualRuntimeType: 'io.containerd.runc.v2',
};
const unverified: PodVerdictEntry = { ...base, verdict: 'Unverified', reason: 'NoReport' };

describe('noticeFor', () => {
  test('a mismatch is a Warning naming the RuntimeClass, expected and actual, and no sandbox (a re-created one is the same finding)', () => {
    const notice = noticeFor(kuscia, undefined, 'cluster');
    assert.deepEqual([notice?.type, notice?.reason, notice?.once], ['Warning', MISMATCH_REASON, undefined]);
    assert.equal(notice?.message, 'RuntimeClass kata expects handler kata, but the pod runs with runc (io.containerd.runc.v2) (HandlerMismatch)');
    assert.equal(noticeFor({ ...kuscia, sandboxId: 'fedcba9876543210' }, kuscia, 'cluster')?.message, notice.message);
  });
  test('a runtime-type mismatch names the audit whose policy expects that runtime type', () => {
    assert.equal(
      noticeFor(wrongType, undefined, 'strict')?.message,
      'audit strict expects runtime type io.containerd.kata.v2 for handler kata, but the pod runs with kata (io.containerd.runc.v2) (RuntimeTypeMismatch)',
    );
  });
  test('an isolation mismatch names the audit, the isolation it expects of the handler, and what the host shows', () => {
    const notAVm: PodVerdictEntry = {
      ...base,
      verdict: 'Mismatched',
      reason: 'IsolationMismatch',
      actualRuntimeType: 'oci',
      expectedIsolation: 'vm',
      actualIsolation: 'host-kernel',
    };
    assert.equal(
      noticeFor(notAVm, undefined, 'cluster')?.message,
      "audit cluster expects isolation vm for handler kata, but the host shows the pod's sandbox is host-kernel (handler kata (oci)) (IsolationMismatch)",
    );
    assert.equal(
      noticeFor({ ...notAVm, verdict: 'Matched', reason: 'Matched', actualIsolation: 'vm' }, notAVm, 'cluster')?.message,
      'the host now shows the isolation expected of handler kata, vm; it showed host-kernel before',
    );
  });
  test("a pod audited without a RuntimeClass says the expectation is the runtime's default", () => {
    const classless: PodVerdictEntry = {
      uid: kuscia.uid,
      namespace: 'ns',
      name: 'vault',
      verdict: 'Mismatched',
      reason: 'HandlerMismatch',
      expectedHandler: 'kata',
      actualHandler: 'runc',
      since: kuscia.since,
    };
    assert.match(
      noticeFor(classless, undefined, 'cluster')?.message ?? '',
      /^the node runtime's default \(the pod names no RuntimeClass\) is handler kata, but the pod runs with runc/,
    );
  });
  test('the end of a mismatch is said once, as Normal, naming what it was', () => {
    const notice = noticeFor(base, kuscia, 'cluster');
    assert.deepEqual([notice?.type, notice?.reason, notice?.once], ['Normal', RESOLVED_REASON, true]);
    assert.equal(notice?.message, 'now runs with the expected handler kata; it ran with runc (io.containerd.runc.v2) before');
  });
  test('a mismatch that ends with a match after an Unverified spell is still said to end', () => {
    const held: PodVerdictEntry = {
      ...unverified,
      lastVerified: { verdict: 'Mismatched', reason: 'HandlerMismatch', expectedHandler: 'kata', actualHandler: 'runc', since: kuscia.since },
    };
    assert.equal(noticeFor(base, held, 'cluster')?.reason, RESOLVED_REASON);
  });
  test('a mismatch ended by a change of policy, not of the sandbox, says so', () => {
    const nowMatched: PodVerdictEntry = { ...base, actualRuntimeType: 'io.containerd.runc.v2' };
    assert.equal(
      noticeFor(nowMatched, wrongType, 'strict')?.message,
      'no longer mismatched because the expectation changed: it is now handler kata, and the pod runs with kata (io.containerd.runc.v2), as before',
    );
  });
  test('nothing to say of a match that always was, or of an unverified pod', () => {
    assert.equal(noticeFor(base, base, 'cluster'), undefined);
    assert.equal(noticeFor(base, undefined, 'cluster'), undefined);
    assert.equal(noticeFor(unverified, kuscia, 'cluster'), undefined);
  });
});

describe('a pod outside the required RuntimeClasses', () => {
  const notAllowed: PodVerdictEntry = {
    uid: 'u2',
    namespace: 'payments',
    name: 'api',
    verdict: 'Mismatched',
    reason: 'RuntimeClassNotAllowed',
    since: base.since,
  };
  test('is a Warning naming the audit and the RuntimeClass, or that it has none', () => {
    assert.equal(
      noticeFor({ ...notAllowed, runtimeClassName: 'kata' }, undefined, 'payments')?.message,
      'audit payments requires a RuntimeClass from its requiredRuntimeClasses in this namespace, but the pod names RuntimeClass kata (RuntimeClassNotAllowed)',
    );
    assert.equal(
      noticeFor(notAllowed, undefined, 'payments')?.message,
      'audit payments requires a RuntimeClass from its requiredRuntimeClasses in this namespace, but the pod names no RuntimeClass (RuntimeClassNotAllowed)',
    );
  });
  test('is not held through an Unverified spell: it is judged from the spec at every pass, so it never was one', () => {
    const dropped = { ...notAllowed, verdict: 'Unverified', reason: 'NoReport' } as const;
    assert.equal(noticeFor(dropped, notAllowed, 'payments'), undefined);
    assert.equal(heldNotice(dropped, 'payments'), undefined);
  });
  test('its pod condition says so', () => {
    assert.deepEqual(podConditionFor({ ...notAllowed, runtimeClassName: 'runc' }), {
      status: 'False',
      reason: 'RuntimeClassNotAllowed',
      message: 'RuntimeClass runc is not among those its namespace requires',
    });
  });
});

describe('heldNotice', () => {
  test('an Unverified pod that was mismatched holds the very Warning it had (same message, so the same Event)', () => {
    const held: PodVerdictEntry = {
      ...unverified,
      reason: 'RuntimeUnreachable',
      lastVerified: {
        verdict: 'Mismatched',
        reason: 'HandlerMismatch',
        expectedHandler: 'kata',
        actualHandler: 'runc',
        actualRuntimeType: 'io.containerd.runc.v2',
        since: kuscia.since,
      },
    };
    assert.deepEqual(heldNotice(held, 'cluster'), noticeFor(kuscia, undefined, 'cluster'));
  });
  test('nothing is held for a pod that was matched, never verified, or is verified now', () => {
    assert.equal(heldNotice({ ...unverified, lastVerified: { verdict: 'Matched', reason: 'Matched', since: base.since } }, 'cluster'), undefined);
    assert.equal(heldNotice(unverified, 'cluster'), undefined);
    assert.equal(heldNotice(kuscia, 'cluster'), undefined);
  });
});

describe('podConditionFor', () => {
  test("True for matched, False for mismatched, Unknown for unverified; the reason is the verdict's", () => {
    assert.deepEqual([podConditionFor(base).status, podConditionFor(kuscia).status, podConditionFor(unverified).status], ['True', 'False', 'Unknown']);
    assert.equal(podConditionFor(kuscia).reason, 'HandlerMismatch');
    assert.equal(podConditionFor(kuscia).message, 'expected handler kata, actual runc (io.containerd.runc.v2)');
  });
});

describe('gravestPerPod', () => {
  const entry = (name: string, pods: PodVerdictEntry[]): NodeAuditEntry => ({
    name,
    counts: { audited: 0, matched: 0, mismatched: 0, unverified: 0, orphanSandboxes: 0, suspiciousSandboxes: 0 },
    pods,
  });
  test("a pod a lax audit finds matched and a strict one mismatched is flagged as mismatched, with the strict audit's past", () => {
    const lax = { audit: { name: 'lax', spec: {} }, entry: entry('lax', [base]), before: undefined };
    const strict = { audit: { name: 'strict', spec: {} }, entry: entry('strict', [wrongType]), before: entry('strict', [unverified]) };
    const chosen = gravestPerPod([lax, strict]).get('u1');
    assert.equal(chosen?.now.reason, 'RuntimeTypeMismatch');
    assert.equal(chosen.before?.reason, 'NoReport');
    assert.equal(chosen.audit, 'strict');
    assert.equal(gravestPerPod([strict, lax]).get('u1')?.now.reason, 'RuntimeTypeMismatch', 'whatever the order');
  });
  test('unverified outranks matched; each pod once', () => {
    const a = { audit: { name: 'a', spec: {} }, entry: entry('a', [base, { ...base, uid: 'u2' }]), before: undefined };
    const b = { audit: { name: 'b', spec: {} }, entry: entry('b', [unverified]), before: undefined };
    const chosen = gravestPerPod([a, b]);
    assert.deepEqual([...chosen.keys()].sort(), ['u1', 'u2']);
    assert.equal(chosen.get('u1')?.now.verdict, 'Unverified');
  });
});

describe('eventName', () => {
  test('the same notice gets the same name on every replica; another notice another; always a valid name', () => {
    const notice = noticeFor(kuscia, undefined, 'cluster');
    assert.ok(notice);
    assert.equal(eventName(notice), eventName({ ...notice }));
    assert.match(eventName(notice), /^vault\.rca-[0-9a-f]{16}$/);
    assert.notEqual(eventName(notice), eventName({ ...notice, message: `${notice.message}!` }));
    assert.ok(eventName({ ...notice, podName: 'p'.repeat(253) }).length <= 253);
  });
});
