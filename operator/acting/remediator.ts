// Remediation's I/O: evicts the pods judging/remediation-plan.ts says are
// due, through the Eviction API (so PodDisruptionBudgets hold), within each
// audit's rate, and labels or unlabels a node whose kubelet drops handlers. Every action,
// and every action only planned (DryRun), leaves one Event on the pod or
// node and counts in rcaudit_remediations_total. Only the leader acts, and
// only when the operator was started with --remediation (the chart value
// remediation.enabled, which also grants the RBAC).
import { HANDLERS_DROPPED_LABEL } from '../../api/v1alpha1/runtime-class-audit.ts';
import type { NodeSandboxReportSpec, PodVerdictEntry } from '../../api/v1alpha1/node-sandbox-report.ts';
import { KubeApiError } from '../../kube/errors.ts';
import { MERGE_PATCH, type KubeRequester } from '../../kube/rest.ts';
import type { Logger } from '../../observability/logger.ts';
import type { EventRecorder, ObjectNotice } from './event-recorder.ts';
import {
  breakerTrips,
  evictionDue,
  handlerPath,
  labelAction,
  remediationOf,
  storedHalt,
  type EvictionPolicy,
  type Halt,
  type PastEviction,
  type RemediationMode,
} from '../judging/remediation-plan.ts';
import { RateWindow } from '../../kube/rate-window.ts';
import { mustLead } from '../machinery/leader-election.ts';
import type { AuditRecord, NodeRecord } from '../cache/records.ts';

export type RemediationAction = 'evict' | 'label' | 'unlabel';
/**
 * done; dry-run: only the Event; blocked: a PodDisruptionBudget said no;
 * forbidden: no RBAC; gone: the object went first; halted: the audit's
 * circuit breaker tripped instead; failed: anything else.
 */
export type RemediationOutcome = 'done' | 'dry-run' | 'blocked' | 'forbidden' | 'gone' | 'halted' | 'failed';

export interface RemediatorDeps {
  api: KubeRequester;
  /** Real evictions over the cluster a minute, all audits together (--max-evictions-per-minute): a ceiling no audit can lift. */
  maxEvictionsPerMinute: number;
  recorder: EventRecorder;
  log: Logger;
  isLeader: () => boolean;
  now: () => number;
  count: (audit: string, action: RemediationAction, outcome: RemediationOutcome) => void;
  /** An audit's circuit breaker tripped: its status should say so now. */
  halted: (audit: string) => void;
}

/** One audit's verdicts on a node's pods. */
export interface AuditOnNode {
  audit: AuditRecord;
  pods: readonly PodVerdictEntry[];
}

/** A pod a PodDisruptionBudget kept is tried again after this long. */
const BLOCKED_RETRY_MS = 30_000;
/** Where the Events about a cluster-scoped object (a Node, an audit) go, as the kubelet's do. */
const CLUSTER_EVENTS_NAMESPACE = 'default';

const errorReason = (err: unknown): string => (err instanceof KubeApiError ? err.reason : 'Error');

export class Remediator {
  private readonly deps: RemediatorDeps;
  private readonly windows = new Map<string, RateWindow>();
  /** Real evictions, all audits together (dry runs evict nothing and do not count). */
  private readonly ceiling = new RateWindow();
  /**
   * Per node, the pods acted on (evicted, or in DryRun said to be due) by
   * uid, with the finding's since and the mode: one action per finding and
   * mode (a dry run first, then the eviction once Enabled). A pod no
   * longer judged on its node is forgotten at the node's next pass.
   */
  private readonly acted = new Map<string, Map<string, string>>();
  private readonly blockedUntil = new Map<string, number>();
  /** What DryRun said of each node's label last: said once, not at every pass. */
  private readonly labelSaid = new Map<string, 'add' | 'remove'>();
  /**
   * Each audit's real evictions at its current generation, for its circuit
   * breaker: older than its window they are dropped, and a change to its
   * spec (a person resumed it) starts the count afresh. By uid, as the
   * halts: an audit deleted and created again under its name starts at
   * generation 1 again, and must not inherit its namesake's count or halt.
   */
  private readonly past = new Map<string, { generation: number; evictions: PastEviction[] }>();
  /** Halts tripped here and not yet seen in the audit's stored status, by the audit's uid, with the generation they halt. */
  private readonly halts = new Map<string, { generation: number; halt: Halt }>();

