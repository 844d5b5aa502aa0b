// One copy of each string that repeats across pods. JSON.parse makes a new
// string for every value of every document, so a namespace's name, a runtime
// type or a verdict's reason was held once per pod per object: at 30,000
// pods, 19 MiB of the cache's 26 were strings, most of them such copies
// (measured from a heap snapshot). The pool is bounded: when full it starts
// over, which only means that later copies share with each other and not
// with earlier ones.
const MAX_POOLED = 50_000;
const pool = new Map<string, string>();

/** The pooled string equal to `value` (the first one seen). */
export function intern(value: string): string {
  const pooled = pool.get(value);
  if (pooled !== undefined) return pooled;
  if (pool.size >= MAX_POOLED) pool.clear();
  pool.set(value, value);
  return value;
}

/** Replaces each string field of `object` with its pooled copy, but for the fields in `unique`. */
function internOwn(object: Record<string, unknown>, unique: ReadonlySet<string>): void {
  for (const [key, value] of Object.entries(object)) if (typeof value === 'string' && !unique.has(key)) object[key] = intern(value);
}

/**
 * Pools the string fields of `object` and of the plain objects it holds
 * directly, but for the fields in `unique` (a uid, a sandbox id: as many
 * values as pods, which would only churn the pool).
 */
export function internStrings(object: Record<string, unknown>, unique: ReadonlySet<string>): void {
  internOwn(object, unique);
  for (const value of Object.values(object)) {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) internOwn(value as Record<string, unknown>, unique);
  }
}

/** How many strings the pool holds (for tests). */
export const pooledCount = (): number => pool.size;
