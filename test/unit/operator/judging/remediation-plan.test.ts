// Remediation's decisions (operator/judging/remediation-plan.ts): when a pod
// is due for eviction, the node label rule, the defaults.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PodVerdictEntry, ReportedSandbox } from '../../../../api/v1alpha1/node-sandbox-report.ts';
import {
  breakerTrips,
  evictionDue,
  handlerPath,
  labelAction,
  remediationOf,
  storedHalt,
  type EvictionPolicy,
  type PastEviction,
} from '../../../../operator/judging/remediation-plan.ts';
import { sandbox, verdictEntry } from '../../../support/operator.ts';

const SINCE = '2026-11-23T10:00:00.000Z';
const at = (seconds: number): number => Date.parse(SINCE) + seconds * 1000;
const entry = (over: Partial<PodVerdictEntry> = {}): PodVerdictEntry =>
  verdictEntry({ verdict: 'Mismatched', reason: 'HandlerMismatch', actualHandler: 'runc', sandboxId: 'sb-1', since: SINCE, ...over });
const evicting: EvictionPolicy = {
  mode: 'Enabled',
  afterMs: 300_000,
  maxPerMinute: 2,
  spareDefaultHandlerPods: true,
  breaker: { percentOfAuditedPods: 10, nodes: 3, windowMs: 3_600_000 },
};
/** The nodes' runtime's default handler: the kata pods these entries describe asked for another. */
const RUNC = 'runc';

describe('evictionDue', () => {
  test('a handler, runtime type or isolation mismatch is due once it has lasted afterSeconds; before that, when it will be', () => {
    assert.deepEqual(evictionDue(entry(), evicting, at(299), RUNC), { kind: 'wait', untilMs: at(300) });
    assert.deepEqual(evictionDue(entry(), evicting, at(300), RUNC), { kind: 'evict' });
    assert.deepEqual(evictionDue(entry({ reason: 'IsolationMismatch' }), evicting, at(301), RUNC), { kind: 'evict' });
    assert.deepEqual(evictionDue(entry({ reason: 'RuntimeTypeMismatch' }), { ...evicting, afterMs: 0 }, at(0), RUNC), { kind: 'evict' });
  });
  test('never: a pod whose RuntimeClass is not allowed (its replacement would ask for the same), a match, an unverified pod, or remediation Disabled', () => {
    assert.deepEqual(evictionDue(entry({ reason: 'RuntimeClassNotAllowed' }), evicting, at(1000), RUNC), { kind: 'none' });
    assert.deepEqual(evictionDue(entry({ verdict: 'Matched', reason: 'Matched' }), evicting, at(1000), RUNC), { kind: 'none' });
    assert.deepEqual(evictionDue(entry({ verdict: 'Unverified', reason: 'AgentNotReady' }), evicting, at(1000), RUNC), { kind: 'none' });
    assert.deepEqual(evictionDue(entry(), { ...evicting, mode: 'Disabled' }, at(1000), RUNC), { kind: 'none' });
    assert.deepEqual(evictionDue(entry({ since: 'not a time' }), evicting, at(1000), RUNC), { kind: 'none' });
  });
  test('never a pod that asked for the default handler, or for none, or where the default is not known; unless the audit says so in so many words', () => {
    const bare = verdictEntry({ verdict: 'Mismatched', reason: 'IsolationMismatch', since: SINCE, expectedHandler: 'runc' });
    delete (bare as { runtimeClassName?: string }).runtimeClassName;
    assert.deepEqual(evictionDue(bare, evicting, at(1000), RUNC), { kind: 'none' }, 'no RuntimeClass');
    assert.deepEqual(
      evictionDue(entry({ expectedHandler: 'runc', runtimeClassName: 'runc' }), evicting, at(1000), RUNC),
      { kind: 'none' },
      'the default, by name',
    );
    assert.deepEqual(evictionDue(entry(), evicting, at(1000), undefined), { kind: 'none' }, 'a default the report cannot name');
    assert.deepEqual(evictionDue(bare, { ...evicting, spareDefaultHandlerPods: false }, at(1000), RUNC), { kind: 'evict' });
  });
});

describe('handlerPath and labelAction: the node label rule', () => {
  const sb = (id: string, requestedHandler: string): ReportedSandbox =>
    sandbox(id, { namespace: 'ns', name: id, id, requestedHandler, resolvedHandler: requestedHandler === '' ? 'runc' : requestedHandler });
  const kataPod = (id: string): PodVerdictEntry => entry({ uid: id, name: id, sandboxId: id });
  test('counts current sandboxes that should have had a non-default handler: dropped ("") or honored; default-handler pods and pods without a sandbox say nothing', () => {
    const pods = [kataPod('a'), kataPod('b'), kataPod('c'), entry({ uid: 'd', sandboxId: 'd', expectedHandler: 'runc' }), kataPod('no-sandbox')];
    assert.deepEqual(handlerPath(pods, [sb('a', ''), sb('b', ''), sb('c', 'kata'), sb('d', '')], 'runc'), { dropped: 2, honored: 1 });
    assert.deepEqual(handlerPath(pods, [sb('a', '')], undefined), { dropped: 0, honored: 0 }, 'without the default handler nothing can be told');
  });
  test('labelled when every such sandbox got "" over at least minPods; unlabelled only on evidence of a handler passed', () => {
    assert.equal(labelAction({ dropped: 3, honored: 0 }, 3, false), 'add');
    assert.equal(labelAction({ dropped: 2, honored: 0 }, 3, false), undefined, 'too few pods to say');
    assert.equal(labelAction({ dropped: 5, honored: 1 }, 3, false), undefined, 'a handler passed: not every sandbox lost it');
    assert.equal(labelAction({ dropped: 0, honored: 0 }, 3, true), undefined, 'no evidence either way: the label stays');
    assert.equal(labelAction({ dropped: 4, honored: 1 }, 3, true), 'remove');
    assert.equal(labelAction({ dropped: 4, honored: 0 }, 3, true), undefined);
  });
});

