// Golden exposition text for the verdict series (kube-state-metrics' way):
// computed at scrape time from the cache and the report statuses, one series
// per mismatched pod, replaced when it changes, gone when it resolves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ReportedSandbox } from '../../../../api/v1alpha1/node-sandbox-report.ts';
import { ignoredReportCounts, verdictFigures } from '../../../../operator/metrics/collector.ts';
import { OperatorMetrics } from '../../../../operator/metrics/metrics.ts';
import { fakeNode, namespace, pod, report, sandbox } from '../../../support/operator.ts';
import { AGENTS, RecordedCluster } from '../../../support/recorded-cluster.ts';

const HEADER = `# HELP rcaudit_pod_mismatch_info One series (value 1) per pod whose sandbox runs with another handler, runtime type or isolation than expected, kept while such a pod is Unverified (nothing says the mismatch ended).
# TYPE rcaudit_pod_mismatch_info gauge`;
const series = (actual: string, reason = 'HandlerMismatch'): string =>
  `rcaudit_pod_mismatch_info{audit="cluster",namespace="ns",pod="vault",uid="u1",node="n1",runtime_class="kata",expected_handler="kata",actual_handler="${actual}",actual_runtime_type="io.containerd.runc.v2",actual_isolation="",reason="${reason}"} 1`;

const vaultSandbox = (over: Partial<ReportedSandbox>): ReportedSandbox =>
  sandbox('u1', { namespace: 'ns', name: 'vault', requestedHandler: '', resolvedHandler: 'runc', runtimeType: 'io.containerd.runc.v2', ...over });

