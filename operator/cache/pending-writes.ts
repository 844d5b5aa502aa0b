// Our status writes come back to us through the watch a moment later. Until
// they do, the cache is behind what we wrote: comparing with the cache alone
// would write the same status twice, and would re-date every verdict's
// `since`. This remembers each write until its echo arrives (or a while
// passes, in case the server stored something other than what we sent).
import { isDeepStrictEqual } from 'node:util';

export class PendingWrites<T> {
  private readonly pending = new Map<string, { value: T; at: number }>();
  private readonly ttlMs: number;

  constructor(ttlMs = 60_000) {
    this.ttlMs = ttlMs;
  }

  wrote(key: string, value: T, now: number): void {
    this.pending.set(key, { value, at: now });
  }

  /** The watch delivered `value` for `key`: true when it is our own write coming back. */
  arrived(key: string, value: T | undefined): boolean {
    const entry = this.pending.get(key);
    if (entry === undefined || !isDeepStrictEqual(entry.value, value)) return false;
    this.pending.delete(key);
    return true;
  }

  /** What we wrote and the cache does not show yet. */
  get(key: string, now: number): T | undefined {
    const entry = this.pending.get(key);
    if (entry === undefined) return undefined;
    if (now - entry.at > this.ttlMs) {
      this.pending.delete(key);
      return undefined;
    }
    return entry.value;
  }

  forget(key: string): void {
    this.pending.delete(key);
  }

  /** How many writes still wait for their echo (expired ones not counted). */
  awaiting(now: number): number {
    let n = 0;
    for (const { at } of this.pending.values()) if (now - at <= this.ttlMs) n++;
    return n;
  }
}
