// The merge patch from one document to another: applied as RFC 7386 says, it gives the second.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergePatch } from '../../../kube/merge-patch.ts';

/** RFC 7386's MergePatch, to check the patches against. */
function apply(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) Reflect.deleteProperty(out, key);
    else out[key] = apply(out[key], value);
  }
  return out;
}

test('keys dropped become null, nested objects are patched key by key, lists and scalars are sent whole', () => {
  const from = { runtime: { reachable: false, lastError: 'UNAVAILABLE', handlers: [{ name: 'runc' }] }, sandboxes: [{ id: 'a' }], omitted: { sandboxes: 3 } };
  const to = { runtime: { reachable: true, handlers: [] }, sandboxes: [] };
  const patch = mergePatch(from, to);
  assert.deepEqual(patch, { runtime: { reachable: true, lastError: null, handlers: [] }, sandboxes: [], omitted: null });
  assert.deepEqual(apply(from, patch), to);
});

test('from nothing, the document itself; to a scalar or a list, that value', () => {
  assert.deepEqual(mergePatch(undefined, { a: 1 }), { a: 1 });
  assert.deepEqual(mergePatch({ a: 1 }, [1, 2]), [1, 2]);
  assert.equal(mergePatch({ a: 1 }, 'x'), 'x');
});