test("remediationOf: the schema's defaults, Disabled unless asked", () => {
  const base = { auditPodsWithoutRuntimeClass: false, gracePeriodSeconds: 120 };
  assert.deepEqual(remediationOf(base), {
    evict: {
      mode: 'Disabled',
      afterMs: 300_000,
      maxPerMinute: 1,
      spareDefaultHandlerPods: true,
      breaker: { percentOfAuditedPods: 10, nodes: 3, windowMs: 3_600_000 },
    },
    labelNodes: { mode: 'Disabled', minPods: 3 },
  });
  assert.deepEqual(
    remediationOf({ ...base, remediation: { evict: { mode: 'DryRun', afterSeconds: 0, maxPerMinute: 5, defaultHandlerPods: 'Spared' } } }).evict,
    {
      mode: 'DryRun',
      afterMs: 0,
      maxPerMinute: 5,
      spareDefaultHandlerPods: true,
      breaker: { percentOfAuditedPods: 10, nodes: 3, windowMs: 3_600_000 },
    },
  );
});

describe('the circuit breaker', () => {
  const breaker = { percentOfAuditedPods: 10, nodes: 3, windowMs: 3_600_000 };
  const past = (...nodes: string[]): PastEviction[] => nodes.map((node, i) => ({ at: at(i), node }));

  test('trips when one more eviction would exceed the share of the audited pods within the window; one is always allowed', () => {
    assert.equal(breakerTrips(breaker, { past: [], node: 'n1', audited: 0, now: at(10) }), undefined, 'no status yet: the first eviction is allowed');
    assert.match(
      breakerTrips(breaker, { past: past('n1'), node: 'n1', audited: 0, now: at(10) })?.message ?? '',
      /would make 2 in 1 h, more than 10% of the 0 pods this audit audits \(1\)/,
    );
    assert.equal(breakerTrips(breaker, { past: past('n1', 'n1', 'n1', 'n1'), node: 'n1', audited: 50, now: at(10) }), undefined, '5 of 50 is 10%');
    assert.match(
      breakerTrips(breaker, { past: past('n1', 'n1', 'n1', 'n1', 'n1'), node: 'n1', audited: 50, now: at(10) })?.message ?? '',
      /would make 6 in 1 h/,
    );
  });

  test('trips when one more eviction would touch more nodes than allowed within the window', () => {
    assert.equal(breakerTrips(breaker, { past: past('n1', 'n2'), node: 'n3', audited: 1000, now: at(10) }), undefined);
    assert.equal(breakerTrips(breaker, { past: past('n1', 'n2', 'n3'), node: 'n2', audited: 1000, now: at(10) }), undefined, 'a node already counted');
    const halt = breakerTrips(breaker, { past: past('n1', 'n2', 'n3'), node: 'n4', audited: 1000, now: at(10) });
    assert.match(halt?.message ?? '', /on node n4, would make evictions on 4 nodes in 1 h, more than 3/);
    assert.match(halt?.message ?? '', /looks more like a policy error.*until its spec changes/);
  });

  test('evictions older than the window do not count', () => {
    assert.equal(breakerTrips(breaker, { past: past('n1', 'n2', 'n3'), node: 'n4', audited: 1000, now: at(3) + 3_600_000 }), undefined);
    assert.match(
      breakerTrips({ ...breaker, windowMs: 600_000 }, { past: past('n1', 'n2', 'n3'), node: 'n4', audited: 1000, now: at(0) })?.message ?? '',
      /in 10 min/,
    );
  });

  test('a halt kept in the status holds while the spec keeps its generation; any change to the spec lifts it', () => {
    const halted = { type: 'Remediating', status: 'False', reason: 'Halted', message: 'why', observedGeneration: 4 };
    assert.deepEqual(storedHalt({ generation: 4, status: { conditions: [halted] } }), { message: 'why' });
    assert.equal(storedHalt({ generation: 5, status: { conditions: [halted] } }), undefined);
    assert.equal(storedHalt({ generation: 4, status: { conditions: [{ ...halted, reason: 'Asked' }] } }), undefined);
    assert.equal(storedHalt({ generation: 4 }), undefined);
  });
});
