// Writes api/crds/*.yaml from the schemas in api/v1alpha1.
//   node hack/gen-crds.ts
import { writeFileSync } from 'node:fs';
import { crdFiles } from '../api/crds.ts';

for (const [file, yaml] of crdFiles()) {
  writeFileSync(new URL(`../api/crds/${file}`, import.meta.url), yaml);
  process.stdout.write(`wrote api/crds/${file}\n`);
}
