// The import rules of .dependency-cruiser.ts, shown to bite: a scratch tree
// with the repo's folder names and one planted fault each, cruised with the
// repo's own rules. (hack/test.sh runs the same rules over the real tree.)
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import config from '../../.dependency-cruiser.ts';

/** Writes `files` (path to source) into a fresh directory and cruises it with the repo's rules; the names of the rules broken. */
async function brokenRules(files: Record<string, string>): Promise<string[]> {
  const root = mkdtempSync(join(tmpdir(), 'rca-architecture-'));
  for (const [path, source] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), source);
  }
  const folders = [...new Set(Object.keys(files).map((f) => f.split('/')[0] ?? f))];
  const { output } = await cruise(folders, {
    baseDir: root,
    validate: true,
    ruleSet: { forbidden: config.forbidden },
    tsPreCompilationDeps: true,
  });
  const result = output as ICruiseResult;
  return [...new Set(result.summary.violations.map((v) => v.rule.name))].sort();
}

const typeOnly = (from: string): string => `import type { X } from '${from}';\nexport type Y = X;\nexport interface X { a: number }\n`;

test('a clean tree in the layers passes', async () => {
  assert.deepEqual(
    await brokenRules({
      'api/types.ts': 'export interface Report { a: number }\n',
      'operator/judging/verdict.ts': "import type { Report } from '../../api/types.ts';\nexport const judge = (r: Report): number => r.a;\n",
      'operator/cache/cache.ts': "import { judge } from '../judging/verdict.ts';\nexport const cached = judge({ a: 1 });\n",
      'operator/reconcilers/node.ts': "import { cached } from '../cache/cache.ts';\nexport const n = cached;\n",
    }),
    [],
  );
});

test('a loop made only of type imports is refused', async () => {
  assert.deepEqual(
    await brokenRules({
      'operator/judging/a.ts': typeOnly('./b.ts'),
      'operator/judging/b.ts': typeOnly('./a.ts'),
    }),
    ['no-import-loop'],
  );
});

test('judging may import only api/ and itself: not the cache, not a package, not a node: module', async () => {
  const broken = await brokenRules({
    'operator/judging/verdict.ts':
      "import type { Cached } from '../cache/cache.ts';\nimport { createHash } from 'node:crypto';\nexport const v = (c: Cached): string => createHash('sha256').update(String(c.a)).digest('hex');\n",
    'operator/cache/cache.ts': 'export interface Cached { a: number }\n',
  });
  assert.ok(broken.includes('judging-is-pure'), broken.join(', '));
  assert.ok(broken.includes('operator-machinery-judging-imports-no-layer-above'), broken.join(', '));
});

test('a folder importing one above it is refused, in the operator and between the shared folders', async () => {
  const broken = await brokenRules({
    'operator/cache/cache.ts': "import { write } from '../acting/writer.ts';\nexport const c = write;\n",
    'operator/acting/writer.ts': 'export const write = 1;\n',
    'kube/rest.ts': "import { log } from '../observability/logger.ts';\nexport const r = log;\n",
    'observability/logger.ts': 'export const log = 1;\n',
    'agent/main.ts': "import { m } from '../operator/main.ts';\nexport const a = m;\n",
    'operator/main.ts': 'export const m = 1;\n',
  });
  assert.deepEqual(broken, ['agent-and-operator-apart', 'kube-imports-only-lower-layers', 'operator-cache-imports-no-layer-above']);
});
