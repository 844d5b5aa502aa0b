// When a finding ends: a pod's verdict and what was expected and seen,
// continued across passes and Unverified spells (operator/README.md, "When a
// finding ends"). Pure.
import type { LastVerified, PodVerdictEntry } from '../../api/v1alpha1/node-sandbox-report.ts';

/** What a finding is: the verdict and what was expected and seen. Not the sandbox: a re-created sandbox with the same handler is the same finding. */
const FINDING_FIELDS = ['verdict', 'reason', 'expectedHandler', 'expectedRuntimeType', 'expectedIsolation', 'actualHandler', 'actualRuntimeType'] as const;
type Finding = Pick<PodVerdictEntry, (typeof FINDING_FIELDS)[number] | 'actualIsolation'>;

/** Evidence that cannot tell (not gathered, or unknown) is no other isolation: it never ends a finding. */
const known = (isolation: Finding['actualIsolation']): boolean => isolation !== undefined && isolation !== 'unknown';
const sameIsolation = (a: Finding, b: Finding): boolean => !known(a.actualIsolation) || !known(b.actualIsolation) || a.actualIsolation === b.actualIsolation;

const sameFinding = (a: Finding, b: Finding): boolean => FINDING_FIELDS.every((f) => a[f] === b[f]) && sameIsolation(a, b);

/** The reasons a verified finding can have (what lastVerified keeps). */
const VERIFIED_REASONS = new Set<string>(['Matched', 'RuntimeTypeMismatch', 'IsolationMismatch']);

/** What a stored entry says the pod was last verified to be: the entry itself, or what an Unverified entry holds. */
export function lastVerifiedOf(entry: PodVerdictEntry | undefined): LastVerified | undefined {
  if (entry === undefined) return undefined;
  if (entry.verdict === 'Unverified') return entry.lastVerified;
  // A pod outside the required RuntimeClasses is judged from its spec at every pass, never Unverified: nothing to hold.
  if (entry.reason === 'RuntimeClassNotAllowed') return undefined;
  const reason = VERIFIED_REASONS.has(entry.reason) ? (entry.reason as LastVerified['reason']) : 'HandlerMismatch';
  const held: LastVerified = { verdict: entry.verdict, reason, since: entry.since };
  const optional = {
    expectedHandler: entry.expectedHandler,
    expectedRuntimeType: entry.expectedRuntimeType,
    expectedIsolation: entry.expectedIsolation,
    actualHandler: entry.actualHandler,
    actualRuntimeType: entry.actualRuntimeType,
    actualIsolation: entry.actualIsolation,
  };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) Object.assign(held, { [key]: value });
  return held;
}

/** The mismatch an Unverified entry holds (it was mismatched when last verified), if any. */
export function heldMismatch(entry: PodVerdictEntry): LastVerified | undefined {
  return entry.verdict === 'Unverified' && entry.lastVerified?.verdict === 'Mismatched' ? entry.lastVerified : undefined;
}

/**
 * The finding-continuity rule. A Matched or Mismatched finding ends only
 * when the pod is gone, its verdict changes, or its expected or actual
 * handler, runtime type or isolation changes (evidence that cannot tell,
 * not gathered or unknown, is no change). An Unverified spell in between (agent
 * restarted or rolled, runtime or API server down, operator reinstalled)
 * does not end it: the Unverified entry holds it as `lastVerified`, and when
 * the same finding is seen again it keeps its first `since`. A re-created
 * sandbox with the same handler is the same finding. An Unverified entry
 * keeps its own `since` while its reason stays the same.
 */
export function continueFinding(fresh: PodVerdictEntry, before: PodVerdictEntry | undefined): PodVerdictEntry {
  const held = lastVerifiedOf(before);
  if (fresh.verdict === 'Unverified') {
    const since = before !== undefined && sameFinding(before, fresh) ? before.since : fresh.since;
    return held === undefined ? { ...fresh, since } : { ...fresh, since, lastVerified: held };
  }
  // A policy finding is never held (lastVerifiedOf), so it is continued from the stored entry itself.
  if (before !== undefined && before.verdict !== 'Unverified' && sameFinding(before, fresh)) return { ...fresh, since: before.since };
  return held !== undefined && sameFinding(held, fresh) ? { ...fresh, since: held.since } : fresh;
}
