// The string pool behind the operator's cache: values unchanged, uids left alone, the pool bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../../../../kube/reflector.ts';
import { intern, internStrings, pooledCount } from '../../../../operator/cache/intern.ts';
import { trimReport } from '../../../../operator/cache/trim.ts';
import { report, sandbox } from '../../../support/operator.ts';

test('pooling keeps every value as it was, and leaves the unique fields out of the pool', () => {
  const before = pooledCount();
  const sandbox = {
    id: 'a'.repeat(64),
    podUID: 'u-1',
    namespace: 'team-a',
    runtimeType: 'io.containerd.runc.v2',
    attempt: 0,
    evidence: { isolation: 'host-kernel', uid: 'u-1' },
  };
  const copy = structuredClone(sandbox);
  internStrings(sandbox, new Set(['id', 'podUID', 'uid']));
  assert.deepEqual(sandbox, copy);
  assert.equal(pooledCount() - before, 3, 'namespace, runtimeType and the nested isolation: not the id nor either uid');
});

test('a full pool starts over instead of growing', () => {
  for (let i = 0; i < 60_000; i++) intern(`value-${String(i)}`);
  assert.ok(pooledCount() <= 50_000, `pool holds ${String(pooledCount())}`);
  assert.equal(intern('value-59999'), 'value-59999');
});

test("a report's sandboxes pool what they share, not what is theirs alone (id, uid, name, creation time)", () => {
  const sandboxes = Array.from({ length: 100 }, (_, i) =>
    sandbox(`uid-${String(i).padStart(8, '0')}`, {
      namespace: 'team-b',
      name: `p${String(i)}`,
      createdAt: `2026-11-23T10:${String(i % 60).padStart(2, '0')}:${String(Math.floor(i / 60)).padStart(2, '0')}Z`,
    }),
  );
  const before = pooledCount();
  const trimmed = trimReport(report('n-pool', sandboxes) as KubeObject);
  assert.equal(trimmed.invalid, undefined);
  assert.equal(trimmed.spec?.sandboxes.length, 100);
  // team-b, Ready, kata, io.containerd.kata.v2: a handful, however many sandboxes.
  assert.ok(pooledCount() - before <= 5, `pool grew by ${String(pooledCount() - before)} for 100 sandboxes`);
});
