// A fresh machine has no Go, or only Debian 12's 1.19: hack/tools.sh then
// fetches the pinned toolchain from the Go module proxy and uses it only if
// its files hash to the checksum database's record (go.sum's "h1:").
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import { pinnedVersion, REPO_ROOT } from '../../../hack/versions.ts';

const execFileAsync = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'rca-go-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
const tools = (args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> =>
  execFileAsync('bash', [join(REPO_ROOT, 'hack', 'tools.sh'), ...args], { env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 });

/**
 * Runs hack/tools.sh with every Go out of reach: a PATH of the system
 * directories that hold no `go`, and the machine's /usr/local/go hidden
 * under an empty directory in a mount namespace of its own (lib.sh adds it
 * to PATH when it is there).
 */
function withoutGo(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  const path = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].filter((d) => !existsSync(join(d, 'go'))).join(':');
  const hide = existsSync('/usr/local/go') ? `mount --bind ${dir} /usr/local/go && ` : '';
  return execFileAsync('unshare', ['--mount', 'bash', '-c', `${hide}exec bash hack/tools.sh ${args.join(' ')}`], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, PATH: path },
    maxBuffer: 16 * 1024 * 1024,
  });
}

describe('Go from the Go module proxy', () => {
  test("module-hash computes go.sum's h1 hash: a real module matches the checksum database, a changed byte does not", async () => {
    const files = join(dir, 'uuid');
    const zip = join(dir, 'uuid.zip');
    await execFileAsync('curl', ['-fsSL', '-o', zip, 'https://proxy.golang.org/github.com/google/uuid/@v/v1.6.0.zip']);
    await execFileAsync('unzip', ['-q', zip, '-d', files]);
    // sum.golang.org's record for github.com/google/uuid v1.6.0 (as every go.sum that uses it says).
    assert.equal((await tools(['module-hash', files])).stdout.trim(), 'h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=');
    appendFileSync(join(files, 'github.com/google/uuid@v1.6.0/uuid.go'), ' ');
    assert.notEqual((await tools(['module-hash', files])).stdout.trim(), 'h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=');
  });

  test('with no Go on the machine, the pinned toolchain is fetched, checked, cached and used', async () => {
    const { stdout, stderr } = await withoutGo(['go']);
    const goVersion = pinnedVersion('GO_VERSION');
    const bin = stdout.trim();
    assert.match(bin, new RegExp(`/tools/go-${goVersion.replaceAll('.', '\\.')}-(amd64|arm64)/bin$`), stderr);
    assert.match(stderr, new RegExp(`go ${goVersion} \\(GOTOOLCHAIN=local\\)`));
    assert.match((await execFileAsync(join(bin, 'go'), ['version'])).stdout, new RegExp(`go version go${goVersion} linux/`));
  });

  test('a toolchain that does not hash to the pinned sum is refused, and nothing is cached', async () => {
    // A module proxy on loopback that answers the toolchain's zip with another module's files (the zip the first
    // test fetched): a tampered download, refused without fetching a real toolchain.
    const tampered = readFileSync(join(dir, 'uuid.zip'));
    const proxy = createServer((_req, res) => res.end(tampered));
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as AddressInfo;
    const cache = join(dir, 'cache');
    try {
      await assert.rejects(withoutGo(['go'], { GOPROXY: `http://127.0.0.1:${String(port)}`, RCA_CACHE: cache }), (err: Error & { stderr?: string }) => {
        assert.match(
          err.stderr ?? '',
          /golang\.org\/toolchain@v0\.0\.1-go[\d.]+\.linux-\w+ from http:\/\/127\.0\.0\.1:\d+ does not match its checksum: got h1:\S+, want h1:/,
        );
        return true;
      });
    } finally {
      proxy.close();
    }
    assert.deepEqual(
      readdirSync(join(cache, 'tools')).filter((d) => d.startsWith('go-')),
      [],
      'nothing cached',
    );
  });
});
