// Writes the chart's CRDs (charts/runtimeclass-audit/files/crds/*.yaml) from the schemas in api/v1alpha1.
//   node hack/gen-crds.ts
import { writeFileSync } from 'node:fs';
import { crdFiles } from '../api/crds.ts';

for (const [file, yaml] of crdFiles()) {
  writeFileSync(new URL(`../charts/runtimeclass-audit/files/crds/${file}`, import.meta.url), yaml);
  process.stdout.write(`wrote charts/runtimeclass-audit/files/crds/${file}\n`);
}
