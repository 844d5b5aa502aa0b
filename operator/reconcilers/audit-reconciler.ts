// The audit reconciler: sums one audit up over every node, from the report
// statuses in the cache (auditedNodes), into the audit's status.
import { RUNTIME_CLASS_AUDIT } from '../../api/v1alpha1/runtime-class-audit.ts';
import { auditCoverage, auditedNodes, coverageNodes, summariesOf } from '../views/audit-view.ts';
import type { ClusterCache } from '../cache/cluster-cache.ts';
import type { Expectations } from '../cache/expectations.ts';
import { policyStatus } from '../judging/policy.ts';
import { done, type ReconcileResult } from '../machinery/reconcile.ts';
import { auditStatus, type ClusterFacts } from '../judging/audit-status.ts';
import { formatEqualitySelector } from '../judging/selection.ts';
import type { AgentPodSelector } from '../cache/trim.ts';
import { writeStatus, type WriterDeps } from '../acting/status-writer.ts';
import type { AuditRecord } from '../cache/records.ts';
import type { Halt } from '../judging/remediation-plan.ts';
import { probeSummaries, type ProbeFigure } from '../judging/probe-plan.ts';

export interface AuditReconcilerDeps extends WriterDeps {
  cache: ClusterCache;
  expectations: Expectations;
  /** The operator acts on spec.remediation (--remediation). */
  remediation: boolean;
  /** Where the agents are looked for (--agent-namespace, --agent-selector); absent when they are not. */
  agents?: AgentPodSelector;
  /** Why the audit's evictions are halted by its circuit breaker, if they are (the remediator's haltOf). */
  haltOf?: (audit: AuditRecord) => Halt | undefined;
  /** Every probed class on every node it admits; undefined while probes are off (or the cache is not filled yet). */
  probeFigures?: () => readonly ProbeFigure[] | undefined;
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
    if (audit === undefined) {
      // Gone: so is our write in flight.
      expectations.auditWrites.forget(name);
      return done;
    }
    const stored = expectations.auditWrites.get(name, now) ?? audit.status;
    const summaries = summariesOf(auditedNodes(cache, expectations, audit, now));
    const halt = this.deps.haltOf?.({ ...audit, ...(stored === undefined ? {} : { status: stored }) });
    const policy =
      audit.invalid === undefined ? policyStatus(audit.spec, auditCoverage(cache, audit, coverageNodes(cache)), this.deps.remediation, halt) : undefined;
    const cluster: ClusterFacts = {
      nodes: new Set(cache.nodes.keys()),
      ...this.probesOf(audit),
      ...(policy === undefined ? {} : { policy }),
      ...this.agentSearch(),
    };
    const status = auditStatus({ ...audit, ...(stored === undefined ? {} : { status: stored }) }, summaries, cluster, now);
    await writeStatus(this.deps, { kind: RUNTIME_CLASS_AUDIT, name, pending: expectations.auditWrites }, status, audit.status);
    return done;
  }

  /** What the audit's status says of the classes it asks to prove; nothing when it asks none, or probes are off. */
  private probesOf(audit: AuditRecord): Pick<ClusterFacts, 'probes'> {
    const asked = audit.invalid === undefined ? audit.spec.probes?.runtimeClasses : undefined;
    const figures = asked === undefined ? undefined : this.deps.probeFigures?.();
    if (asked === undefined || figures === undefined) return {};
    return { probes: probeSummaries(asked, new Set(this.deps.cache.runtimeClasses.keys()), figures) };
  }

  private agentSearch(): Pick<ClusterFacts, 'agents'> {
    const { agents, cache } = this.deps;
    if (agents === undefined) return {};
    return { agents: { namespace: agents.namespace, selector: formatEqualitySelector(agents.matchLabels), found: cache.agentPodCount() } };
  }
}
