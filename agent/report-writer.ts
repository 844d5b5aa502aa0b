// Writes the node's NodeSandboxReport through the API server: created when
// absent (owned by the Node, so it is garbage-collected with the node and
// never with the agent pod), replaced only when its spec differs from ours,
// conflicts retried on a fresh read. Only `spec` is ours; `status` belongs to
// the operator and is never sent.
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { GROUP, VERSION, API_VERSION } from '../api/v1alpha1/group.ts';
import { NODE_SANDBOX_REPORT, type NodeSandboxReportSpec } from '../api/v1alpha1/node-sandbox-report.ts';
import { kubeCall, KubeApiError } from '../kube/errors.ts';
import { canonicalSpec } from './report.ts';

export type WriteOutcome = 'created' | 'updated' | 'unchanged';

interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

interface StoredReport {
  metadata: { name: string; resourceVersion?: string; ownerReferences?: OwnerReference[] };
  spec?: unknown;
}

const MAX_CONFLICTS = 5;

export class ReportWriter {
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly nodeName: string;
  private owner: OwnerReference | undefined;

  constructor(kubeConfig: KubeConfig, nodeName: string) {
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.nodeName = nodeName;
  }

  /** Makes the stored report's spec equal `spec`, writing only if it differs. */
  async write(spec: NodeSandboxReportSpec): Promise<WriteOutcome> {
    const wanted = canonicalSpec(spec);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.writeOnce(spec, wanted);
      } catch (err) {
        const conflict = err instanceof KubeApiError && (err.reason === 'Conflict' || err.reason === 'AlreadyExists');
        if (!conflict || attempt >= MAX_CONFLICTS) throw err;
      }
    }
  }

  private async writeOnce(spec: NodeSandboxReportSpec, wanted: string): Promise<WriteOutcome> {
    const stored = await this.read();
    const owner = await this.nodeOwner();
    if (stored === undefined) {
      const body = { apiVersion: API_VERSION, kind: NODE_SANDBOX_REPORT.kind, metadata: { name: this.nodeName, ownerReferences: [owner] }, spec };
      await kubeCall(`create NodeSandboxReport ${this.nodeName}`, () =>
        this.custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: NODE_SANDBOX_REPORT.plural, body }));
      return 'created';
    }
    const owned = stored.metadata.ownerReferences?.some((o) => o.uid === owner.uid) === true;
    if (owned && canonicalSpec(stored.spec) === wanted) return 'unchanged';
    const ownerReferences = [...(stored.metadata.ownerReferences ?? []).filter((o) => o.kind !== 'Node'), owner];
    const body = {
      apiVersion: API_VERSION,
      kind: NODE_SANDBOX_REPORT.kind,
      // resourceVersion makes this a compare-and-swap: a concurrent write gives 409.
      metadata: { ...stored.metadata, ownerReferences },
      spec,
    };
    await kubeCall(`update NodeSandboxReport ${this.nodeName}`, () =>
      this.custom.replaceClusterCustomObject({ group: GROUP, version: VERSION, plural: NODE_SANDBOX_REPORT.plural, name: this.nodeName, body }));
    return 'updated';
  }

  private async read(): Promise<StoredReport | undefined> {
    try {
      return (await kubeCall(`get NodeSandboxReport ${this.nodeName}`, () =>
        this.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: NODE_SANDBOX_REPORT.plural, name: this.nodeName }))) as StoredReport;
    } catch (err) {
      if (err instanceof KubeApiError && err.reason === 'NotFound') return undefined;
      throw err;
    }
  }

  private async nodeOwner(): Promise<OwnerReference> {
    if (this.owner !== undefined) return this.owner;
    const node = await kubeCall(`get Node ${this.nodeName}`, () => this.core.readNode({ name: this.nodeName }));
    const uid = node.metadata?.uid;
    if (uid === undefined) throw new KubeApiError('Invalid', `Node ${this.nodeName} has no uid`);
    // No blockOwnerDeletion: setting it needs delete rights on Nodes, which the agent must not have.
    this.owner = { apiVersion: 'v1', kind: 'Node', name: this.nodeName, uid };
    return this.owner;
  }
}
