// A keyed work queue in the manner of client-go's: a key is queued at most
// once, never handed to two workers at once, re-queued if it was added again
// while being worked on, and retried with per-key exponential backoff under a
// global token-bucket rate limit (NFD's updater pool: 50 ms .. 100 s per key,
// 10 qps with a burst of 100 overall). Reconcilers get only the key and read
// current state themselves; the queue never carries events.

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

export interface RateLimits {
  baseDelayMs: number;
  maxDelayMs: number;
  qps: number;
  burst: number;
}

export const DEFAULT_RATE_LIMITS: RateLimits = { baseDelayMs: 50, maxDelayMs: 100_000, qps: 10, burst: 100 };

/** Per-key exponential backoff: base * 2^(failures-1), capped. */
export function backoffDelay(failures: number, limits: RateLimits): number {
  if (failures <= 0) return 0;
  return Math.min(limits.maxDelayMs, limits.baseDelayMs * 2 ** Math.min(failures - 1, 52));
}

/** A token bucket: how long until the next token, taking it. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly qps: number;
  private readonly burst: number;

  constructor(qps: number, burst: number, now: number) {
    this.qps = qps;
    this.burst = burst;
    this.tokens = burst;
    this.last = now;
  }

  /** Reserves one token and returns the wait (ms) before it may be used. */
  reserve(now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }
}

export class WorkQueue {
  private readonly clock: Clock;
  private readonly limits: RateLimits;
  private readonly bucket: TokenBucket;
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; handle: unknown }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;

  constructor(clock: Clock = systemClock, limits: RateLimits = DEFAULT_RATE_LIMITS) {
    this.clock = clock;
    this.limits = limits;
    this.bucket = new TokenBucket(limits.qps, limits.burst, clock.now());
  }

  /** Keys waiting to be handed out (not counting delayed ones). */
  get length(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    const waiter = this.waiters.shift();
    if (waiter === undefined) this.queue.push(key);
    else this.handOut(key, waiter);
  }

  /** Adds `key` after `ms`; an earlier pending delay for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const pending = this.delayed.get(key);
    if (pending !== undefined && pending.at <= at) return;
    if (pending !== undefined) this.clock.clearTimeout(pending.handle);
    const handle = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, handle });
  }

  /** Adds `key` after its backoff (grown by one failure) or the global limit, whichever is later. */
  addRateLimited(key: string): void {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    const delay = Math.max(backoffDelay(failures, this.limits), this.bucket.reserve(this.clock.now()));
    this.addAfter(key, delay);
  }

  /** The key succeeded: its backoff starts over. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to work on; undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Work on `key` is over; if it was added meanwhile, it goes back in. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  /** Nothing queued or being worked on, and nothing delayed that falls due within `withinMs` (a debounce, not a later retry). */
  idle(withinMs = 0): boolean {
    if (this.queue.length > 0 || this.processing.size > 0) return false;
    const horizon = this.clock.now() + withinMs;
    for (const { at } of this.delayed.values()) if (at <= horizon) return false;
    return true;
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { handle } of this.delayed.values()) this.clock.clearTimeout(handle);
    this.delayed.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  private handOut(key: string, waiter: (key: string | undefined) => void): void {
    this.queued.delete(key);
    this.processing.add(key);
    waiter(key);
  }
}
