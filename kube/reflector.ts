// List+watch into a local store of trimmed objects (client-go's reflector,
// small). It survives what a real API server does:
// - 410 Gone (the watch's resourceVersion was compacted away): relist;
// - a dropped connection, a transport error, an ERROR event other than 410,
//   or a server-side timeout: watch again from the last resourceVersion seen
//   (bookmarks keep it fresh), so nothing is replayed;
// - a watch that goes silent without closing: a watchdog aborts it;
// - an API server that is down: retries with jittered exponential backoff,
//   never a tight loop.
// Objects are trimmed as they arrive, one list page at a time, and a change
// that does not alter the trimmed form is dropped before anyone hears of it.
import { isDeepStrictEqual } from 'node:util';
import { KubeApiError } from './errors.ts';
import type { KubeRest } from './rest.ts';
import { jitteredBackoff } from './backoff.ts';
import { WakeableSleep } from './wakeable-sleep.ts';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; [key: string]: unknown };
  [key: string]: unknown;
}

interface ListAnswer {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: KubeObject[];
}

export type RestartReason = 'gone' | 'error' | 'silent' | 'closed';

export interface ReflectorOptions<T> {
  /** Collection path, e.g. /api/v1/pods or /apis/rcaudit.dev/v1alpha1/nodesandboxreports. */
  path: string;
  /** Short name for logs and metrics, e.g. "pods". */
  resource: string;
  /** The store key of an object (uid, or name). */
  keyOf: (object: KubeObject) => string | undefined;
  /** The trimmed form kept in memory. */
  trim: (object: KubeObject) => T;
  /** A trimmed object was added (old undefined), changed, or deleted (now undefined). */
  onChange: (key: string, old: T | undefined, now: T | undefined) => void;
  onRestart?: (reason: RestartReason, error?: unknown) => void;
  /** Told when list and watch start failing (with the first error), and when they work again. */
  onHealth?: (healthy: boolean, error?: unknown) => void;
  labelSelector?: string;
  pageSize?: number;
  /** Abort a watch that delivered nothing (not even a bookmark) for this long. */
  watchSilenceMs?: number;
  /** Server-side watch timeout range; each watch picks at random in it, as client-go does. */
  watchTimeoutSeconds?: [number, number];
  backoff?: { baseMs: number; maxMs: number };
  /** The map to keep the objects in, when its owner (a cache that indexes them) holds it; else the reflector's own. */
  store?: Map<string, T>;
}

class WatchGone extends Error {}

export class Reflector<T> {
  readonly store: Map<string, T>;
  private readonly options: Required<Omit<ReflectorOptions<T>, 'labelSelector' | 'onRestart' | 'onHealth' | 'store'>> & ReflectorOptions<T>;
  private readonly rest: KubeRest;
  private running = false;
  private abortWatch: (() => void) | undefined;
  private readonly sleeper = new WakeableSleep();
  private loop: Promise<void> | undefined;
  private syncedOnce = false;
  /** Whether the last list or watch failed and none has worked since. */
  private failing = false;
  private readonly syncWaiters: (() => void)[] = [];

  constructor(rest: KubeRest, options: ReflectorOptions<T>) {
    this.rest = rest;
    this.store = options.store ?? new Map<string, T>();
    this.options = {
      pageSize: 500,
      watchSilenceMs: 90_000,
      watchTimeoutSeconds: [300, 600],
      backoff: { baseMs: 800, maxMs: 30_000 },
      ...options,
    };
  }

  get synced(): boolean {
    return this.syncedOnce;
  }

