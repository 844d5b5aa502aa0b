// The probe reconciler: proof before placement. One key ("probes"): each
// pass judges the probe pods in flight from their nodes' reports (exactly as
// any pod is judged, by the policy of each audit that asks), records each
// outcome on its node, starts the probes that are due within the limits,
// and brings every node's probe labels to what its records prove. Probe
// pods are found by their namespace, so a new leader finishes what the last
// one started; one past its deadline is an error, never proof, and deleted.
import { ProbeActions } from '../acting/probe-actions.ts';
import type { ClusterCache } from '../cache/cluster-cache.ts';
import type { Logger } from '../../observability/logger.ts';
import type { KubeRequester } from '../../kube/rest.ts';
import {
  desiredLabels,
  labelChanges,
  nextDue,
  probeOutcome,
  probesToStart,
  type InFlightProbe,
  type ProbeNode,
  type ProbeReason,
  type ProbeRecord,
  type ProbeTarget,
} from '../judging/probe-plan.ts';
import { judgePod } from '../judging/verdict.ts';
import { done, type ReconcileResult } from '../machinery/reconcile.ts';
import { nodeReport } from '../views/node-view.ts';
import { nodeFingerprint, probedClasses, probeNodes, probesInFlight, SHADOW_PREFIX, shadowOf, type ProbedClass } from '../views/probe-view.ts';

type InFlight = ReturnType<typeof probesInFlight>[number];

export const PROBE_KEY = 'probes';

export interface ProbeSettings {
  /** Where probe pods run (the chart's probe namespace, Pod Security "restricted"). */
  namespace: string;
  image: string;
  maxInFlight: number;
  perMinute: number;
}

export interface ProbeReconcilerDeps {
  api: KubeRequester;
  cache: ClusterCache;
  isLeader: () => boolean;
  now: () => number;
  log: Logger;
  settings: ProbeSettings;
}

/** Look again at least this often while anything is in flight or waits for room. */
const BUSY_REQUEUE_MS = 5000;
const IDLE_REQUEUE_MS = 5 * 60_000;
/** A probe pod created this long ago and still not in the cache is taken as gone. */
const CREATED_UNSEEN_MS = 30_000;

type Judged = { outcome: ProbeRecord['outcome']; reason: ProbeReason; message: string };

export class ProbeReconciler {
  private readonly deps: ProbeReconcilerDeps;
  private readonly actions: ProbeActions;
  /** The records this replica judged, with their messages (a node's label keeps no message). */
  private readonly judged = new Map<string, Map<string, ProbeRecord>>();
  /** When each of the last minute's probes started, for the per-minute limit. */
  private started: number[] = [];
  /** Probes created and not yet seen in the cache ("node\0class" to when): in flight all the same, so the watch's lag makes no second one. */
  private readonly created = new Map<string, number>();
  /** Probe pods judged and deleted, by uid, until the watch takes them out of the cache: judged once. */
  private readonly deleted = new Set<string>();

  constructor(deps: ProbeReconcilerDeps) {
    this.deps = deps;
    this.actions = new ProbeActions(deps.api);
  }

  /** The records this replica judged (for the audits' status and the metrics). */
  get records(): ReadonlyMap<string, ReadonlyMap<string, ProbeRecord>> {
    return this.judged;
  }

  async reconcile(): Promise<ReconcileResult> {
    if (!this.deps.isLeader()) return done;
    const { cache } = this.deps;
    const now = this.deps.now();
    const { classes } = probedClasses(cache);
    this.forgetGone(classes);
    await this.keepShadows(classes);
    const busy = await this.judgeInFlight(classes, now);
    const nodes = probeNodes(cache, this.judged);
    const started = await this.start(nodes, classes, now);
    await this.label(probeNodes(cache, this.judged), classes);
    return { kind: 'requeueAfter', ms: busy || started ? BUSY_REQUEUE_MS : this.idleWait(nodes, classes, now) };
  }

  /**
   * Drops the records of nodes gone from the cluster and of classes no audit
   * probes any more: with nodes autoscaled in and out, the leader would
   * otherwise keep every name it ever probed.
   */
  private forgetGone(classes: readonly ProbedClass[]): void {
    const wanted = new Set(classes.map((c) => c.name));
    for (const node of this.judged.keys()) if (!this.deps.cache.nodes.has(node)) this.judged.delete(node);
    for (const records of this.judged.values()) for (const cls of records.keys()) if (!wanted.has(cls)) records.delete(cls);
  }

