// The agent works with its least privileges (the chart's agent ClusterRole)
// and those privileges are no more than it needs.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgent, type Started } from '../support/processes.ts';
import { scrape, scraperToken } from '../support/scrape.ts';
import { applyChartRoles, canI, serviceAccountKubeconfig } from '../support/rbac.ts';
import { createNamespace, eventually, kubectl, loadTestbed, testbedNode, uniqueName } from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const node = testbedNode(testbed, 0);
const ns = uniqueName('rcaudit-agent');
const sa = `system:serviceaccount:${ns}:agent`;
const dir = mkdtempSync(join(tmpdir(), 'rca-rbac-'));

const can = canI(testbed, sa);

describe('agent RBAC', () => {
  let agent: Started | undefined;
  before(async () => {
    await kubectl(testbed, ['apply', '-f', 'charts/runtimeclass-audit/files/crds/']);
    await createNamespace(testbed, ns);
    const { clusterRole } = await applyChartRoles(testbed, 'agent', { release: ns, namespace: ns });
    await kubectl(testbed, ['create', 'serviceaccount', 'agent', '-n', ns]);
    await kubectl(testbed, ['create', 'clusterrolebinding', ns, `--clusterrole=${clusterRole}`, `--serviceaccount=${ns}:agent`]);
  });
  after(async () => {
    await agent?.stop();
    await kubectl(testbed, ['delete', 'clusterrolebinding', ns, '--ignore-not-found']);
    await kubectl(testbed, ['delete', 'clusterrole', `${ns}-runtimeclass-audit-agent`, '--ignore-not-found']);
    await kubectl(testbed, ['delete', 'namespace', ns, '--wait=false']);
    rmSync(dir, { recursive: true, force: true });
  });

  test('grants what the agent needs and nothing more', async () => {
    assert.equal(await can('create', 'nodesandboxreports.rcaudit.dev'), true);
    assert.equal(await can('patch', 'nodesandboxreports.rcaudit.dev'), true);
    assert.equal(await can('get', 'nodes'), true);
    // Who scrapes /metrics, and may they (metrics.secure, the default).
    assert.equal(await can('create', 'tokenreviews.authentication.k8s.io'), true);
    assert.equal(await can('create', 'subjectaccessreviews.authorization.k8s.io'), true);
    const denied: [string, string, string[]?][] = [
      ['update', 'nodesandboxreports.rcaudit.dev', ['--subresource=status']],
      ['patch', 'nodesandboxreports.rcaudit.dev', ['--subresource=status']],
      ['update', 'nodesandboxreports.rcaudit.dev'],
      ['delete', 'nodesandboxreports.rcaudit.dev'],
      ['list', 'nodesandboxreports.rcaudit.dev'],
      ['get', 'pods'],
      ['list', 'pods'],
      ['get', 'secrets'],
      ['list', 'nodes'],
      ['update', 'nodes'],
      ['get', 'tokenreviews.authentication.k8s.io'],
      ['list', 'subjectaccessreviews.authorization.k8s.io'],
    ];
    for (const [verb, resource, extra] of denied) {
      assert.equal(await can(verb, resource, extra), false, `${verb} ${resource} ${extra?.join(' ') ?? ''}`);
    }
  });

  test('the agent writes its report, and checks who scrapes /metrics, with only these privileges', async () => {
    const kubeconfig = await serviceAccountKubeconfig(testbed, ns, 'agent', join(dir, 'agent.kubeconfig'));
    await kubectl(testbed, ['delete', 'nodesandboxreport', node.name, '--ignore-not-found']);
    // The default resync, as before: this test is about privileges, not rewrites.
    const started = await startAgent({ kubeconfig }, node, node.criEndpoint, ['--resync', '5m']);
    agent = started.agent;
    const { port } = started;
    await eventually(async () => {
      const out = await kubectl(testbed, ['get', 'nodesandboxreport', node.name, '-o', 'jsonpath={.spec.runtime.reachable}']);
      assert.equal(out, 'true');
    }, 30_000);
    const scraped = await scrape(`https://127.0.0.1:${String(port)}/metrics`, await scraperToken(testbed));
    assert.equal(scraped.status, 200, scraped.body);
    assert.doesNotMatch(agent.output(), /Forbidden|cannot write the report/);
  });
});
