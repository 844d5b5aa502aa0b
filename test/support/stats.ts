// Figures for the benchmarks.

/** The p-th percentile of an ascending list (nearest rank); NaN for an empty one. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** One line of a benchmark's progress, with the time of day. */
export function benchLog(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}
