// The testbed's scripts refuse bad conditions with a clear message instead of
// failing later in a component's log. Run against a scratch TESTBED_DIR so a
// running testbed is neither used nor disturbed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO_ROOT } from '../../../../hack/versions.ts';

const scratch = mkdtempSync(join(tmpdir(), 'rca-preflight-'));
after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

function bash(script: string, asUser?: string): { status: number | null; stderr: string } {
  const argv = asUser === undefined ? ['bash', '-c', script] : ['setpriv', `--reuid=${asUser}`, '--regid=nogroup', '--clear-groups', 'bash', '-c', script];
  const [cmd = 'bash', ...args] = argv;
  const result = spawnSync(cmd, args, { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, TESTBED_DIR: scratch }, timeout: 60_000 });
  return { status: result.status, stderr: result.stderr };
}

test('up refuses to run without root, and says so', () => {
  const { status, stderr } = bash('bash hack/testbed/up.sh', 'nobody');
  assert.notEqual(status, 0);
  assert.match(stderr, /error: npm run testbed:up must run as root/);
});

test('up names the port that is taken and what needed it', async () => {
  // The scheduler's port; if a testbed is running, its own components hold
  // the ports already, which preflight must report just the same.
  const server: Server = createServer();
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => {
      resolve(false);
    });
    server.listen(10259, '127.0.0.1', () => {
      resolve(true);
    });
  });
  try {
    const { status, stderr } = bash('source hack/testbed/up.sh && preflight');
    assert.notEqual(status, 0);
    if (listening) assert.match(stderr, /error: port 10259 \(for kube-scheduler\) is already in use/);
    else assert.match(stderr, /error: port \d+ \(for [\w@.-]+\) is already in use/);
  } finally {
    server.close();
  }
});

test('a failed tool build stops with the tool and version named', () => {
  const { status, stderr } = bash('HELM_VERSION=0.0.0-does-not-exist RCA_CACHE="$TESTBED_DIR/cache" bash hack/tools.sh helm');
  assert.notEqual(status, 0);
  assert.match(stderr, /error: building helm v0\.0\.0-does-not-exist failed/);
});
