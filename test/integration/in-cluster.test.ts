// The in-cluster connection (kube/connection.ts) against the real API
// server: a service account's token and the cluster's CA from files, as the
// kubelet mounts them in a pod, and a token that rotates under a running
// process. Who the server thinks we are comes from a SelfSubjectReview.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { inClusterConnection } from '../../kube/connection.ts';
import { KubeApiError } from '../../kube/errors.ts';
import { KubeRest } from '../../kube/rest.ts';
import { createNamespace, eventually, kubectl, loadTestbed, uniqueName } from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const ns = uniqueName('in-cluster');
const dir = mkdtempSync(join(tmpdir(), 'rcaudit-sa-'));
/** The API server's address, from the testbed's kubeconfig. */
let server: URL;

/** The mounted files: the cluster's CA, and a token of `account`. */
async function mountToken(account: string): Promise<void> {
  writeFileSync(join(dir, 'token'), (await kubectl(testbed, ['create', 'token', account, '-n', ns, '--duration', '10m'])).trim());
}

async function whoAmI(rest: KubeRest): Promise<string | undefined> {
  const review = await rest.request<{ status?: { userInfo?: { username?: string } } }>('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    what: 'create SelfSubjectReview',
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  return review.status?.userInfo?.username;
}

before(async () => {
  await createNamespace(testbed, ns);
  for (const account of ['first', 'second', 'third']) await kubectl(testbed, ['create', 'serviceaccount', account, '-n', ns]);
  const kubeconfig = parse(readFileSync(testbed.kubeconfig, 'utf8')) as { clusters: { cluster: { server: string; 'certificate-authority': string } }[] };
  const cluster = kubeconfig.clusters[0]?.cluster;
  assert.ok(cluster);
  writeFileSync(join(dir, 'ca.crt'), readFileSync(cluster['certificate-authority']));
  server = new URL(cluster.server);
});

after(async () => {
  await kubectl(testbed, ['delete', 'namespace', ns, '--wait=false']);
});

test("in a pod: the service account's token and the cluster CA; a rotated token is read within a minute, or at once when the old one is refused", async () => {
  let now = 0;
  const connection = inClusterConnection({ env: { KUBERNETES_SERVICE_HOST: server.hostname, KUBERNETES_SERVICE_PORT: server.port }, dir, now: () => now });
  assert.equal(connection.server, `https://${server.hostname}:${server.port}`);
  const rest = new KubeRest(connection, { timeoutMs: 10_000 });
  await mountToken('first');
  assert.equal(await whoAmI(rest), `system:serviceaccount:${ns}:first`);
  // The kubelet rotates the file: the running process keeps its token for up to a minute, then reads the new one.
  await mountToken('second');
  now += 30_000;
  assert.equal(await whoAmI(rest), `system:serviceaccount:${ns}:first`);
  now += 31_000;
  assert.equal(await whoAmI(rest), `system:serviceaccount:${ns}:second`);
  // The token in use stops working (its ServiceAccount deleted) while the file has a new one: refused once, then read again.
  await mountToken('third');
  await kubectl(testbed, ['delete', 'serviceaccount', 'second', '-n', ns]);
  // The API server learns of the deletion through its own cache, a moment later: until then the old token still works.
  await eventually(async () => {
    await assert.rejects(whoAmI(rest), (err: unknown) => err instanceof KubeApiError && err.reason === 'Unauthorized');
  }, 30_000);
  assert.equal(await whoAmI(rest), `system:serviceaccount:${ns}:third`);
});

test("a CA that is not the cluster's: refused with a clear transport error, not a hang", async () => {
  const elsewhere = mkdtempSync(join(tmpdir(), 'rcaudit-sa-'));
  writeFileSync(join(elsewhere, 'token'), 'x');
  // A fresh self-signed certificate: it did not sign the API server's.
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=not-the-cluster',
      '-days',
      '1',
      '-keyout',
      join(elsewhere, 'key.pem'),
      '-out',
      join(elsewhere, 'ca.crt'),
    ],
    { stdio: 'ignore' },
  );
  const rest = new KubeRest(inClusterConnection({ env: { KUBERNETES_SERVICE_HOST: server.hostname, KUBERNETES_SERVICE_PORT: server.port }, dir: elsewhere }), {
    timeoutMs: 10_000,
  });
  await assert.rejects(whoAmI(rest), (err: unknown) => err instanceof KubeApiError && err.reason === 'Transport' && /certificate/i.test(err.message));
});
