// Golden exposition text for the per-pod series (kube-state-metrics' way):
// one series per mismatched pod, replaced when it changes, gone when it resolves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PodVerdictEntry } from '../../api/v1alpha1/node-sandbox-report.ts';
import { OperatorMetrics } from '../../operator/metrics.ts';

const HEADER = `# HELP rcaudit_pod_mismatch_info One series (value 1) per pod whose sandbox runs with another handler, runtime type or isolation than expected, kept while such a pod is Unverified (nothing says the mismatch ended).
# TYPE rcaudit_pod_mismatch_info gauge`;
const entry: PodVerdictEntry = {
  uid: 'u1', namespace: 'ns', name: 'vault', runtimeClassName: 'kata', verdict: 'Mismatched', reason: 'HandlerMismatch', expectedHandler: 'kata', actualHandler: 'runc',
  actualRuntimeType: 'io.containerd.runc.v2', since: '2026-11-23T10:00:00Z',
};
const series = (actual: string, reason = 'HandlerMismatch'): string =>
  `rcaudit_pod_mismatch_info{audit="cluster",namespace="ns",pod="vault",uid="u1",node="n1",runtime_class="kata",expected_handler="kata",actual_handler="${actual}",actual_runtime_type="io.containerd.runc.v2",actual_isolation="",reason="${reason}"} 1`;

test('a mismatched pod has one info series; a change replaces it; a match removes it', async () => {
  const metrics = new OperatorMetrics();
  const text = (): Promise<string> => metrics.registry.getSingleMetricAsString('rcaudit_pod_mismatch_info');
  metrics.setPodVerdict('cluster', 'n1', { ...entry, verdict: 'Matched', reason: 'Matched', actualHandler: 'kata' });
  assert.equal(await text(), HEADER);
  metrics.setPodVerdict('cluster', 'n1', entry);
  assert.equal(await text(), `${HEADER}\n${series('runc')}`);
  metrics.setPodVerdict('cluster', 'n1', { ...entry, actualHandler: 'runc-alt' });
  assert.equal(await text(), `${HEADER}\n${series('runc-alt')}`);
  metrics.setPodVerdict('cluster', 'n1', { ...entry, verdict: 'Matched', reason: 'Matched', actualHandler: 'kata' });
  assert.equal(await text(), HEADER);
});

test('a mismatched pod that turns Unverified keeps its series as it was (no resolved-then-firing alert); a held match has none', async () => {
  const metrics = new OperatorMetrics();
  const text = (): Promise<string> => metrics.registry.getSingleMetricAsString('rcaudit_pod_mismatch_info');
  metrics.setPodVerdict('cluster', 'n1', entry);
  const { since } = entry;
  const unverified: PodVerdictEntry = { uid: 'u1', namespace: 'ns', name: 'vault', runtimeClassName: 'kata', verdict: 'Unverified', reason: 'RuntimeUnreachable', since };
  const held = { verdict: 'Mismatched', reason: 'HandlerMismatch', expectedHandler: 'kata', actualHandler: 'runc', actualRuntimeType: 'io.containerd.runc.v2', since } as const;
  metrics.setPodVerdict('cluster', 'n1', { ...unverified, lastVerified: held });
  assert.equal(await text(), `${HEADER}\n${series('runc')}`);
  metrics.setPodVerdict('cluster', 'n1', { ...unverified, lastVerified: { verdict: 'Matched', reason: 'Matched', since } });
  assert.equal(await text(), HEADER);
});

test('a pod that is gone, or an audit that is gone, takes its series along', async () => {
  const metrics = new OperatorMetrics();
  metrics.setPodVerdict('cluster', 'n1', entry);
  metrics.setPodVerdict('strict', 'n1', entry);
  metrics.forgetPod('u1', 'strict');
  assert.match(await metrics.registry.getSingleMetricAsString('rcaudit_pod_mismatch_info'), /audit="cluster"/);
  assert.doesNotMatch(await metrics.registry.getSingleMetricAsString('rcaudit_pod_mismatch_info'), /audit="strict"/);
  metrics.setAuditCounts('cluster', new Map([['Mismatched/HandlerMismatch', 1]]), { orphan: 2, suspicious: 0 });
  metrics.forgetAudit('cluster');
  assert.equal(await metrics.registry.getSingleMetricAsString('rcaudit_pod_mismatch_info'), HEADER);
  assert.doesNotMatch(await metrics.registry.getSingleMetricAsString('rcaudit_pods'), /audit="cluster"/);
  assert.doesNotMatch(await metrics.registry.getSingleMetricAsString('rcaudit_unclaimed_sandboxes'), /audit="cluster"/);
});

test('audit counts replace what was said before, so a reason that no pod has any more disappears', async () => {
  const metrics = new OperatorMetrics();
  metrics.setAuditCounts('cluster', new Map([['Mismatched/HandlerMismatch', 1], ['Matched/Matched', 3]]), { orphan: 0, suspicious: 0 });
  metrics.setAuditCounts('cluster', new Map([['Matched/Matched', 4]]), { orphan: 0, suspicious: 0 });
  const text = await metrics.registry.getSingleMetricAsString('rcaudit_pods');
  assert.match(text, /rcaudit_pods\{audit="cluster",verdict="Matched",reason="Matched"\} 4/);
  assert.doesNotMatch(text, /HandlerMismatch/);
});