/** One node, one pod of class kata (uid u1), the audit "cluster"; `c.scrape()` judges n1 again and scrapes. */
function cluster(): { c: RecordedCluster; metrics: OperatorMetrics; scrape: (metric: string) => Promise<string> } {
  const c = new RecordedCluster();
  c.add(namespace('ns', {}), namespace(AGENTS.namespace, {}), fakeNode('n1'), {
    apiVersion: 'node.k8s.io/v1',
    kind: 'RuntimeClass',
    metadata: { name: 'kata' },
    handler: 'kata',
  });
  const agent = pod(AGENTS.namespace, 'agent', 'n1', { labels: AGENTS.matchLabels });
  c.add({ ...agent, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
  const vault = pod('ns', 'vault', 'n1', { runtimeClassName: 'kata' }) as { metadata: object };
  c.add({ ...vault, metadata: { ...vault.metadata, uid: 'u1' } });
  c.add({ apiVersion: 'rcaudit.dev/v1alpha1', kind: 'RuntimeClassAudit', metadata: { name: 'cluster' }, spec: {} });
  const metrics = new OperatorMetrics();
  metrics.collectFrom({
    verdicts: () => (c.leader ? verdictFigures(c.cache, c.expectations, c.now) : undefined),
    ignoredReports: () => ignoredReportCounts(c.cache),
    queueDepth: () => 0,
  });
  const scrape = async (metric: string): Promise<string> => {
    c.leader = true;
    await c.nodes.reconcile('n1');
    c.deliverWrites();
    // A scrape computes its figures once, kept until the event loop turns (metrics.ts): let it turn.
    await new Promise((resolve) => setImmediate(resolve));
    return metrics.registry.getSingleMetricAsString(metric);
  };
  return { c, metrics, scrape };
}

test('a mismatched pod has one info series; a change replaces it; a match removes it', async () => {
  const { c, scrape } = cluster();
  const text = (): Promise<string> => scrape('rcaudit_pod_mismatch_info');
  c.add(report('n1', [vaultSandbox({ requestedHandler: 'kata', resolvedHandler: 'kata', runtimeType: 'io.containerd.kata.v2' })]));
  assert.equal(await text(), HEADER);
  c.add(report('n1', [vaultSandbox({})]));
  assert.equal(await text(), `${HEADER}\n${series('runc')}`);
  c.add(report('n1', [vaultSandbox({ resolvedHandler: 'runc-alt' })]));
  assert.equal(await text(), `${HEADER}\n${series('runc-alt')}`);
  c.add(report('n1', [vaultSandbox({ requestedHandler: 'kata', resolvedHandler: 'kata', runtimeType: 'io.containerd.kata.v2' })]));
  assert.equal(await text(), HEADER);
});

test('a mismatched pod that turns Unverified keeps its series as it was (no resolved-then-firing alert); a held match has none', async () => {
  const { c, scrape } = cluster();
  const text = (): Promise<string> => scrape('rcaudit_pod_mismatch_info');
  c.add(report('n1', [vaultSandbox({})]));
  assert.equal(await text(), `${HEADER}\n${series('runc')}`);
  c.add(report('n1', [vaultSandbox({})], { reachable: false, unreachableSince: '2026-11-23T09:00:00Z', lastError: 'UNAVAILABLE' }));
  assert.equal(await text(), `${HEADER}\n${series('runc')}`);
  c.add(report('n1', [vaultSandbox({ requestedHandler: 'kata', resolvedHandler: 'kata', runtimeType: 'io.containerd.kata.v2' })]));
  await text();
  c.add(report('n1', [vaultSandbox({})], { reachable: false, unreachableSince: '2026-11-23T09:00:00Z', lastError: 'UNAVAILABLE' }));
  assert.equal(await text(), HEADER);
});

test('a pod that is gone, or an audit that is gone, takes its series along', async () => {
  const { c, scrape } = cluster();
  c.add({ apiVersion: 'rcaudit.dev/v1alpha1', kind: 'RuntimeClassAudit', metadata: { name: 'strict' }, spec: {} });
  c.add(report('n1', [vaultSandbox({})]));
  const mismatches = await scrape('rcaudit_pod_mismatch_info');
  assert.match(mismatches, /audit="cluster"/);
  assert.match(mismatches, /audit="strict"/);
  c.remove('audits', 'strict');
  assert.doesNotMatch(await scrape('rcaudit_pod_mismatch_info'), /audit="strict"/);
  assert.doesNotMatch(await scrape('rcaudit_pods'), /audit="strict"/);
  assert.doesNotMatch(await scrape('rcaudit_unclaimed_sandboxes'), /audit="strict"/);
  c.remove('pods', 'u1');
  assert.equal(await scrape('rcaudit_pod_mismatch_info'), HEADER);
});

test('audit counts replace what was said before, so a reason that no pod has any more disappears', async () => {
  const { c, scrape } = cluster();
  c.add(report('n1', [vaultSandbox({})]));
  assert.match(await scrape('rcaudit_pods'), /rcaudit_pods\{audit="cluster",verdict="Mismatched",reason="HandlerMismatch"\} 1/);
  c.add(report('n1', [vaultSandbox({ requestedHandler: 'kata', resolvedHandler: 'kata', runtimeType: 'io.containerd.kata.v2' })]));
  const text = await scrape('rcaudit_pods');
  assert.match(text, /rcaudit_pods\{audit="cluster",verdict="Matched",reason="Matched"\} 1/);
  assert.doesNotMatch(text, /HandlerMismatch/);
});

test('nodes by state, every state said (0 when none); a replica that does not lead says no verdict series at all', async () => {
  const { c, metrics, scrape } = cluster();
  c.add(report('n1', [vaultSandbox({})]));
  const nodes = await scrape('rcaudit_nodes');
  assert.match(nodes, /rcaudit_nodes\{state="Reporting"\} 1/);
  assert.match(nodes, /rcaudit_nodes\{state="RuntimeUnreachable"\} 0/);
  c.leader = false;
  await new Promise((resolve) => setImmediate(resolve));
  for (const metric of ['rcaudit_pods', 'rcaudit_pod_mismatch_info', 'rcaudit_nodes', 'rcaudit_unclaimed_sandboxes']) {
    assert.doesNotMatch(await metrics.registry.getSingleMetricAsString(metric), /\} \d/, metric);
  }
});

test("rcaudit_remediation_halted: 1 while the audit's status says its circuit breaker halted it at this generation, 0 otherwise", async () => {
  const { c, scrape } = cluster();
  const halted = { type: 'Remediating', status: 'False', reason: 'Halted', message: 'why', observedGeneration: 1, lastTransitionTime: '2026-11-23T09:00:00Z' };
  c.add({ apiVersion: 'rcaudit.dev/v1alpha1', kind: 'RuntimeClassAudit', metadata: { name: 'strict' }, spec: {}, status: { conditions: [halted] } });
  const text = await scrape('rcaudit_remediation_halted');
  assert.match(text, /rcaudit_remediation_halted\{audit="strict"\} 1/);
  assert.match(text, /rcaudit_remediation_halted\{audit="cluster"\} 0/);
  c.add({ apiVersion: 'rcaudit.dev/v1alpha1', kind: 'RuntimeClassAudit', metadata: { name: 'strict', generation: 2 }, spec: {} });
  await new Promise((resolve) => setImmediate(resolve));
  assert.match(await scrape('rcaudit_remediation_halted'), /rcaudit_remediation_halted\{audit="strict"\} 0/);
});
