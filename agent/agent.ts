// The node agent's loop: scan the CRI runtime, build the report, write it
// when (and only when) it changed. One pass never throws: a runtime that
// does not answer becomes "unreachable since ..." in the report, an API
// server that does not answer is retried on the next pass.
import type { NodeSandboxReportSpec } from '../api/v1alpha1/node-sandbox-report.ts';
import type { Logger } from '../observability/logger.ts';
import { describeCriError } from './cri/errors.ts';
import { parseRuntimeHandlers } from './cri/runtime-info.ts';
import type { StatusResponse, VersionResponse } from './cri/types.ts';
import type { AgentMetrics } from './metrics.ts';
import { buildReportSpec, canonicalSpec, type Omitted, type RuntimeState } from './report.ts';
import type { EvidenceSource } from './evidence/proc.ts';
import { SandboxScanner, type SandboxSource, type ScanResult } from './scanner.ts';
import type { WriteOutcome } from './report-writer.ts';
import { jitteredBackoff } from '../kube/backoff.ts';

/** The longest wait between report writes while the API server refuses them. */
const WRITE_BACKOFF_MAX_MS = 30_000;

/** The CRI calls the agent makes. */
export interface CriRuntime extends SandboxSource {
  version(): Promise<VersionResponse>;
  status(verbose: boolean): Promise<StatusResponse>;
}

/** Where the report goes (ReportWriter). */
export interface ReportSink {
  write(spec: NodeSandboxReportSpec): Promise<WriteOutcome>;
}

export interface AgentOptions {
  nodeName: string;
  agentVersion: string;
  intervalMs: number;
  /** Re-read the stored report this often even when nothing changed here, to undo edits by others. */
  resyncMs: number;
  /** Re-read the runtime's version and handler config this often. */
  runtimeRefreshMs: number;
}

export interface AgentDeps {
  /** The runtime to talk to, or why there is none yet (no socket found). */
  connect(): { cri: CriRuntime; endpoint: string } | { error: string; endpoint: string };
  sink: ReportSink;
  /** Where isolation evidence comes from (the host's /proc); absent when gathering it is off. */
  evidence?: EvidenceSource;
  log: Logger;
  metrics: AgentMetrics;
  now?: () => number;
}

export class NodeAgent {
  private readonly options: AgentOptions;
  private readonly deps: AgentDeps;
  private readonly now: () => number;
  private scanner: SandboxScanner | undefined;
  private cri: CriRuntime | undefined;
  private runtime: RuntimeState = { endpoint: '' };
  private lastScan: ScanResult | undefined;
  private lastWritten: string | undefined;
  private lastWriteAt = 0;
  private lastRuntimeRefresh = 0;
  private lastTickAt = 0;
  private lastMalformed = 0;
  /** What the last report left out to fit its schema, as said in the log. */
  private lastOmitted = '';
  private writeFailures: { count: number; since?: number; retryAt: number } = { count: 0, retryAt: 0 };
  private healthy = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(options: AgentOptions, deps: AgentDeps) {
    this.options = options;
    this.deps = deps;
    this.now = deps.now ?? Date.now;
  }

  /**
   * Ready while the node's report is current: the last pass wrote it (or
   * found it already said what it must). A runtime that does not answer
   * does not make the agent unready: its report then says so, truthfully,
   * and the operator can tell "runtime unreachable" from "no agent".
   */
  ready(): boolean {
    return this.healthy;
  }

  /** Live while passes keep happening (a stuck pass makes this false). */
  live(): boolean {
    const limit = Math.max(this.options.intervalMs * 5, 60_000);
    return this.lastTickAt === 0 || this.now() - this.lastTickAt < limit;
  }

