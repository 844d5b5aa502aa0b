// Writes the node's NodeSandboxReport through the API server: created when
// absent (owned by the Node, so it is garbage-collected with the node and
// never with the agent pod), else patched, only when its spec differs from
// ours. Only `spec` is ours; `status` belongs to the operator and is never
// sent. The patch is a JSON merge patch from the stored spec to ours: it
// carries no resourceVersion, so the operator's status writes, which come
// between any read and write of ours under pod churn, cannot make it
// conflict (a compare-and-swap update did: 409, and the node's findings
// waited). Not server-side apply: it takes an empty list as "no items of
// mine" and drops the field, and a report's lists are required, empty or
// not. Through kube/rest.ts, the operator's path too: every request has a
// deadline and is counted.
import { GROUP, VERSION, API_VERSION } from '../api/v1alpha1/group.ts';
import { NODE_SANDBOX_REPORT, type NodeSandboxReportSpec } from '../api/v1alpha1/node-sandbox-report.ts';
import { KubeApiError } from '../kube/errors.ts';
import { mergePatch } from '../kube/merge-patch.ts';
import { MERGE_PATCH, type KubeRest } from '../kube/rest.ts';
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

/** A merge patch meets no conflict; a create that meets one (AlreadyExists) is tried again at once, on a fresh read, this many times. */
const MAX_CONFLICTS = 5;

export class ReportWriter {
  private readonly rest: KubeRest;
  private readonly nodeName: string;
  private readonly path: string;
  private owner: OwnerReference | undefined;

  constructor(rest: KubeRest, nodeName: string) {
    this.rest = rest;
    this.nodeName = nodeName;
    this.path = `/apis/${GROUP}/${VERSION}/${NODE_SANDBOX_REPORT.plural}`;
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
      await this.rest.request('POST', this.path, { what: `create NodeSandboxReport ${this.nodeName}`, body });
      return 'created';
    }
    const owners = stored.metadata.ownerReferences ?? [];
    const owned = owners.some((o) => o.uid === owner.uid) && !owners.some((o) => o.kind === 'Node' && o.uid !== owner.uid);
    if (owned && canonicalSpec(stored.spec) === wanted) return 'unchanged';
    // Owned by this Node alone: an earlier Node of this name (deleted and re-created) is no owner.
    const metadata = owned ? {} : { metadata: { ownerReferences: [...owners.filter((o) => o.kind !== 'Node'), owner] } };
    await this.rest.request('PATCH', `${this.path}/${this.nodeName}`, {
      what: `patch NodeSandboxReport ${this.nodeName}`,
      contentType: MERGE_PATCH,
      body: { ...metadata, spec: mergePatch(stored.spec, spec) },
    });
    return 'updated';
  }

  private async read(): Promise<StoredReport | undefined> {
    try {
      return await this.rest.request<StoredReport>('GET', `${this.path}/${this.nodeName}`, { what: `get NodeSandboxReport ${this.nodeName}` });
    } catch (err) {
      if (err instanceof KubeApiError && err.reason === 'NotFound') return undefined;
      throw err;
    }
  }

  private async nodeOwner(): Promise<OwnerReference> {
    if (this.owner !== undefined) return this.owner;
    const node = await this.rest.request<{ metadata?: { uid?: string } }>('GET', `/api/v1/nodes/${this.nodeName}`, { what: `get Node ${this.nodeName}` });
    const uid = node.metadata?.uid;
    if (uid === undefined) throw new KubeApiError('Invalid', `Node ${this.nodeName} has no uid`);
    // No blockOwnerDeletion: setting it needs delete rights on Nodes, which the agent must not have.
    this.owner = { apiVersion: 'v1', kind: 'Node', name: this.nodeName, uid };
    return this.owner;
  }
}
