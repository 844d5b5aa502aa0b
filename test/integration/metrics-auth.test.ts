// /metrics, secured, against the testbed's real API server: the agent (a
// host process here; the chart's pods in test/e2e/chart.test.ts) checks each
// scrape's token with a real TokenReview and SubjectAccessReview. And what
// goes wrong: a token of no one, an account without the role, an API server
// that does not answer, a process whose own account may not create reviews,
// a certificate that does not parse. Each gets its status code and a line
// in the log, and the agent goes on reporting.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { selfSignedCertificate } from '../../observability/self-signed.ts';
import { startAgent, type Started } from '../support/processes.ts';
import { serviceAccountKubeconfig } from '../support/rbac.ts';
import { scrape, scraperToken, strangerToken } from '../support/scrape.ts';
import { applyObjects, eventually, kubectl, loadTestbed, testbedNode, uniqueName } from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const node = testbedNode(testbed, 0);
const id = uniqueName('metrics-auth');
const dir = mkdtempSync(join(tmpdir(), 'rca-metrics-auth-'));

/** The node's report, deleted, is written again (the agent re-checks it every second): it goes on reporting, whatever /metrics says. */
async function reportsAgain(): Promise<void> {
  await kubectl(testbed, ['delete', 'nodesandboxreport', node.name, '--ignore-not-found']);
  await eventually(async () => {
    assert.equal(await kubectl(testbed, ['get', 'nodesandboxreport', node.name, '-o', 'jsonpath={.spec.runtime.reachable}']), 'true');
  }, 30_000);
}

