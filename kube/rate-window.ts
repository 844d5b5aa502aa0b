// How often the product may ask the API server for something that costs it
// (an eviction, a token's review): a sliding window, with kube/backoff.ts the
// other half of pacing requests. Pure bookkeeping: the caller acts.

/**
 * At most `max` actions in any window (60 s unless told): a sliding window
 * of the times actions were taken. (A token bucket of `max` would let
 * 2 × max through across the turn of a window.)
 */
export class RateWindow {
  private readonly taken: number[] = [];
  private readonly windowMs: number;

  constructor(windowMs = 60_000) {
    this.windowMs = windowMs;
  }

  /** Takes one if fewer than `max` were taken in the window before `now`. */
  take(max: number, now: number): boolean {
    this.prune(now);
    if (this.taken.length >= max) return false;
    this.taken.push(now);
    return true;
  }

  /** Gives back the one taken at `at` (the action did not happen: a PodDisruptionBudget said no, say). */
  giveBack(at: number): void {
    const i = this.taken.lastIndexOf(at);
    if (i >= 0) this.taken.splice(i, 1);
  }

  /** When the next one can be taken, for a window of `max`. */
  nextAt(max: number, now: number): number {
    this.prune(now);
    if (this.taken.length < max) return now;
    return (this.taken[this.taken.length - max] ?? now) + this.windowMs;
  }

  private prune(now: number): void {
    while (this.taken.length > 0 && (this.taken[0] ?? now) <= now - this.windowMs) this.taken.shift();
  }
}
