// The testbed's runtimes are built from the Go module proxy (hack/tools.sh).
// A version the proxy refuses, or a gVisor whose shim no longer has the line
// this testbed changes, must stop the build with a message that says which
// and why, and leave nothing in the cache that looks built. A module proxy
// on loopback stands in for the real one, so no real build runs here.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT } from '../../../hack/versions.ts';

const execFileAsync = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'rca-runtime-builds-'));
const GVISOR = 'v0.0.0-20200101000000-000000000000';

/** A module zip for gvisor.dev/gvisor@GVISOR whose shim sets its OOM score some other way. */
async function changedGvisorZip(): Promise<Buffer> {
  const root = join(dir, 'zip', `gvisor.dev/gvisor@${GVISOR}`);
  mkdirSync(join(root, 'pkg/shim/v1'), { recursive: true });
  writeFileSync(join(root, 'go.mod'), 'module gvisor.dev/gvisor\n\ngo 1.22\n');
  writeFileSync(join(root, 'pkg/shim/v1/manager.go'), 'package v1\n\n// The OOM score is now set elsewhere.\n');
  await execFileAsync('zip', ['-qr', join(dir, 'gvisor.zip'), `gvisor.dev/gvisor@${GVISOR}`], { cwd: join(dir, 'zip') });
  return readFileSync(join(dir, 'gvisor.zip'));
}

describe('runtime builds from the Go module proxy', () => {
  let proxy: Server | undefined;
  let env: Record<string, string> = {};

  before(async () => {
    await execFileAsync('bash', ['-c', 'source hack/lib.sh && apt_install zip'], { cwd: REPO_ROOT });
    const zip = await changedGvisorZip();
    // Serves gVisor's one version; every other module and version is "not found", as the real proxy says (404 or 410).
    proxy = createServer((req, res) => {
      const url = req.url ?? '';
      if (url.startsWith(`/gvisor.dev/gvisor/@v/${GVISOR}.`)) {
        if (url.endsWith('.info')) res.end(JSON.stringify({ Version: GVISOR, Time: '2020-01-01T00:00:00Z' }));
        else if (url.endsWith('.mod')) res.end('module gvisor.dev/gvisor\n\ngo 1.22\n');
        else res.end(zip);
        return;
      }
      res.writeHead(404).end(`not found: ${url}`);
    });
    await new Promise<void>((resolve) => proxy?.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as AddressInfo;
    env = {
      GOPROXY: `http://127.0.0.1:${String(port)}`,
      GOSUMDB: 'off',
      GOFLAGS: '-mod=mod',
      GOMODCACHE: join(dir, 'gomod'),
      RCA_CACHE: join(dir, 'cache'),
    };
  });
  after(() => {
    proxy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const tools = (args: string[], extra: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> =>
    execFileAsync('bash', [join(REPO_ROOT, 'hack', 'tools.sh'), ...args], { env: { ...process.env, ...env, ...extra }, maxBuffer: 16 * 1024 * 1024 });
  const built = (): string[] => (existsSync(join(dir, 'cache', 'tools')) ? readdirSync(join(dir, 'cache', 'tools')) : []);

  test("a containerd version the proxy refuses stops the build, naming the module and the proxy's answer", async () => {
    await assert.rejects(tools(['containerd', '9.9.9']), (err: Error & { stderr?: string }) => {
      assert.match(err.stderr ?? '', /error: the Go module proxy did not serve github\.com\/containerd\/containerd\/v9@v9\.9\.9: .*(404|not found)/);
      return true;
    });
    assert.deepEqual(
      built().filter((d) => d.startsWith('containerd-')),
      [],
      'nothing cached',
    );
  });

  test('a gVisor whose shim no longer sets its OOM score where expected stops the build, saying the change needs updating', async () => {
    await assert.rejects(tools(['gvisor'], { GVISOR_VERSION: GVISOR }), (err: Error & { stderr?: string }) => {
      assert.match(
        err.stderr ?? '',
        new RegExp(
          `error: gVisor ${GVISOR}'s shim no longer sets its OOM score where expected .*manager\\.go\\): the change this testbed makes to it needs updating`,
        ),
      );
      return true;
    });
    assert.deepEqual(
      built().filter((d) => d.startsWith('gvisor-')),
      [],
      'nothing cached',
    );
  });
});
