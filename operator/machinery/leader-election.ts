// Leader election on a coordination.k8s.io/v1 Lease, after client-go: 15 s
// lease, 10 s renew deadline, 2 s retry. Expiry is judged by this process's
// own clock from when it last saw the record change, never by comparing
// another machine's timestamps with ours. The leader that cannot renew
// within the deadline stops writing at once (isLeader() turns false even
// before the loop notices) and is told so, so its process can exit.
import { KubeApiError } from '../../kube/errors.ts';
import { microTime } from '../../kube/micro-time.ts';
import type { KubeRest } from '../../kube/rest.ts';
import { WakeableSleep } from '../../kube/wakeable-sleep.ts';
import type { Logger } from '../../observability/logger.ts';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

export interface ElectionTimings {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export const CLIENT_GO_TIMINGS: ElectionTimings = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** A candidate's retries are spread over up to 1.2 retry periods, as client-go's (wait.JitterFactor). */
export const RETRY_JITTER = 1.2;

/**
 * Which of client-go's rules (NewLeaderElector) the timings break, if any:
 * the lease must outlast the renew deadline, or a leader that stops
 * renewing would still write after another took the lease; and the deadline
 * must outlast a jittered retry, or a leader would give up before retrying.
 */
export function brokenTimingRule(t: ElectionTimings): 'lease-within-deadline' | 'deadline-within-retry' | undefined {
  if (t.leaseDurationMs <= t.renewDeadlineMs) return 'lease-within-deadline';
  if (t.renewDeadlineMs <= RETRY_JITTER * t.retryPeriodMs) return 'deadline-within-retry';
  return undefined;
}

/** What this process saw of the lease, and when (its own clock). */
export interface Observation {
  spec: LeaseSpec;
  observedAt: number;
}

/**
 * Whether `identity` may take or keep the lease now: it holds it, nobody
 * does, or the holder has not renewed for a whole lease duration as we saw it.
 */
export function mayAcquire(observed: Observation | undefined, identity: string, now: number, leaseDurationMs: number): boolean {
  if (observed === undefined) return true;
  const holder = observed.spec.holderIdentity ?? '';
  if (holder === '' || holder === identity) return true;
  const duration = (observed.spec.leaseDurationSeconds ?? 0) * 1000 || leaseDurationMs;
  return now >= observed.observedAt + duration;
}

export interface ElectorOptions extends ElectionTimings {
  namespace: string;
  name: string;
  identity: string;
}

export class LeaderElector {
  private readonly rest: KubeRest;
  private readonly options: ElectorOptions;
  private readonly log: Logger;
  private observed: Observation | undefined;
  private lastRenew = -Infinity;
  private leading = false;
  private stopped = false;
  private readonly sleeper = new WakeableSleep();

  constructor(rest: KubeRest, options: ElectorOptions, log: Logger) {
    this.rest = rest;
    this.options = options;
    this.log = log;
  }

  /** True only while the lease is ours and was renewed within the renew deadline. */
  isLeader(): boolean {
    return this.leading && Date.now() - this.lastRenew < this.options.renewDeadlineMs;
  }

  /**
   * Campaigns until elected (then calls `onElected`), then renews until the
   * lease is lost (then resolves 'lost') or stop() is called (then releases
   * the lease, so the next leader need not wait, and resolves 'stopped').
   */
  async run(onElected: () => void): Promise<'lost' | 'stopped'> {
    while (!this.stopped && !(await this.tryAcquireOrRenew())) await this.sleeper.sleep(this.options.retryPeriodMs * (1 + Math.random() * (RETRY_JITTER - 1)));
    if (this.stopped) return 'stopped';
    this.leading = true;
    this.log.info({ lease: `${this.options.namespace}/${this.options.name}`, identity: this.options.identity }, 'became the leader');
    onElected();
    while (!this.isStopped()) {
      await this.sleeper.sleep(this.options.retryPeriodMs);
      if (this.isStopped()) break;
      if (!(await this.tryAcquireOrRenew()) && Date.now() - this.lastRenew >= this.options.renewDeadlineMs) {
        this.leading = false;
        this.log.error({ identity: this.options.identity }, 'lost the leader lease: stopped writing');
        return 'lost';
      }
    }
    await this.release();
    return 'stopped';
  }

  private isStopped(): boolean {
    return this.stopped;
  }

  stop(): void {
    this.stopped = true;
    this.sleeper.wake();
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.options.namespace}/leases`;
  }

  /** One attempt; true when the lease is ours afterwards. Errors count as "not now". */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = Date.now();
    try {
      const current = await this.get();
      if (current === undefined) {
        await this.write('POST', this.leaseFor(undefined, now));
      } else {
        this.observe(current.spec ?? {}, now);
        if (!mayAcquire(this.observed, this.options.identity, now, this.options.leaseDurationMs)) return false;
        await this.write('PUT', this.leaseFor(current, now));
      }
      this.lastRenew = now;
      return true;
    } catch (err) {
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'leader election: lease not acquired or renewed');
      return false;
    }
  }

  private observe(spec: LeaseSpec, now: number): void {
    const same = this.observed !== undefined && this.observed.spec.holderIdentity === spec.holderIdentity && this.observed.spec.renewTime === spec.renewTime;
    if (!same) this.observed = { spec, observedAt: now };
  }

  private leaseFor(current: Lease | undefined, now: number): Lease {
    const old = current?.spec ?? {};
    const ours = old.holderIdentity === this.options.identity;
    const spec: LeaseSpec = {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: Math.round(this.options.leaseDurationMs / 1000),
      acquireTime: ours && old.acquireTime !== undefined ? old.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: ours ? (old.leaseTransitions ?? 0) : (old.leaseTransitions ?? -1) + 1,
    };
    const metadata = {
      name: this.options.name,
      namespace: this.options.namespace,
      ...(current?.metadata.resourceVersion === undefined ? {} : { resourceVersion: current.metadata.resourceVersion }),
    };
    return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata, spec };
  }

  private async get(): Promise<Lease | undefined> {
    try {
      return await this.rest.request<Lease>('GET', `${this.path}/${this.options.name}`, { what: `get Lease ${this.options.name}` });
    } catch (err) {
      if (err instanceof KubeApiError && err.reason === 'NotFound') return undefined;
      throw err;
    }
  }

  private async write(verb: 'POST' | 'PUT', lease: Lease): Promise<void> {
    const path = verb === 'POST' ? this.path : `${this.path}/${this.options.name}`;
    await this.rest.request(verb, path, { what: `${verb === 'POST' ? 'create' : 'update'} Lease ${this.options.name}`, body: lease });
  }

  /** Gives the lease up so a standby takes over at its next retry, not a lease duration later. */
  private async release(): Promise<void> {
    if (!this.isLeader()) return;
    this.leading = false;
    try {
      const current = await this.get();
      if (current?.spec?.holderIdentity !== this.options.identity) return;
      const spec: LeaseSpec = { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(Date.now()) };
      await this.write('PUT', { ...current, spec });
    } catch (err) {
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not release the leader lease');
    }
  }
}

/** Thrown instead of writing when this replica does not lead: the reconcile ends without retry. */
export class NotLeader extends Error {}

/** The guard before every write: a replica that does not lead (or no longer does) writes nothing. */
export function mustLead(leadership: { isLeader: () => boolean }): void {
  if (!leadership.isLeader()) throw new NotLeader('not the leader: not writing');
}
