// One log line when requests to the API server start failing, and one when
// they work again, however many resources and retries there are in between:
// an API server restart is one outage, not a warning per watch per retry.
// The retries themselves are counted in metrics and logged at debug.
import type { Logger } from './logger.ts';

export class ApiOutageLog {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly failing = new Set<string>();
  private since: number | undefined;

  constructor(log: Logger, now: () => number = Date.now) {
    this.log = log;
    this.now = now;
  }

  /** `resource`'s requests fail (said once per outage, with the first error). */
  failed(resource: string, error: unknown, retry: string): void {
    if (this.failing.size === 0 && this.since === undefined) {
      this.since = this.now();
      this.log.warn({ resource, err: error instanceof Error ? error.message : String(error), retry }, 'API server requests failing; retrying with backoff');
    }
    this.failing.add(resource);
  }

  /** `resource`'s requests work again; when every one does, the outage is over. */
  recovered(resource: string): void {
    this.failing.delete(resource);
    if (this.failing.size > 0 || this.since === undefined) return;
    this.log.info({ seconds: Math.round((this.now() - this.since) / 100) / 10 }, 'API server requests work again');
    this.since = undefined;
  }
}
