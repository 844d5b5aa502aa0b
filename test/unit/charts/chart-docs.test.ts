// The chart README's values table is generated from values.yaml's comments
// (hack/gen-chart-docs.sh, helm-docs from the Go module proxy): a value added
// or documented without regenerating it fails here, like the CRDs do.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { CHART } from '../../support/chart.ts';
import { REPO_ROOT } from '../../../hack/versions.ts';

const execFileAsync = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'rca-chart-docs-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
const check = (chart?: string): Promise<unknown> =>
  execFileAsync('bash', ['hack/gen-chart-docs.sh', '--check'], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...(chart === undefined ? {} : { RCA_CHART_DIR: chart }) },
  });

test("the chart README's values table is the one values.yaml generates", async () => {
  await assert.doesNotReject(check(), 'stale: run bash hack/gen-chart-docs.sh');
});

test('a value documented anew without regenerating the table fails the check, saying how to fix it', async () => {
  const copy = join(dir, 'chart');
  cpSync(CHART, copy, { recursive: true });
  const values = join(copy, 'values.yaml');
  writeFileSync(values, readFileSync(values, 'utf8').replace('  logLevel: info', '  # -- How much the agent says.\n  logLevel: info'));
  await assert.rejects(check(copy), (err: Error & { stderr?: string }) =>
    /the chart README's values table is stale: run bash hack\/gen-chart-docs.sh/.test(err.stderr ?? ''),
  );
});