  constructor(deps: RemediatorDeps) {
    this.deps = deps;
  }

  /** What was kept for the pods of `node` that are no longer judged there. */
  private actedOn(node: string, judged: readonly AuditOnNode[]): Map<string, string> {
    const acted = this.acted.get(node) ?? new Map<string, string>();
    this.acted.set(node, acted);
    const present = new Set(judged.flatMap((j) => j.pods.map((p) => p.uid)));
    for (const uid of acted.keys()) {
      if (present.has(uid)) continue;
      acted.delete(uid);
      this.blockedUntil.delete(uid);
    }
    if (present.size === 0) this.acted.delete(node);
    return acted;
  }

  /**
   * Evicts (or, in DryRun, says it would) the node's pods that are due under
   * their audit's policy, within each audit's rate. Returns when to look
   * again, when a pod will be due or the rate holds one back.
   */
  async evict(node: string, judged: readonly AuditOnNode[], now: number, defaultHandler: string | undefined): Promise<number | undefined> {
    // A pod several audits would evict is acted on once, under the first of them (by name).
    const acted = this.actedOn(node, judged);
    let again: number | undefined;
    const seen = new Set<string>();
    for (const { audit, pods } of judged) {
      const policy = remediationOf(audit.spec).evict;
      for (const p of pods) {
        if (seen.has(p.uid) || acted.get(p.uid) === `${policy.mode} ${p.since}`) continue;
        const due = evictionDue(p, policy, now, defaultHandler);
        if (due.kind === 'none') continue;
        seen.add(p.uid);
        const next = due.kind === 'wait' ? due.untilMs : await this.evictOne(p, { audit, node, policy, acted }, now);
        if (next !== undefined) again = Math.min(again ?? Infinity, next);
      }
    }
    return again;
  }

  /**
   * Why the audit's evictions are halted, if they are: tripped here, or
   * (after a restart, or on a new leader) as its status says. Either holds
   * only while the spec keeps the generation it tripped at.
   */
  haltOf(audit: Pick<AuditRecord, 'uid' | 'generation' | 'status'>): Halt | undefined {
    const tripped = this.halts.get(audit.uid);
    if (tripped !== undefined && tripped.generation !== audit.generation) this.halts.delete(audit.uid);
    else if (tripped !== undefined) return tripped.halt;
    return storedHalt(audit);
  }

  /** Returns when to try again, if it must be. */
  private async evictOne(
    p: PodVerdictEntry,
    on: { audit: AuditRecord; node: string; policy: EvictionPolicy; acted: Map<string, string> },
    now: number,
  ): Promise<number | undefined> {
    const { audit, policy } = on;
    const held = await this.heldBack(p, on, now);
    if (typeof held !== 'object') return held;
    // The breaker's count already holds a real eviction (heldBack): given back if it does not happen.
    const { counted } = held;
    const budget = { audit: audit.name, mode: policy.mode, max: policy.maxPerMinute };
    const wait = this.takeBudget(budget, now);
    if (wait !== undefined) {
      this.forgetPast(audit, counted);
      return wait;
    }
    mustLead(this.deps);
    const outcome = policy.mode === 'DryRun' ? 'dry-run' : await this.postEviction(p);
    if (outcome !== 'done') this.forgetPast(audit, counted);
    this.deps.count(audit.name, 'evict', outcome);
    const retry = outcome === 'blocked' || outcome === 'failed';
    if (retry) {
      // Not taken from the budget: nothing happened, and the pod is tried again.
      this.giveBackBudget(budget, now);
      this.blockedUntil.set(p.uid, now + BLOCKED_RETRY_MS);
    } else {
      on.acted.set(p.uid, `${policy.mode} ${p.since}`);
    }
    const said = evictionNotice(p, audit.name, outcome);
    if (said !== undefined) await this.say(said);
    return retry ? now + BLOCKED_RETRY_MS : undefined;
  }

