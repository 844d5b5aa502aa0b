// hack/release.sh refuses what it cannot publish before it builds or pushes
// anything. (Publishing itself runs against the testbed's registry:
// test/e2e/release.test.ts.)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { REPO_ROOT } from '../../../hack/versions.ts';

const execFileAsync = promisify(execFile);

async function refusal(args: string[], env: Record<string, string>): Promise<string> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== 'RCA_REGISTRY'));
  try {
    await execFileAsync('bash', ['hack/release.sh', ...args], { cwd: REPO_ROOT, env: { ...inherited, ...env } });
  } catch (err) {
    return (err as { stderr?: string }).stderr ?? '';
  }
  return assert.fail('hack/release.sh published');
}

test('no registry named: it says which variable to set', async () => {
  assert.match(await refusal([], {}), /RCA_REGISTRY is not set: the registry \(and path\) to publish to/);
});

test('an unknown flag: the usage', async () => {
  assert.match(
    await refusal(['--frobnicate'], { RCA_REGISTRY: 'registry.example.com/x' }),
    /usage: RCA_REGISTRY=host\[:port\]\/path .*--source ARCHIVE\] \[--force\]/,
  );
});

test('a source archive that is not there: it says where the earlier releases are', async () => {
  assert.match(
    await refusal(['--source', 'hack/releases/runtimeclass-audit-0.0.1.tar.gz'], { RCA_REGISTRY: '127.0.0.1:1/x' }),
    /no source archive \S*hack\/releases\/runtimeclass-audit-0\.0\.1\.tar\.gz \(hack\/releases\/ holds the earlier releases\)/,
  );
});
