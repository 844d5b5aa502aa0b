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
import { RateWindow } from '../kube/rate-window.ts';
import { KubeApiError } from '../kube/errors.ts';
import type { Logger } from './logger.ts';

export type ScrapeOutcome = 'allowed' | 'unauthenticated' | 'forbidden' | 'unavailable' | 'throttled';

/** A refusal's `message` is what the scraper is told: what it can act on, never what failed inside (that is logged). */
export type ScrapeDecision =
  { outcome: 'allowed'; code: 200; user: string } | { outcome: Exclude<ScrapeOutcome, 'allowed'>; code: 401 | 403 | 429 | 503; message: string };

export interface ScrapeAuthOptions {
  /** The non-resource URL checked with SubjectAccessReview. */
  path?: string;
  /** How long an allowed token stays allowed without asking again (a revoked token is honoured this long). */
  allowedTtlMs?: number;
  /** How long a refused token stays refused. */
  deniedTtlMs?: number;
  /** How long after its last review an allowed token stays allowed while the API server cannot answer. */
  staleAllowedMs?: number;
  /** At most this many allowed tokens remembered, and as many refused ones, apart; the one least recently used is forgotten first. */
  maxEntries?: number;
  /**
   * Reviews of tokens not allowed before, at most this many a second: each
   * costs the API server two requests, and anyone who reaches the port can
   * send tokens. An allowed token due again is never held back.
   */
  reviewsPerSecond?: number;
  now?: () => number;
}

export const SCRAPE_AUTH_DEFAULTS = {
  path: '/metrics',
  allowedTtlMs: 120_000,
  deniedTtlMs: 10_000,
  staleAllowedMs: 600_000,
  maxEntries: 256,
  reviewsPerSecond: 10,
} as const;

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
  return match?.[1];
}

/** What a scraper is told when its token cannot be checked, and the reason for the log. */
interface Unavailable {
  decision: ScrapeDecision;
  reason: string;
}

/** A review that failed is no answer about the token: 503, never cached. Forbidden means our own RBAC lacks the review permission. */
function reviewFailed(err: unknown, review: string): Unavailable {
  const reason = `the ${review} failed: ${err instanceof Error ? err.message : String(err)}`;
  const message =
    err instanceof KubeApiError && err.reason === 'Forbidden'
      ? `this process may not create ${review}s, so it cannot check who scrapes (grant create on ${review.toLowerCase()}s)`
      : `cannot check the scrape's token now: the ${review} did not succeed; try again (this process's log says why)`;
  return { decision: { outcome: 'unavailable', code: 503, message }, reason };
}

const THROTTLED: ScrapeDecision = { outcome: 'throttled', code: 429, message: 'too many scrapes with tokens not checked yet; try again in a second' };
/** Throttling is logged at most this often, with how many it held back. */
const THROTTLE_LOG_MS = 60_000;

/** A token's last answer, and when the API server gave it. */
interface Remembered {
  decision: ScrapeDecision;
  reviewedAt: number;
}

export class ScrapeAuthorizer {
  private readonly options: Required<ScrapeAuthOptions>;
  /**
   * Each token's last answer and when the API server gave it; how long it
   * holds follows from the answer. Allowed and refused apart: a flood of
   * made-up tokens only ever pushes out other refusals.
   */
  private readonly allowed: LRUCache<string, Remembered>;
  private readonly refused: LRUCache<string, Remembered>;
  private readonly inFlight = new Map<string, Promise<ScrapeDecision>>();
  /** Reviews of tokens not allowed before, in the last second. */
  private readonly reviews = new RateWindow(1000);
  private throttle = { held: 0, saidAt: -Infinity };
  private readonly reviewer: AccessReviewer;
  private readonly log: Logger;

  constructor(reviewer: AccessReviewer, log: Logger, options: ScrapeAuthOptions = {}) {
    this.reviewer = reviewer;
    this.log = log;
    this.options = { ...SCRAPE_AUTH_DEFAULTS, now: Date.now, ...options };
    this.allowed = new LRUCache({ max: this.options.maxEntries });
    this.refused = new LRUCache({ max: this.options.maxEntries });
  }

  /** The answer for a request with this Authorization header. */
  async authorize(header: string | undefined): Promise<ScrapeDecision> {
    const token = bearerToken(header);
    if (token === undefined) {
      return { outcome: 'unauthenticated', code: 401, message: 'a bearer token is required (Authorization: Bearer <token>)' };
    }
    const key = createHash('sha256').update(token).digest('base64url');
    const now = this.options.now();
    const allowed = this.allowed.get(key);
    const known = allowed ?? this.refused.get(key);
    if (known !== undefined && now - known.reviewedAt < this.ttl(known.decision)) return known.decision;
    // Scrapes that arrive together with one token share one review.
    const pending = this.inFlight.get(key);
    if (pending !== undefined) return pending;
    if (allowed === undefined && !this.reviews.take(this.options.reviewsPerSecond, now)) return this.throttled(now);
    const review = this.review(key, token, allowed).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, review);
    return review;
  }

  private throttled(now: number): ScrapeDecision {
    this.throttle.held++;
    if (now - this.throttle.saidAt >= THROTTLE_LOG_MS) {
      this.log.warn({ held: this.throttle.held, perSecond: this.options.reviewsPerSecond }, 'scrapes of /metrics with unchecked tokens throttled');
      this.throttle = { held: 0, saidAt: now };
    }
    return THROTTLED;
  }

  private async review(key: string, token: string, allowed: Remembered | undefined): Promise<ScrapeDecision> {
    const { decision, reason } = await this.decide(token);
    if (decision.outcome === 'unavailable') {
      if (allowed !== undefined && this.options.now() - allowed.reviewedAt < this.options.staleAllowedMs) {
        this.log.warn(
          { reason, user: (allowed.decision as { user?: string }).user },
          'a scrape of /metrics could not be checked: allowed, as when last checked',
        );
        return allowed.decision;
      }
      this.log.error({ reason }, 'a scrape of /metrics could not be checked: 503');
      return decision;
    }
    if (decision.outcome !== 'allowed') this.log.warn({ code: decision.code, reason: decision.message }, 'a scrape of /metrics was refused');
    this.remember(key, decision);
    return decision;
  }

  private async decide(token: string): Promise<{ decision: ScrapeDecision; reason?: string }> {
    let user: ReviewedUser;
    try {
      const verdict = await this.reviewer.reviewToken(token);
      if (!verdict.authenticated) return { decision: { outcome: 'unauthenticated', code: 401, message: `the token is not valid: ${verdict.error}` } };
      user = verdict.user;
    } catch (err) {
      return reviewFailed(err, 'TokenReview');
    }
    try {
      const access = await this.reviewer.reviewAccess(user, this.options.path);
      if (access.allowed) return { decision: { outcome: 'allowed', code: 200, user: user.username } };
      const why = access.reason === '' ? '' : ` (${access.reason})`;
      return { decision: { outcome: 'forbidden', code: 403, message: `${user.username} may not get ${this.options.path}${why}` } };
    } catch (err) {
      return reviewFailed(err, 'SubjectAccessReview');
    }
  }

  private ttl(decision: ScrapeDecision): number {
    return decision.outcome === 'allowed' ? this.options.allowedTtlMs : this.options.deniedTtlMs;
  }

  private remember(key: string, decision: ScrapeDecision): void {
    const [keep, drop] = decision.outcome === 'allowed' ? [this.allowed, this.refused] : [this.refused, this.allowed];
    drop.delete(key);
    keep.set(key, { decision, reviewedAt: this.options.now() });
  }
}
