// The finding-continuity rule (operator/judging/finding.ts continueFinding, and
// operator/README.md): when a finding ends, and when it only pauses.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PodVerdictEntry } from '../../../../api/v1alpha1/node-sandbox-report.ts';
import { continueFinding, lastVerifiedOf } from '../../../../operator/judging/finding.ts';
import { verdictEntry } from '../../../support/operator.ts';

const FIRST = '2026-11-23T10:00:00.000Z';
const NOW = '2026-11-23T12:00:00.000Z';
const entry = (over: Partial<PodVerdictEntry>): PodVerdictEntry => verdictEntry({ since: NOW, ...over });

const kuscia = entry({
  verdict: 'Mismatched',
  reason: 'HandlerMismatch',
  actualHandler: 'runc',
  actualRuntimeType: 'io.containerd.runc.v2',
  sandboxId: 'sb-1',
});
const matched = entry({ actualHandler: 'kata', actualRuntimeType: 'io.containerd.kata.v2', sandboxId: 'sb-1' });
const notAVm = entry({
  verdict: 'Mismatched',
  reason: 'IsolationMismatch',
  actualHandler: 'kata',
  actualRuntimeType: 'oci',
  expectedIsolation: 'vm',
  actualIsolation: 'host-kernel',
  sandboxId: 'sb-1',
});
const notAllowed = entry({ verdict: 'Mismatched', reason: 'RuntimeClassNotAllowed', runtimeClassName: 'kata' });
const unreachable = entry({ verdict: 'Unverified', reason: 'RuntimeUnreachable' });
const agentNotReady = entry({ verdict: 'Unverified', reason: 'AgentNotReady' });
const at = (e: PodVerdictEntry, since: string): PodVerdictEntry => ({ ...e, since });
/** An Unverified entry as stored after `was`: it holds what the pod was last verified to be. */
const holding = (e: PodVerdictEntry, was: PodVerdictEntry): PodVerdictEntry => ({ ...e, since: FIRST, lastVerified: lastVerifiedOf(was) ?? assert.fail() });

describe('a finding lasts until the pod is matched, gone, or its expected or actual handler, runtime type or isolation changes', () => {
  // [case, what was stored before, what is judged now, the since it must keep or take]
  const cases: [string, PodVerdictEntry | undefined, PodVerdictEntry, string][] = [
    ['first sight: a new finding', undefined, kuscia, NOW],
    ['the same mismatch, pass after pass', at(kuscia, FIRST), kuscia, FIRST],
    ['a re-created sandbox with the same handler', at(kuscia, FIRST), { ...kuscia, sandboxId: 'sb-2' }, FIRST],
    ['back after the runtime was unreachable', holding(unreachable, at(kuscia, FIRST)), kuscia, FIRST],
    ['back after the agent was not ready (deleted, rolled, reinstalled)', holding(agentNotReady, at(kuscia, FIRST)), kuscia, FIRST],
    ['a matched pod back after an outage', holding(unreachable, at(matched, FIRST)), matched, FIRST],
    ['matched now: the mismatch ended', at(kuscia, FIRST), matched, NOW],
    ['matched after an outage: the mismatch ended', holding(unreachable, at(kuscia, FIRST)), matched, NOW],
    ['another actual handler', at(kuscia, FIRST), { ...kuscia, actualHandler: 'runc-alt' }, NOW],
    ['another actual runtime type', at(kuscia, FIRST), { ...kuscia, actualRuntimeType: 'io.containerd.runsc.v1' }, NOW],
    ['another expected handler', at(kuscia, FIRST), { ...kuscia, expectedHandler: 'gvisor' }, NOW],
    ["another expected runtime type (the audit's policy changed)", at(matched, FIRST), { ...matched, expectedRuntimeType: 'io.containerd.kata.v2' }, NOW],
    ['another reason', at(kuscia, FIRST), { ...kuscia, reason: 'RuntimeTypeMismatch' }, NOW],
    [
      'another isolation on the host (a re-created sandbox that really isolates now)',
      at(notAVm, FIRST),
      { ...notAVm, actualIsolation: 'vm', verdict: 'Matched', reason: 'Matched' },
      NOW,
    ],
    ["another expected isolation (the audit's policy changed)", at(matched, FIRST), { ...matched, expectedIsolation: 'vm' }, NOW],
    ['an isolation mismatch back after an outage', holding(unreachable, at(notAVm, FIRST)), notAVm, FIRST],
    ['evidence turned off: a handler mismatch with evidence goes on without it', at({ ...kuscia, actualIsolation: 'host-kernel' }, FIRST), kuscia, FIRST],
    ['evidence turned on again: the same handler mismatch', at(kuscia, FIRST), { ...kuscia, actualIsolation: 'host-kernel' }, FIRST],
    [
      'evidence now unknown: the same handler mismatch',
      at({ ...kuscia, actualIsolation: 'host-kernel' }, FIRST),
      { ...kuscia, actualIsolation: 'unknown' },
      FIRST,
    ],
    ['an outage begins: its own since', at(kuscia, FIRST), unreachable, NOW],
    ['an outage goes on: its since holds', holding(unreachable, kuscia), unreachable, FIRST],
    ['one Unverified reason gives way to another', holding(unreachable, kuscia), agentNotReady, NOW],
    ['a pod outside the required RuntimeClasses, pass after pass', at(notAllowed, FIRST), notAllowed, FIRST],
  ];
  for (const [name, before, fresh, since] of cases) {
    test(name, () => {
      assert.equal(continueFinding(fresh, before).since, since);
    });
  }
});

describe('an Unverified entry holds the last verified finding', () => {
  test('taken from a verified entry, carried through Unverified ones, and only while Unverified', () => {
    const first = continueFinding(unreachable, at(kuscia, FIRST));
    assert.deepEqual(first.lastVerified, {
      verdict: 'Mismatched',
      reason: 'HandlerMismatch',
      expectedHandler: 'kata',
      actualHandler: 'runc',
      actualRuntimeType: 'io.containerd.runc.v2',
      since: FIRST,
    });
    const second = continueFinding(agentNotReady, first);
    assert.deepEqual(second.lastVerified, first.lastVerified);
    assert.equal(continueFinding(kuscia, second).lastVerified, undefined);
  });
  test('a pod outside the required RuntimeClasses holds nothing: it is judged from its spec, never Unverified, and a policy that no longer applies must leave no held mismatch', () => {
    assert.equal(lastVerifiedOf(notAllowed), undefined);
    assert.equal(continueFinding(unreachable, at(notAllowed, FIRST)).lastVerified, undefined);
  });

  test('a pod never verified holds nothing', () => {
    assert.equal(continueFinding(unreachable, undefined).lastVerified, undefined);
    assert.equal(continueFinding(agentNotReady, continueFinding(unreachable, undefined)).lastVerified, undefined);
  });
});
