// Least-privilege checks: what a service account may do, answered by the
// real API server, and a kubeconfig that acts as that service account.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { render } from './chart.ts';
import { kubectl, type Testbed } from '../../hack/testbed/testbed.ts';

export type CanI = (verb: string, resource: string, extra?: string[]) => Promise<boolean>;

/** `kubectl auth can-i` as `user`: only its own "yes" or "no" count as an answer. */
export const canI =
  (testbed: Testbed, user: string): CanI =>
  async (verb, resource, extra = []) => {
    const out = await kubectl(testbed, ['auth', 'can-i', verb, resource, `--as=${user}`, ...extra]).catch((err: unknown) => {
      // can-i exits 1 for "no" and prints it on stdout; any other failure is
      // not an answer, and must not pass for a "no".
      const stdout = (err as { stdout?: string }).stdout ?? '';
      if (stdout.trim() !== 'no') throw err;
      return stdout;
    });
    assert.match(out.trim(), /^(yes|no)$/, `kubectl auth can-i ${verb} ${resource} answered ${out}`);
    return out.trim() === 'yes';
  };

/** Writes a kubeconfig at `file` that authenticates with a fresh token of the service account. */
export async function serviceAccountKubeconfig(testbed: Testbed, namespace: string, account: string, file: string): Promise<string> {
  const token = (await kubectl(testbed, ['create', 'token', account, '-n', namespace, '--duration=1h'])).trim();
  const admin = await kubectl(testbed, ['config', 'view', '--raw', '--minify', '-o', 'jsonpath={.clusters[0].cluster}']);
  const cluster = JSON.parse(admin) as { server: string; 'certificate-authority': string };
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': account,
      clusters: [{ name: 'c', cluster }],
      users: [{ name: account, user: { token } }],
      contexts: [{ name: account, context: { cluster: 'c', user: account } }],
    }),
  );
  return file;
}

/**
 * Applies the chart's ClusterRole (and Role) of `component`, rendered as
 * release `release` in `namespace` with `values`: the tests grant exactly
 * what `helm install` grants. Returns their names.
 */
export async function applyChartRoles(
  testbed: Testbed,
  component: 'agent' | 'operator',
  scope: { release: string; namespace: string },
  values: Record<string, unknown> = {},
): Promise<{ clusterRole: string; role: string | undefined }> {
  const roles = (await render(values, scope)).filter(
    (o) => (o.kind === 'ClusterRole' || o.kind === 'Role') && o.metadata.labels?.['app.kubernetes.io/component'] === component,
  );
  await kubectl(testbed, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: roles }));
  const name = (kind: string): string | undefined => roles.find((o) => o.kind === kind)?.metadata.name;
  const clusterRole = name('ClusterRole');
  assert.ok(clusterRole !== undefined, `the chart renders a ClusterRole for the ${component}`);
  return { clusterRole, role: name('Role') };
}
