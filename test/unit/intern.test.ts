// The string pool behind the operator's cache: values unchanged, uids left alone, the pool bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { intern, internStrings, pooledCount } from '../../operator/intern.ts';

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