  /**
   * What holds the pod's eviction back before any budget is taken: a
   * PodDisruptionBudget that said no lately (when to try again), or, for a
   * real eviction, the audit's halt or its circuit breaker tripping now
   * (undefined: not until a person changes the spec). Else go on, with, for
   * a real eviction, the place it holds in the breaker's count: taken in
   * the same turn as the check, so node reconciles running at once cannot
   * all pass the breaker before any of them counts.
   */
  private async heldBack(
    p: PodVerdictEntry,
    on: { audit: AuditRecord; node: string; policy: EvictionPolicy },
    now: number,
  ): Promise<number | undefined | { counted?: PastEviction }> {
    const blocked = this.blockedUntil.get(p.uid);
    if (blocked !== undefined && blocked > now) return blocked;
    if (on.policy.mode !== 'Enabled') return {};
    if (this.haltOf(on.audit) !== undefined) return undefined;
    const counted = this.countIn(on.audit, on.node, on.policy, now);
    if ('message' in counted) {
      await this.halt(on.audit, counted);
      return undefined;
    }
    return { counted };
  }

  private pastOf(audit: AuditRecord): PastEviction[] {
    const kept = this.past.get(audit.uid);
    if (kept?.generation === audit.generation) return kept.evictions;
    const evictions: PastEviction[] = [];
    this.past.set(audit.uid, { generation: audit.generation, evictions });
    return evictions;
  }

  private forgetPast(audit: AuditRecord, eviction: PastEviction | undefined): void {
    if (eviction === undefined) return;
    const past = this.pastOf(audit);
    const i = past.indexOf(eviction);
    if (i >= 0) past.splice(i, 1);
  }

  /**
   * One more eviction, on `node`, in the audit's breaker count: its place
   * there, or the Halt when it would trip the breaker (and is not counted).
   */
  private countIn(audit: AuditRecord, node: string, policy: EvictionPolicy, now: number): PastEviction | Halt {
    const past = this.pastOf(audit).filter((e) => e.at > now - policy.breaker.windowMs);
    this.past.set(audit.uid, { generation: audit.generation, evictions: past });
    const halt = breakerTrips(policy.breaker, { past, node, audited: audit.status?.counts?.audited ?? 0, now });
    if (halt !== undefined) return halt;
    const counted = { at: now, node };
    past.push(counted);
    return counted;
  }

  /** Halts the audit here at once (its status follows), and says so in the log, an Event on the audit, and the metric. */
  private async halt(audit: AuditRecord, halt: Halt): Promise<void> {
    mustLead(this.deps);
    this.halts.set(audit.uid, { generation: audit.generation, halt });
    this.deps.log.error({ audit: audit.name, generation: audit.generation }, halt.message);
    this.deps.count(audit.name, 'evict', 'halted');
    this.deps.halted(audit.name);
    await this.say({
      kind: 'RuntimeClassAudit',
      namespace: CLUSTER_EVENTS_NAMESPACE,
      name: audit.name,
      uid: audit.uid,
      type: 'Warning',
      reason: 'RemediationHalted',
      message: halt.message,
      action: 'Evict',
    });
  }

  private windowOf(audit: string): RateWindow {
    const window = this.windows.get(audit) ?? new RateWindow();
    this.windows.set(audit, window);
    return window;
  }