  /** Each wanted class's shadow RuntimeClass exists with its handler; no other shadow does. */
  private async keepShadows(classes: readonly ProbedClass[]): Promise<void> {
    const wanted = new Map(classes.map((c) => [shadowOf(c.name), c.handler]));
    for (const [name, record] of this.deps.cache.runtimeClasses) {
      if (!name.startsWith(SHADOW_PREFIX)) continue;
      // A handler cannot change: a class whose handler did is deleted here and made again on the next pass.
      if (wanted.get(name) !== record.handler) await this.actions.deleteShadow(name);
    }
    for (const [name, handler] of wanted) if (this.deps.cache.runtimeClass(name) === undefined) await this.actions.createShadow(name, handler);
  }

  /** Judges each probe pod in flight; records and deletes those with an answer or past their deadline. Whether any is still in flight. */
  private async judgeInFlight(classes: readonly ProbedClass[], now: number): Promise<boolean> {
    const byName = new Map(classes.map((c) => [c.name, c]));
    let pending = false;
    const probes = probesInFlight(this.deps.cache, now);
    const present = new Set(probes.map((p) => p.record.uid));
    for (const uid of this.deleted) if (!present.has(uid)) this.deleted.delete(uid);
    for (const probe of probes) {
      if (this.deleted.has(probe.record.uid)) continue;
      const cls = byName.get(probe.runtimeClass);
      const answer = cls === undefined ? undefined : this.answer(probe, cls, now);
      if (cls !== undefined && answer === undefined) {
        pending = true;
        continue;
      }
      if (cls !== undefined && answer !== undefined) this.remember(probe.node, cls, { ...answer, probedAt: now });
      await this.actions.deletePod(probe.record.namespace, probe.pod);
      this.deleted.add(probe.record.uid);
    }
    return pending;
  }

  /** What a probe pod proved, or why it cannot; undefined while it may still tell. */
  private answer(probe: InFlight, cls: ProbedClass, now: number): Judged | undefined {
    if (!this.deps.cache.nodes.has(probe.node)) return { outcome: 'Error', reason: 'NodeGone', message: `node ${probe.node} is gone` };
    const { verdict, sandboxes } = this.verdictOf(probe, cls, now);
    if (verdict !== undefined) return verdict;
    const waits = waiting(probe.record.probe?.waiting);
    if (probe.record.terminated) return { outcome: 'Error', reason: 'ProbeDidNotRun', message: `the probe pod ended without a judged sandbox${waits}` };
    if (now - probe.startedAt < cls.deadlineMs) return undefined;
    const within = `within ${String(cls.deadlineMs / 1000)} s`;
    return sandboxes === 0
      ? { outcome: 'Error', reason: 'ProbeDidNotRun', message: `no sandbox ${within}${waits}` }
      : { outcome: 'Error', reason: 'DeadlineExceeded', message: `its sandbox was not judged ${within}` };
  }

  /** The probe's sandbox judged by each audit that asks: Proven only if every one says so, else the first that does not; undefined until all can tell. */
  private verdictOf(probe: InFlight, cls: ProbedClass, now: number): { verdict: Judged | undefined; sandboxes: number } {
    const { cache } = this.deps;
    const report = nodeReport(cache, probe.node).report?.spec;
    const view = report === undefined ? undefined : { name: probe.node, report, agentReady: cache.agentReady(probe.node) };
    const sandboxes = (report?.sandboxes ?? []).filter((s) => s.podUID === probe.record.uid);
    const pod = {
      uid: probe.record.uid,
      namespace: probe.record.namespace,
      name: probe.pod,
      nodeName: probe.node,
      runtimeClassName: shadowOf(cls.name),
      expectedHandler: cls.handler,
    };
    const outcomes = cls.policies.map(({ policy }) => probeOutcome(judgePod(pod, view, sandboxes, { policy, now })));
    const decided = outcomes.filter((o) => o !== undefined);
    if (decided.length < outcomes.length) return { verdict: undefined, sandboxes: sandboxes.length };
    return { verdict: decided.find((o) => o.outcome !== 'Proven') ?? decided[0], sandboxes: sandboxes.length };
  }

