// The audit reconciler: sums one audit up over every node, from the report
// statuses in the cache (auditedNodes), into the audit's status.
import { RUNTIME_CLASS_AUDIT } from '../api/v1alpha1/runtime-class-audit.ts';
import { auditedNodes } from './audit-view.ts';
import type { ClusterCache } from './cache.ts';
import type { Expectations } from './expectations.ts';
import { done, type ReconcileResult } from './reconcile.ts';
import { auditStatus, summarize, type NodeSummary } from './status.ts';
import { writeStatus, type WriterDeps } from './status-writer.ts';

export interface AuditReconcilerDeps extends WriterDeps {
  cache: ClusterCache;
  expectations: Expectations;
}

/** Per node, what the audit's status needs of it. */
function auditSummaries(deps: Pick<AuditReconcilerDeps, 'cache' | 'expectations'>, name: string, now: number): Map<string, NodeSummary> | undefined {
  const audit = deps.cache.audits.get(name);
  if (audit === undefined) return undefined;
  const summaries = new Map<string, NodeSummary>();
  for (const [node, { state, entry }] of auditedNodes(deps.cache, deps.expectations, audit, now)) summaries.set(node, summarize(state, entry));
  return summaries;
}

export class AuditReconciler {
  private readonly deps: AuditReconcilerDeps;

  constructor(deps: AuditReconcilerDeps) {
    this.deps = deps;
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const { cache, expectations } = this.deps;
    const now = this.deps.now();
    const audit = cache.audits.get(name);
    const summaries = auditSummaries(this.deps, name, now);
    if (audit === undefined || summaries === undefined) {
      // Gone: so is our write in flight.
      expectations.auditWrites.forget(name);
      return done;
    }
    const stored = expectations.auditWrites.get(name, now) ?? audit.status;
    const status = auditStatus({ ...audit, ...(stored === undefined ? {} : { status: stored }) }, summaries, new Set(cache.nodes.keys()), now);
    await writeStatus(this.deps, { kind: RUNTIME_CLASS_AUDIT, name, pending: expectations.auditWrites }, status, audit.status);
    return done;
  }
}
