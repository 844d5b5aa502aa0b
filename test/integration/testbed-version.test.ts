// One testbed, one Kubernetes: its etcd holds objects as that version wrote
// them, so `up` of another version refuses while one runs, before it starts
// anything, and the scripts that restart a component (node.sh, apiserver.sh)
// start the running version's, whatever versions.env pins.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { loadTestbed } from '../../hack/testbed/testbed.ts';
import { pinnedVersion, REPO_ROOT } from '../../hack/versions.ts';

const execFileAsync = promisify(execFile);
const testbed = loadTestbed();
const running = testbed.kubernetesVersion.replace(/^v/, '');
const other = running === pinnedVersion('KUBE_OLDEST_VERSION') ? pinnedVersion('KUBE_VERSION') : pinnedVersion('KUBE_OLDEST_VERSION');

describe(`the testbed's Kubernetes version (${testbed.kubernetesVersion})`, () => {
  test('up of another version refuses, saying which runs and what to do, and changes nothing', async () => {
    const pids = readFileSync(join(REPO_ROOT, '.testbed', 'pids', 'kube-apiserver.pid'), 'utf8');
    await assert.rejects(
      execFileAsync('bash', ['hack/testbed/up.sh'], { cwd: REPO_ROOT, env: { ...process.env, KUBE_VERSION: other } }),
      (err: { stderr?: string }) => {
        assert.match(err.stderr ?? '', new RegExp(`the testbed runs Kubernetes v${running}, not v${other}: npm run testbed:down first`));
        return true;
      },
    );
    assert.equal(readFileSync(join(REPO_ROOT, '.testbed', 'pids', 'kube-apiserver.pid'), 'utf8'), pids, 'the API server was left alone');
  });

  test('a script that restarts components sees the version its testbed records, not the pinned one, and passes it to what it starts', async () => {
    // A testbed directory that records the other version: what node.sh and apiserver.sh source there
    // (common.sh), and what tools.sh, which they run, reads afresh (lib.sh and versions.env).
    const dir = mkdtempSync(join(tmpdir(), 'rca-testbed-'));
    try {
      writeFileSync(join(dir, 'kube-version'), `${other}\n`);
      const { stdout } = await execFileAsync('bash', ['-c', 'source hack/testbed/common.sh && bash -c \'source hack/lib.sh && echo "$KUBE_VERSION"\''], {
        cwd: REPO_ROOT,
        // No KUBE_VERSION from outside, as when npm test runs node.sh: a variable from the environment is exported already.
        env: { ...Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== 'KUBE_VERSION')), TESTBED_DIR: dir },
      });
      assert.equal(stdout.trim(), other);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