  private remember(node: string, cls: ProbedClass, judged: Judged & { probedAt: number }): void {
    const record: ProbeRecord = { runtimeClass: cls.name, ...judged, fingerprint: nodeFingerprint(this.deps.cache, node, cls) };
    let records = this.judged.get(node);
    if (records === undefined) this.judged.set(node, (records = new Map<string, ProbeRecord>()));
    records.set(cls.name, record);
    const level = record.outcome === 'Proven' ? 'info' : 'warn';
    this.deps.log[level]({ node, runtimeClass: cls.name, outcome: record.outcome, reason: record.reason, message: record.message }, 'probe judged');
  }

  /** Starts the probes that are due, within the limits; a class the node's runtime does not have fails at once, without a pod. */
  private async start(nodes: readonly ProbeNode[], classes: readonly ProbedClass[], now: number): Promise<boolean> {
    const { settings, cache } = this.deps;
    this.started = this.started.filter((t) => now - t < 60_000);
    const inFlight: InFlightProbe[] = probesInFlight(cache, now);
    const seen = new Set(inFlight.map((p) => `${p.node}\0${p.runtimeClass}`));
    for (const [key, at] of this.created) {
      // Seen by the watch, or long enough ago that it must have been (else it is gone).
      if (seen.has(key) || now - at > CREATED_UNSEEN_MS) this.created.delete(key);
      else inFlight.push({ node: key.split('\0')[0] ?? '', runtimeClass: key.split('\0')[1] ?? '', pod: '', startedAt: at });
    }
    const targets = probesToStart(nodes, classes, inFlight, {
      maxInFlight: settings.maxInFlight,
      perMinute: settings.perMinute,
      startedLastMinute: this.started.length,
      now,
    });
    const byName = new Map(classes.map((c) => [c.name, c]));
    for (const target of targets) {
      const cls = byName.get(target.runtimeClass);
      if (cls === undefined) continue;
      if (this.lacksHandler(target)) {
        this.remember(target.node, cls, {
          outcome: 'Failed',
          reason: 'NoSuchHandler',
          message: `the runtime on ${target.node} has no handler ${cls.handler}`,
          probedAt: now,
        });
        continue;
      }
      this.started.push(now);
      this.created.set(`${target.node}\0${cls.name}`, now);
      const pod = await this.actions.createPod({
        namespace: settings.namespace,
        node: target.node,
        runtimeClass: cls.name,
        shadow: shadowOf(cls.name),
        image: settings.image,
        deadlineSeconds: Math.ceil(cls.deadlineMs / 1000),
        tolerations: cls.record.tolerations ?? [],
      });
      this.deps.log.info({ node: target.node, runtimeClass: cls.name, why: target.why, pod }, 'probe started');
    }
    return targets.length > 0;
  }

  /** The node's report lists its runtime's handlers, and not this one. */
  private lacksHandler(target: ProbeTarget): boolean {
    const runtime = nodeReport(this.deps.cache, target.node).report?.spec?.runtime;
    return runtime !== undefined && runtime.infoFormat !== 'unknown' && !runtime.handlers.some((h) => h.name === target.handler);
  }

  /** Brings each node's probe labels to what its records prove. */
  private async label(nodes: readonly ProbeNode[], classes: readonly ProbedClass[]): Promise<void> {
    for (const node of nodes) {
      const current = this.deps.cache.nodes.get(node.name)?.labels ?? {};
      const patch = labelChanges(current, desiredLabels(node, classes));
      if (Object.keys(patch).length === 0) continue;
      await this.actions.patchLabels(node.name, patch);
      this.deps.log.info({ node: node.name, labels: patch }, 'probe labels changed');
    }
  }

  /** With nothing in flight: until the soonest record falls due, at most five minutes. */
  private idleWait(nodes: readonly ProbeNode[], classes: readonly ProbedClass[], now: number): number {
    let soonest = now + IDLE_REQUEUE_MS;
    for (const node of nodes) for (const cls of classes) soonest = Math.min(soonest, nextDue(node.records.get(cls.name), cls) ?? soonest);
    return Math.max(1000, soonest - now);
  }
}

const waiting = (reason: string | undefined): string => (reason === undefined ? '' : `; its container waits: ${reason}`);