  /**
   * Takes one from the audit's rate and, for a real eviction, from the
   * ceiling over the cluster; undefined when both had room, else when to
   * look again.
   */
  private takeBudget(policy: { audit: string; mode: RemediationMode; max: number }, now: number): number | undefined {
    const window = this.windowOf(policy.audit);
    const cap = this.deps.maxEvictionsPerMinute;
    const real = policy.mode === 'Enabled';
    if (real && !this.ceiling.take(cap, now)) return this.ceiling.nextAt(cap, now);
    if (window.take(policy.max, now)) return undefined;
    if (real) this.ceiling.giveBack(now);
    return window.nextAt(policy.max, now);
  }

  private giveBackBudget(policy: { audit: string; mode: RemediationMode }, now: number): void {
    this.windowOf(policy.audit).giveBack(now);
    if (policy.mode === 'Enabled') this.ceiling.giveBack(now);
  }

  private async postEviction(p: PodVerdictEntry): Promise<RemediationOutcome> {
    try {
      await this.deps.api.request('POST', `/api/v1/namespaces/${p.namespace}/pods/${p.name}/eviction`, {
        what: `evict Pod ${p.namespace}/${p.name}`,
        // The uid precondition: never a namesake created since.
        body: {
          apiVersion: 'policy/v1',
          kind: 'Eviction',
          metadata: { name: p.name, namespace: p.namespace },
          deleteOptions: { preconditions: { uid: p.uid } },
        },
      });
      this.deps.log.info({ pod: `${p.namespace}/${p.name}`, reason: p.reason, since: p.since }, 'evicted a mismatched pod');
      return 'done';
    } catch (err) {
      const reason = errorReason(err);
      if (reason === 'TooManyRequests') return 'blocked';
      if (reason === 'NotFound' || reason === 'Conflict') return 'gone';
      this.deps.log.warn({ pod: `${p.namespace}/${p.name}`, err: String(err) }, 'could not evict a mismatched pod');
      return reason === 'Forbidden' ? 'forbidden' : 'failed';
    }
  }

  /**
   * Labels the node when its kubelet is seen dropping handlers, and removes
   * the label when it is seen passing them again (judging/remediation-plan.ts
   * labelAction), under the first audit (by name) that asks for it.
   */
  async labelNode(node: NodeFacts, judged: readonly AuditOnNode[]): Promise<void> {
    const plan = labelPlan(node, judged);
    if (plan === undefined) return;
    mustLead(this.deps);
    const { action, audit, mode, said } = plan;
    const counted = action === 'add' ? 'label' : 'unlabel';
    const notice = { kind: 'Node', namespace: CLUSTER_EVENTS_NAMESPACE, name: node.name, uid: plan.uid, action: 'Label' } as const;
    if (mode === 'DryRun') {
      if (this.labelSaid.get(node.name) === action) return;
      this.labelSaid.set(node.name, action);
      const would = action === 'add' ? `dry run: would label ${HANDLERS_DROPPED_LABEL}=true` : `dry run: would remove ${HANDLERS_DROPPED_LABEL}`;
      await this.say({ ...notice, type: 'Normal', reason: 'RemediationDryRun', message: `${would}: ${said} (audit ${audit})` });
      this.deps.count(audit, counted, 'dry-run');
      return;
    }
    const outcome = await this.patchLabel(node.name, action);
    this.deps.count(audit, counted, outcome);
    if (outcome !== 'done') return;
    const message =
      action === 'add' ? `labelled ${HANDLERS_DROPPED_LABEL}=true: ${said} (audit ${audit})` : `removed ${HANDLERS_DROPPED_LABEL}: ${said} (audit ${audit})`;
    await this.say({ ...notice, type: action === 'add' ? 'Warning' : 'Normal', reason: action === 'add' ? 'HandlersDropped' : 'HandlersPassed', message });
  }

