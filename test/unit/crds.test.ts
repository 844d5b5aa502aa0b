import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { crdFiles } from '../../api/crds.ts';

test('api/crds/ holds exactly what the schemas in api/v1alpha1 generate (run node hack/gen-crds.ts)', () => {
  for (const [file, yaml] of crdFiles()) {
    const committed = readFileSync(new URL(`../../api/crds/${file}`, import.meta.url), 'utf8');
    assert.equal(committed, yaml, `api/crds/${file} is stale`);
  }
});
