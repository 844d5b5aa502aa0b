import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { crdFiles } from '../../api/crds.ts';

test('charts/runtimeclass-audit/files/crds/ holds exactly what the schemas in api/v1alpha1 generate (run node hack/gen-crds.ts)', () => {
  for (const [file, yaml] of crdFiles()) {
    const committed = readFileSync(new URL(`../../charts/runtimeclass-audit/files/crds/${file}`, import.meta.url), 'utf8');
    assert.equal(committed, yaml, `charts/runtimeclass-audit/files/crds/${file} is stale`);
  }
});
