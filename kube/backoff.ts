// Retry delays shared by the operator's watches and the agent's report writes.

/**
 * client-go's reflector backoff, capped: doubling from base, each delay
 * stretched by up to 100% at random so that many clients do not retry in
 * step, and never more than max (client-go's can reach twice its max: after
 * an API server restart that left caches a minute stale).
 */
export function jitteredBackoff(failures: number, base: number, max: number, random: () => number = Math.random): number {
  const plain = Math.min(max, base * 2 ** Math.max(0, Math.min(failures - 1, 30)));
  return Math.min(max, plain * (1 + random()));
}
