import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { crdFiles, nodeSandboxReportCrd, runtimeClassAuditCrd } from '../../../api/crds.ts';

test('charts/runtimeclass-audit/files/crds/ holds exactly what the schemas in api/v1alpha1 generate (run node hack/gen-crds.ts)', () => {
  for (const [file, yaml] of crdFiles()) {
    const committed = readFileSync(new URL(`../../../charts/runtimeclass-audit/files/crds/${file}`, import.meta.url), 'utf8');
    assert.equal(committed, yaml, `charts/runtimeclass-audit/files/crds/${file} is stale`);
  }
});

interface Column {
  name: string;
  jsonPath: string;
  priority?: number;
}
const columnsOf = (crd: object): Column[] =>
  (crd as { spec: { versions: { additionalPrinterColumns: Column[] }[] } }).spec.versions[0]?.additionalPrinterColumns ?? [];
const shown = (columns: Column[], wide: boolean): string[] => columns.filter((c) => wide || (c.priority ?? 0) === 0).map((c) => `${c.name}=${c.jsonPath}`);

test('kubectl get nsr: per node, the runtime and its version, reachable or not, sandboxes, matched, mismatched, unverified and age; -o wide adds more', () => {
  const columns = columnsOf(nodeSandboxReportCrd());
  assert.deepEqual(shown(columns, false), [
    'Runtime=.spec.runtime.name',
    'Version=.spec.runtime.version',
    'Reachable=.spec.runtime.reachable',
    'Sandboxes=.status.counts.sandboxes',
    'Matched=.status.counts.matched',
    'Mismatched=.status.counts.mismatched',
    'Unverified=.status.counts.unverified',
    'Age=.metadata.creationTimestamp',
  ]);
  assert.deepEqual(
    shown(columns, true).filter((c) => !shown(columns, false).includes(c)),
    ['Default=.spec.runtime.defaultHandler', 'Unreachable Since=.spec.runtime.unreachableSince', 'Agent=.spec.agentVersion', 'Endpoint=.spec.runtime.endpoint'],
  );
});

test('kubectl get audits keeps its columns; -o wide adds matched, all nodes, unclaimed sandboxes, Compliant and handler coverage', () => {
  const columns = columnsOf(runtimeClassAuditCrd());
  assert.deepEqual(
    shown(columns, false).map((c) => c.split('=')[0]),
    ['Audited', 'Mismatched', 'Unverified', 'Nodes', 'Ready', 'Age'],
  );
  assert.deepEqual(
    shown(columns, true).filter((c) => !shown(columns, false).includes(c)),
    [
      'Matched=.status.counts.matched',
      'Nodes Total=.status.counts.nodes',
      'Orphans=.status.counts.orphanSandboxes',
      'Suspicious=.status.counts.suspiciousSandboxes',
      'Compliant=.status.conditions[?(@.type=="Compliant")].status',
      'Uncovered=.status.counts.uncoveredRuntimeClasses',
      'Drifting=.status.counts.driftingRuntimeClasses',
    ],
  );
});