  start(): void {
    const loop = (): void => {
      if (this.stopped) return;
      const startedAt = this.now();
      this.running = this.tick().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, nextTickDelay(startedAt, this.now(), this.options.intervalMs));
      });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** What the report leaves out to fit its schema: in the metric every pass, in the log when it changes. */
  private noteOmitted(omitted: Omitted): void {
    this.deps.metrics.countOmitted(omitted);
    const said = JSON.stringify(omitted);
    if (said === this.lastOmitted) return;
    if (omitted.sandboxes + omitted.handlers + omitted.fields > 0)
      this.deps.log.warn({ ...omitted }, "left out of the report to stay within its schema (the report's spec.omitted says so)");
    this.lastOmitted = said;
  }

  /** One pass: scan, build, write if changed. Never throws. */
  async tick(): Promise<void> {
    this.lastTickAt = this.now();
    await this.scan();
    const { spec, malformed, omitted } = buildReportSpec({
      nodeName: this.options.nodeName,
      agentVersion: this.options.agentVersion,
      runtime: this.runtime,
      sandboxes: this.lastScan?.sandboxes ?? [],
      details: this.lastScan?.details ?? new Map(),
      ...(this.deps.evidence === undefined ? {} : { evidence: this.lastScan?.evidence ?? new Map() }),
    });
    // Logged when the number changes, not on every pass.
    if (malformed !== this.lastMalformed && malformed > 0) this.deps.log.warn({ malformed }, 'left malformed sandboxes out of the report');
    this.lastMalformed = malformed;
    this.noteOmitted(omitted);
    this.deps.metrics.countSandboxes(spec);
    this.healthy = await this.writeIfChanged(spec);
  }

  private async scan(): Promise<void> {
    try {
      const cri = this.connect();
      await this.refreshRuntime(cri);
      this.scanner ??= new SandboxScanner(cri, this.deps.evidence === undefined ? {} : { evidence: this.deps.evidence });
      this.lastScan = await this.scanner.scan();
      if (this.lastScan.statusErrors > 0) {
        this.deps.log.warn(
          { failed: this.lastScan.statusErrors },
          'verbose sandbox status failed; reporting those sandboxes without it, asking again next pass',
        );
      }
      if (this.runtime.unreachable !== undefined) {
        this.deps.log.info({ endpoint: this.runtime.endpoint }, 'CRI runtime reachable again');
        delete this.runtime.unreachable;
        this.runtime.reachableSince = new Date(this.now());
      }
      this.runtime.reachableSince ??= new Date(this.now());
      this.deps.metrics.runtimeReachable.set(1);
      this.deps.metrics.lastScan.set(this.now() / 1000);
    } catch (err) {
      this.markUnreachable(describeCriError(err));
    }
  }

  private connect(): CriRuntime {
    if (this.cri !== undefined) return this.cri;
    const connection = this.deps.connect();
    this.runtime.endpoint = connection.endpoint;
    if ('error' in connection) throw new Error(connection.error);
    this.cri = connection.cri;
    return this.cri;
  }

  /** Version and handler config: at start, after an outage, and every runtimeRefreshMs. */
  private async refreshRuntime(cri: CriRuntime): Promise<void> {
    const due =
      this.runtime.unreachable !== undefined || this.runtime.version === undefined || this.now() - this.lastRuntimeRefresh >= this.options.runtimeRefreshMs;
    if (!due) return;
    const version = await cri.version();
    const handlers = parseRuntimeHandlers((await cri.status(true)).info);
    if (this.runtime.version?.runtime_version !== version.runtime_version || this.runtime.handlers?.infoFormat !== handlers.infoFormat) {
      this.deps.log.info(
        {
          runtime: version.runtime_name,
          version: version.runtime_version,
          infoFormat: handlers.infoFormat,
          defaultHandler: handlers.defaultHandler,
          problem: handlers.problem,
        },
        'CRI runtime found',
      );
    }
    this.runtime.version = version;
    this.runtime.handlers = handlers;
    this.lastRuntimeRefresh = this.now();
  }

  private markUnreachable(error: string): void {
    this.deps.metrics.runtimeReachable.set(0);
    if (this.runtime.unreachable !== undefined) return;
    // The error and the time are those of the first failure, so a lasting
    // outage is one report write, not one per pass.
    this.runtime.unreachable = { since: new Date(this.now()), error };
    this.deps.log.error({ endpoint: this.runtime.endpoint, error }, 'CRI runtime unreachable');
  }

  /** Writes the report if it changed (or a resync is due); true when the stored report is current. */
  private async writeIfChanged(spec: NodeSandboxReportSpec): Promise<boolean> {
    const canonical = canonicalSpec(spec);
    const resyncDue = this.now() - this.lastWriteAt >= this.options.resyncMs;
    if (canonical === this.lastWritten && !resyncDue) return true;
    // After a failed write, wait out the backoff: every node's agent retrying
    // every pass would hammer an API server that is coming back up.
    if (this.now() < this.writeFailures.retryAt) return false;
    try {
      const outcome = await this.deps.sink.write(spec);
      if (outcome !== 'unchanged') {
        this.deps.metrics.reportWrites.inc({ outcome });
        this.deps.log.info({ outcome, sandboxes: spec.sandboxes.length, reachable: spec.runtime.reachable }, 'report written');
      }
      this.wroteAgain();
      this.lastWritten = canonical;
      this.lastWriteAt = this.now();
      return true;
    } catch (err) {
      this.deps.metrics.reportWrites.inc({ outcome: 'error' });
      this.writeFailed(err instanceof Error ? err.message : String(err));
      this.lastWritten = undefined;
      return false;
    }
  }

  /** Backs the next write off; logged once per outage (its first error), then at debug. */
  private writeFailed(error: string): void {
    const failures = this.writeFailures.count + 1;
    const delay = jitteredBackoff(failures, this.options.intervalMs, WRITE_BACKOFF_MAX_MS);
    this.writeFailures = { count: failures, since: this.writeFailures.since ?? this.now(), retryAt: this.now() + delay };
    const level = failures === 1 ? 'error' : 'debug';
    this.deps.log[level](
      { error, failures, retryInMs: Math.round(delay) },
      `cannot write the report; retrying with backoff (up to ${String(WRITE_BACKOFF_MAX_MS / 1000)} s)`,
    );
  }

  private wroteAgain(): void {
    const { count, since } = this.writeFailures;
    if (count > 0) this.deps.log.info({ failures: count, seconds: Math.round((this.now() - (since ?? this.now())) / 1000) }, 'report written again');
    this.writeFailures = { count: 0, retryAt: 0 };
  }
}

/**
 * How long after a pass that started at `startedAt` the next one starts:
 * passes start every interval, so a slow pass (a burst of new sandboxes on
 * a busy runtime, measured at over a second) does not push detection back
 * by its own length; after one that overran, a tenth of an interval.
 */
export function nextTickDelay(startedAt: number, now: number, intervalMs: number): number {
  return Math.max(intervalMs / 10, startedAt + intervalMs - now);
}