  private async patchLabel(node: string, action: 'add' | 'remove'): Promise<RemediationOutcome> {
    try {
      await this.deps.api.request('PATCH', `/api/v1/nodes/${node}`, {
        what: `label Node ${node}`,
        contentType: MERGE_PATCH,
        body: { metadata: { labels: { [HANDLERS_DROPPED_LABEL]: action === 'add' ? 'true' : null } } },
      });
      this.deps.log.warn(
        { node, label: HANDLERS_DROPPED_LABEL, action },
        action === 'add' ? 'labelled a node whose kubelet drops handlers' : 'unlabelled a node whose kubelet passes handlers again',
      );
      return 'done';
    } catch (err) {
      const reason = errorReason(err);
      this.deps.log.warn({ node, err: String(err) }, 'could not label a node');
      return reason === 'Forbidden' ? 'forbidden' : reason === 'NotFound' ? 'gone' : 'failed';
    }
  }

  /** One Event; a failure to write it is logged, never undoes the action. */
  private async say(notice: ObjectNotice): Promise<void> {
    try {
      await this.deps.recorder.announce(notice, this.deps.now());
    } catch (err) {
      this.deps.log.warn({ object: `${notice.kind} ${notice.name}`, reason: notice.reason, err: String(err) }, 'could not write a remediation event');
    }
  }
}

export interface NodeFacts {
  name: string;
  record: NodeRecord | undefined;
  report: NodeSandboxReportSpec | undefined;
}

/** What to do with the node's label now, and why, if anything. */
function labelPlan(
  node: NodeFacts,
  judged: readonly AuditOnNode[],
): { action: 'add' | 'remove'; audit: string; mode: RemediationMode; uid: string; said: string } | undefined {
  const asking = judged
    .map((j) => ({ audit: j.audit, pods: j.pods, policy: remediationOf(j.audit.spec).labelNodes }))
    .find((j) => j.policy.mode !== 'Disabled');
  if (asking === undefined || node.record === undefined || node.report === undefined) return undefined;
  const { policy } = asking;
  const path = handlerPath(asking.pods, node.report.sandboxes, node.report.runtime.defaultHandler);
  const action = labelAction(path, policy.minPods, node.record.labels[HANDLERS_DROPPED_LABEL] === 'true');
  if (action === undefined) return undefined;
  const said =
    action === 'add'
      ? `its kubelet dropped the handler of all ${String(path.dropped)} current sandboxes that should have had a non-default one`
      : `its kubelet passed a non-default handler again (${String(path.honored)} current sandboxes got theirs)`;
  return { action, audit: asking.audit.name, mode: policy.mode, uid: node.record.uid, said };
}

/** The Event an eviction (or, in DryRun, the plan of one) leaves on the pod: none for a failure (logged, and tried again) or a pod already gone. */
function evictionNotice(p: PodVerdictEntry, audit: string, outcome: RemediationOutcome): ObjectNotice | undefined {
  const lasted = `Mismatched (${p.reason}) since ${p.since}`;
  switch (outcome) {
    case 'dry-run':
      return podNotice(p, 'Normal', 'RemediationDryRun', `dry run: audit ${audit} would evict this pod: ${lasted}`);
    case 'done':
      return podNotice(p, 'Warning', 'Evicted', `evicted by audit ${audit}: ${lasted}; its controller's replacement is judged afresh`);
    case 'blocked':
      return podNotice(
        p,
        'Warning',
        'EvictionBlocked',
        `audit ${audit} would evict this pod (${lasted}), but its PodDisruptionBudget allows no disruption now; trying again`,
      );
    case 'forbidden':
      return podNotice(p, 'Warning', 'EvictionForbidden', `audit ${audit} would evict this pod (${lasted}), but the operator may not evict pods (RBAC)`);
    default:
      return undefined;
  }
}

function podNotice(p: PodVerdictEntry, type: 'Warning' | 'Normal', reason: string, message: string): ObjectNotice {
  return { kind: 'Pod', namespace: p.namespace, name: p.name, uid: p.uid, type, reason, message, action: 'Evict' };
}