  /** Starts listing and watching; resolves once the first list is in the store. */
  start(): Promise<void> {
    if (!this.running) {
      this.running = true;
      this.loop = this.run();
    }
    return this.syncedOnce ? Promise.resolve() : new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abortWatch?.();
    this.sleeper.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    let resourceVersion: string | undefined;
    let failures = 0;
    let gone = false;
    while (this.running) {
      const started = Date.now();
      const goneBefore = gone;
      const round = await this.listAndWatch(resourceVersion);
      ({ resourceVersion, gone } = round);
      if (!this.isRunning()) break;
      failures = nextFailures(failures, { failed: round.failed, quick: Date.now() - started < 1000, progressed: round.progressed });
      // But a 410 is answered by relisting at once: after an outage the
      // failures have piled up, and their backoff (up to 30 s) would leave
      // the cache that much staler. Only a Gone right after a Gone waits.
      const relistNow = gone && !goneBefore;
      if (failures > 0 && !relistNow) await this.backOff(failures);
    }
  }

  /**
   * One round: a relist when there is no resourceVersion to resume from,
   * then a watch; says where to resume (the last resourceVersion seen, by
   * event or bookmark, however the watch ended), whether it failed (and
   * with 410 Gone), and whether the server answered at all.
   */
  private async listAndWatch(from: string | undefined): Promise<{ resourceVersion: string | undefined; gone: boolean; failed: boolean; progressed: boolean }> {
    let resourceVersion = from;
    let progressed = false;
    // The server answered (a list came back, a watch was accepted): this round made progress, and the API server is not down.
    const answered = (): void => {
      progressed = true;
      this.setHealth(true);
    };
    const seen = (version: string): void => {
      resourceVersion = version;
    };
    try {
      if (resourceVersion === undefined) {
        resourceVersion = await this.relist();
        answered();
      }
      await this.watchFrom(resourceVersion, { accepted: answered, seen });
      return { resourceVersion, gone: false, failed: false, progressed };
    } catch (err) {
      if (!this.isRunning()) return { resourceVersion, gone: false, failed: false, progressed };
      const gone = isGone(err);
      this.options.onRestart?.(gone ? 'gone' : 'error', err);
      // A 410 is the server answering: it is not down.
      if (!gone) this.setHealth(false, err);
      return { resourceVersion: gone ? undefined : resourceVersion, gone, failed: true, progressed };
    }
  }

  private setHealth(healthy: boolean, error?: unknown): void {
    if (this.failing === !healthy) return;
    this.failing = !healthy;
    this.options.onHealth?.(healthy, error);
  }

  private isRunning(): boolean {
    return this.running;
  }

  private backOff(failures: number): Promise<void> {
    return this.sleeper.sleep(jitteredBackoff(failures, this.options.backoff.baseMs, this.options.backoff.maxMs));
  }

