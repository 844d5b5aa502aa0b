// The in-cluster connection's address and its refusals, from the files and
// variables a pod has (the real API server is in test/integration/in-cluster.test.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { inCluster, inClusterConnection } from '../../../kube/connection.ts';

function mounted(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rcaudit-sa-'));
  writeFileSync(join(dir, 'token'), 'a-token\n');
  writeFileSync(join(dir, 'ca.crt'), '');
  return dir;
}

test('the API server is the service address the kubelet gives every container; an IPv6 one in brackets', async () => {
  const dir = mounted();
  assert.equal(inClusterConnection({ env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, dir }).server, 'https://10.96.0.1:443');
  const v6 = inClusterConnection({ env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, dir });
  assert.equal(v6.server, 'https://[fd00::1]:443');
  const target = await v6.target(new URL('https://[fd00::1]:443/version'));
  assert.equal(target.headers['authorization'], 'Bearer a-token', 'the token, without its trailing newline');
});

test('outside a pod, or without its files, a clear error', () => {
  assert.equal(inCluster({}), false);
  assert.equal(inCluster({ KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' }), true);
  assert.throws(() => inClusterConnection({ env: {} }), /not in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset/);
  assert.throws(
    () => inClusterConnection({ env: { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' }, dir: '/nonexistent' }),
    /service account's ca\.crt cannot be read \(is automountServiceAccountToken off\?\): ENOENT/,
  );
});