describe('/metrics checked with the real API server', () => {
  // One agent at a time, so that a report written is the running one's.
  let running: Started | undefined;
  const agent = async (extra: string[]): Promise<{ url: string; process: Started }> => {
    await running?.stop();
    const started = await startAgent(testbed, node, node.criEndpoint, ['--resync', '1s', ...extra]);
    running = started.agent;
    const url = `https://127.0.0.1:${String(started.port)}`;
    await eventually(async () => {
      assert.equal((await scrape(`${url}/livez`)).status, 200);
    }, 30_000);
    return { url, process: started.agent };
  };

  before(async () => {
    await kubectl(testbed, ['apply', '-f', 'charts/runtimeclass-audit/files/crds/']);
  });
  after(async () => {
    await running?.stop();
    await kubectl(testbed, ['delete', 'serviceaccount', '-n', 'kube-system', `${id}-stranger`, `${id}-noreviews`, '--ignore-not-found']);
    rmSync(dir, { recursive: true, force: true });
  });

  test('no token 401; a token of no one 401; an account without get /metrics 403; a reader 200; each refusal logged once, without the token', async () => {
    const { url, process } = await agent([]);
    assert.equal((await scrape(`${url}/metrics`)).status, 401);
    const forged = await scrape(`${url}/metrics`, 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl');
    assert.equal(forged.status, 401);
    assert.match(forged.body, /^the token is not valid: /);
    const stranger = await strangerToken(testbed, 'kube-system', `${id}-stranger`);
    const forbidden = await scrape(`${url}/metrics`, stranger);
    assert.deepEqual([forbidden.status, forbidden.body], [403, `system:serviceaccount:kube-system:${id}-stranger may not get /metrics\n`]);
    assert.equal((await scrape(`${url}/metrics`, stranger)).status, 403, 'remembered');
    const allowed = await scrape(`${url}/metrics`, await scraperToken(testbed));
    assert.equal(allowed.status, 200);
    assert.match(allowed.body, /^rcaudit_metrics_scrapes_total\{outcome="forbidden"\} 2$/m);
    assert.match(
      allowed.body,
      /^rcaudit_agent_api_requests_total\{verb="POST",resource="tokenreviews",code="201"\} 3$/m,
      'forged, stranger, reader: one review each',
    );
    assert.match(allowed.body, /^rcaudit_agent_api_requests_total\{verb="POST",resource="subjectaccessreviews",code="201"\} 2$/m);
    // The log reaches this test through a pipe, after the answers: wait for it.
    await eventually(() => {
      const refusals = process
        .output()
        .split('\n')
        .filter((l) => l.includes('a scrape of /metrics was refused'));
      assert.equal(refusals.length, 2, refusals.join('\n'));
      return Promise.resolve();
    }, 10_000);
    assert.ok(!process.output().includes(stranger), 'no token in the log');
  });

  test('the API server unreachable: 503 saying to try again, what failed logged as an error; the probes answer', async () => {
    const kubeconfig = join(dir, 'dead.kubeconfig');
    const admin = JSON.parse(await kubectl(testbed, ['config', 'view', '--raw', '-o', 'json'])) as { clusters: { cluster: { server: string } }[] };
    for (const c of admin.clusters) c.cluster.server = 'https://127.0.0.1:1';
    writeFileSync(kubeconfig, JSON.stringify(admin));
    const { url, process } = await agent(['--kubeconfig', kubeconfig]);
    const down = await scrape(`${url}/metrics`, await scraperToken(testbed));
    assert.equal(down.status, 503);
    // The scraper is told what it can act on; the log, what failed inside.
    assert.equal(down.body, "cannot check the scrape's token now: the TokenReview did not succeed; try again (this process's log says why)\n");
    await eventually(() => {
      assert.match(
        process.output(),
        /"level":50,.*"reason":"the TokenReview failed: create TokenReview: .*ECONNREFUSED.*"msg":"a scrape of \/metrics could not be checked: 503"/,
      );
      return Promise.resolve();
    }, 10_000);
    assert.equal((await scrape(`${url}/livez`)).status, 200);
  });

  test('an agent whose account may not create reviews: 503 naming the missing permission; it still reports', async () => {
    await kubectl(testbed, ['create', 'serviceaccount', `${id}-noreviews`, '-n', 'kube-system']);
    // Allowed to write reports, not to review: the chart's role without its review rules.
    await applyObjects(testbed, [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: `${id}-noreviews` },
        rules: [
          { apiGroups: ['rcaudit.dev'], resources: ['nodesandboxreports'], verbs: ['get', 'create', 'patch'] },
          { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: `${id}-noreviews` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${id}-noreviews` },
        subjects: [{ kind: 'ServiceAccount', name: `${id}-noreviews`, namespace: 'kube-system' }],
      },
    ]);
    try {
      const kubeconfig = await serviceAccountKubeconfig(testbed, 'kube-system', `${id}-noreviews`, join(dir, 'noreviews.kubeconfig'));
      const { url } = await agent(['--kubeconfig', kubeconfig]);
      const answer = await scrape(`${url}/metrics`, await scraperToken(testbed));
      assert.equal(answer.status, 503);
      assert.match(answer.body, /^this process may not create TokenReviews, so it cannot check who scrapes \(grant create on tokenreviews\)/);
      await reportsAgain();
    } finally {
      await kubectl(testbed, ['delete', 'clusterrolebinding,clusterrole', `${id}-noreviews`, '--ignore-not-found']);
    }
  });

  test('a certificate Secret that does not parse: 503 saying so, the probes answer, and the agent reports', async () => {
    writeFileSync(join(dir, 'bad.crt'), '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
    writeFileSync(join(dir, 'bad.key'), 'not a key');
    const { url, process } = await agent(['--tls-cert-file', join(dir, 'bad.crt'), '--tls-key-file', join(dir, 'bad.key')]);
    const answer = await scrape(`${url}/metrics`, await scraperToken(testbed));
    assert.equal(answer.status, 503);
    assert.equal(answer.body, "the serving certificate given is unusable; /metrics answers once it is mended (this process's log says why)\n");
    await eventually(() => {
      assert.match(process.output(), /serving \/metrics with a self-signed certificate instead, and answering 503 until the given one is mended/);
      assert.match(process.output(), /"reason":"the serving certificate given \(.*bad\.crt, .*bad\.key\) is unusable: the certificate does not parse/);
      return Promise.resolve();
    }, 10_000);
    await eventually(async () => {
      assert.equal((await scrape(`${url}/readyz`)).status, 200);
    }, 30_000);
    await reportsAgain();
  });

  test('a given certificate is the one served: a client that trusts only it verifies the connection', async () => {
    const given = await selfSignedCertificate(['127.0.0.1']);
    writeFileSync(join(dir, 'tls.crt'), given.cert);
    writeFileSync(join(dir, 'tls.key'), given.key);
    const { url } = await agent(['--tls-cert-file', join(dir, 'tls.crt'), '--tls-key-file', join(dir, 'tls.key')]);
    const token = await scraperToken(testbed);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${url}/metrics`, { ca: given.cert, headers: { authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 200);
  });
});