  /** Lists everything, page by page, replaces the store (telling what changed), and returns the list's resourceVersion. */
  private async relist(): Promise<string> {
    const fresh = new Map<string, T>();
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.rest.request<ListAnswer>('GET', this.options.path, {
        what: `list ${this.options.resource}`,
        query: { limit: this.options.pageSize, continue: continueToken, labelSelector: this.options.labelSelector },
      });
      this.trimInto(fresh, page.items ?? []);
      continueToken = page.metadata?.continue === '' ? undefined : page.metadata?.continue;
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
    } while (continueToken !== undefined);
    this.replaceStore(fresh);
    this.markSynced();
    return resourceVersion;
  }

  private trimInto(fresh: Map<string, T>, items: readonly KubeObject[]): void {
    for (const object of items) {
      const key = this.options.keyOf(object);
      if (key !== undefined) fresh.set(key, this.options.trim(object));
    }
  }

  /** Replaces the store with a fresh list, telling only what differs. */
  private replaceStore(fresh: Map<string, T>): void {
    for (const [key, old] of this.store) {
      if (!fresh.has(key)) this.apply(key, undefined);
      else if (isDeepStrictEqual(old, fresh.get(key))) fresh.delete(key);
    }
    for (const [key, now] of fresh) this.apply(key, now);
  }

  /**
   * One watch from `resourceVersion`: resolves when it ends normally, rejects
   * when it fails. `accepted` is called once the server answers it; `seen`
   * with each resourceVersion it brings (events and bookmarks), so that the
   * next watch resumes from there whichever way this one ends.
   */
  private watchFrom(resourceVersion: string, progress: { accepted: () => void; seen: (version: string) => void }): Promise<void> {
    const [low, high] = this.options.watchTimeoutSeconds;
    const timeoutSeconds = Math.floor(low + Math.random() * (high - low));
    return new Promise((resolve, reject) => {
      let silent = false;
      let controller: AbortController | undefined;
      let watchdog: NodeJS.Timeout | undefined;
      const feed = (): void => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          silent = true;
          controller?.abort();
          // Before the answer's headers there is no controller to abort (a
          // starting API server can hold a watch request unanswered for
          // long): end this attempt anyway; the answer, if it ever comes,
          // is aborted on arrival.
          endOnce(undefined);
        }, this.options.watchSilenceMs);
      };
      const finish = (err: unknown): void => {
        clearTimeout(watchdog);
        this.abortWatch = undefined;
        if (silent) {
          this.options.onRestart?.('silent');
          resolve();
        } else if (err instanceof WatchGone) reject(err);
        else if (err !== null && err !== undefined && this.running) reject(asWatchError(err, this.options.resource));
        else {
          if (this.running) this.options.onRestart?.('closed');
          resolve();
        }
      };
      let ended = false;
      const endOnce = (err: unknown): void => {
        if (ended) return;
        ended = true;
        finish(err);
      };
      feed();
      this.abortWatch = () => controller?.abort();
      this.rest
        .watch(
          this.options.path,
          { resourceVersion, allowWatchBookmarks: true, timeoutSeconds, labelSelector: this.options.labelSelector },
          (type, object: KubeObject) => {
            feed();
            if (type === 'ERROR') {
              const code = (object as { code?: number }).code;
              endOnce(
                code === 410
                  ? new WatchGone(`watch ${this.options.resource}: resourceVersion too old`)
                  : new Error(`watch ${this.options.resource}: ${JSON.stringify(object)}`),
              );
              controller?.abort();
              return;
            }
            const version = object.metadata?.resourceVersion;
            if (version !== undefined) progress.seen(version);
            if (type !== 'BOOKMARK') this.onEvent(type, object);
          },
          endOnce,
        )
        .then((c) => {
          controller = c;
          if (!this.running || ended) {
            c.abort();
            return;
          }
          progress.accepted();
        }, endOnce);
    });
  }

  private onEvent(type: string, object: KubeObject): void {
    const key = this.options.keyOf(object);
    if (key === undefined) return;
    this.apply(key, type === 'DELETED' ? undefined : this.options.trim(object));
  }

  private apply(key: string, now: T | undefined): void {
    const old = this.store.get(key);
    if (now === undefined) {
      if (old === undefined) return;
      this.store.delete(key);
    } else {
      if (old !== undefined && isDeepStrictEqual(old, now)) return;
      this.store.set(key, now);
    }
    this.options.onChange(key, old, now);
  }

  private markSynced(): void {
    this.syncedOnce = true;
    for (const resolve of this.syncWaiters.splice(0)) resolve();
  }
}

/**
 * The failure count after a round, which sets the next backoff. Only a
 * round in which the server answered (a list came back, a watch was
 * accepted) and that lasted ends a run of failures; one that failed after
 * such an answer starts a new run. A round that ends at once, again and
 * again (closed, Gone, refused), or gets no answer at all (the API server
 * down, or holding the request until the watchdog cuts it), keeps adding
 * up, however long each attempt took.
 */
export function nextFailures(failures: number, round: { failed: boolean; quick: boolean; progressed: boolean }): number {
  if (round.quick) return failures + 1;
  if (!round.progressed) return failures + 1;
  return round.failed ? 1 : 0;
}

const isGone = (err: unknown): boolean => err instanceof WatchGone || (err instanceof KubeApiError && err.reason === 'Gone');

function asWatchError(err: unknown, resource: string): Error {
  if (err instanceof KubeApiError && err.reason === 'Gone') return new WatchGone(`watch ${resource}: Gone`);
  return err instanceof Error ? err : new Error(`watch ${resource}: ${String(err)}`);
}
