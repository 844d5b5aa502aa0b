// Who may read /metrics. The series name the pods that run without the
// isolation they asked for, so a scrape must bring a bearer token the API
// server authenticates (TokenReview) for someone allowed to get the
// non-resource URL /metrics (SubjectAccessReview): the same check as the
// API server's own /metrics, and kube-rbac-proxy's. Answers are cached by
// a hash of the token, so at steady state a scrape makes no API call. When
// the API server cannot answer, a token it allowed lately stays allowed a
// while longer: the metrics matter most during an outage, and nothing can
// be revoked while the API server is down.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { AccessReviewer, ReviewedUser } from '../kube/access-review.ts';
import { KubeApiError } from '../kube/errors.ts';
import type { Logger } from './logger.ts';

export type ScrapeOutcome = 'allowed' | 'unauthenticated' | 'forbidden' | 'unavailable';

export type ScrapeDecision =
  { outcome: 'allowed'; code: 200; user: string } | { outcome: Exclude<ScrapeOutcome, 'allowed'>; code: 401 | 403 | 503; message: string };

export interface ScrapeAuthOptions {
  /** The non-resource URL checked with SubjectAccessReview. */
  path?: string;
  /** How long an allowed token stays allowed without asking again (a revoked token is honoured this long). */
  allowedTtlMs?: number;
  /** How long a refused token stays refused. */
  deniedTtlMs?: number;
  /** How long after its last review an allowed token stays allowed while the API server cannot answer. */
  staleAllowedMs?: number;
  /** At most this many tokens remembered; the one least recently used is forgotten first. */
  maxEntries?: number;
  now?: () => number;
}

export const SCRAPE_AUTH_DEFAULTS = { path: '/metrics', allowedTtlMs: 120_000, deniedTtlMs: 10_000, staleAllowedMs: 600_000, maxEntries: 256 } as const;

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
  return match?.[1];
}

const unavailable = (message: string): ScrapeDecision => ({ outcome: 'unavailable', code: 503, message });

/** A review that failed is no answer about the token: 503, never cached. Forbidden means our own RBAC lacks the review permission. */
function reviewFailed(err: unknown, review: string): ScrapeDecision {
  if (err instanceof KubeApiError && err.reason === 'Forbidden') {
    return unavailable(`this process may not create ${review}s, so it cannot check who scrapes (grant create on ${review.toLowerCase()}s): ${err.message}`);
  }
  return unavailable(`cannot check the scrape's token now, the ${review} failed: ${err instanceof Error ? err.message : String(err)}`);
}

/** A token's last answer, and when the API server gave it. */
interface Remembered {
  decision: ScrapeDecision;
  reviewedAt: number;
}

export class ScrapeAuthorizer {
  private readonly options: Required<ScrapeAuthOptions>;
  /** Each token's last answer and when the API server gave it; how long it holds follows from the answer. */
  private readonly remembered: LRUCache<string, Remembered>;
  private readonly inFlight = new Map<string, Promise<ScrapeDecision>>();
  private readonly reviewer: AccessReviewer;
  private readonly log: Logger;

  constructor(reviewer: AccessReviewer, log: Logger, options: ScrapeAuthOptions = {}) {
    this.reviewer = reviewer;
    this.log = log;
    this.options = { ...SCRAPE_AUTH_DEFAULTS, now: Date.now, ...options };
    this.remembered = new LRUCache({ max: this.options.maxEntries });
  }

  /** The answer for a request with this Authorization header. */
  async authorize(header: string | undefined): Promise<ScrapeDecision> {
    const token = bearerToken(header);
    if (token === undefined) {
      return { outcome: 'unauthenticated', code: 401, message: 'a bearer token is required (Authorization: Bearer <token>)' };
    }
    const key = createHash('sha256').update(token).digest('base64url');
    const known = this.remembered.get(key);
    if (known !== undefined && this.options.now() - known.reviewedAt < this.ttl(known.decision)) return known.decision;
    // Scrapes that arrive together with one token share one review.
    const pending = this.inFlight.get(key) ?? this.review(key, token, known).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, pending);
    return pending;
  }

  private async review(key: string, token: string, known: Remembered | undefined): Promise<ScrapeDecision> {
    const decision = await this.decide(token);
    if (decision.outcome === 'unavailable') {
      if (known?.decision.outcome === 'allowed' && this.options.now() - known.reviewedAt < this.options.staleAllowedMs) {
        this.log.warn({ reason: decision.message, user: known.decision.user }, 'a scrape of /metrics could not be checked: allowed, as when last checked');
        return known.decision;
      }
      this.log.error({ reason: decision.message }, 'a scrape of /metrics could not be checked: 503');
      return decision;
    }
    if (decision.outcome !== 'allowed') this.log.warn({ code: decision.code, reason: decision.message }, 'a scrape of /metrics was refused');
    this.remember(key, decision);
    return decision;
  }

  private async decide(token: string): Promise<ScrapeDecision> {
    let user: ReviewedUser;
    try {
      const verdict = await this.reviewer.reviewToken(token);
      if (!verdict.authenticated) return { outcome: 'unauthenticated', code: 401, message: `the token is not valid: ${verdict.error}` };
      user = verdict.user;
    } catch (err) {
      return reviewFailed(err, 'TokenReview');
    }
    try {
      const access = await this.reviewer.reviewAccess(user, this.options.path);
      if (access.allowed) return { outcome: 'allowed', code: 200, user: user.username };
      const why = access.reason === '' ? '' : ` (${access.reason})`;
      return { outcome: 'forbidden', code: 403, message: `${user.username} may not get ${this.options.path}${why}` };
    } catch (err) {
      return reviewFailed(err, 'SubjectAccessReview');
    }
  }

  private ttl(decision: ScrapeDecision): number {
    return decision.outcome === 'allowed' ? this.options.allowedTtlMs : this.options.deniedTtlMs;
  }

  private remember(key: string, decision: ScrapeDecision): void {
    this.remembered.set(key, { decision, reviewedAt: this.options.now() });
  }
}
