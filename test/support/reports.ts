// What an agent wrote: a node's NodeSandboxReport as stored, and a pod's
// ready sandbox in it once the agent has reported it.
import assert from 'node:assert/strict';
import type { NodeSandboxReportSpec, ReportedSandbox } from '../../api/v1alpha1/node-sandbox-report.ts';
import { eventually, kubectl, type Testbed } from '../../hack/testbed/testbed.ts';

export interface StoredReport {
  spec: NodeSandboxReportSpec;
  metadata: { ownerReferences?: { kind: string; name: string }[] };
}

export async function storedReport(testbed: Testbed, node: string): Promise<StoredReport> {
  return JSON.parse(await kubectl(testbed, ['get', 'nodesandboxreport', node, '-o', 'json'])) as StoredReport;
}

/** The pod's ready sandbox in its node's report, waiting up to a minute for the agent to report it. */
export async function readySandbox(testbed: Testbed, node: string, namespace: string, pod: string): Promise<ReportedSandbox> {
  return eventually(async () => {
    const found = (await storedReport(testbed, node)).spec.sandboxes.find((s) => s.namespace === namespace && s.name === pod && s.state === 'Ready');
    assert.ok(found, `no ready sandbox for ${namespace}/${pod} in the report of ${node}`);
    return found;
  }, 60_000);
}
