// Bounded concurrency for the agent's reads: CRI calls and /proc files.

/** Runs `fn` over `items`, at most `size` at a time. */
export async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) {
    await Promise.all(items.slice(i, i + size).map(fn));
  }
}
