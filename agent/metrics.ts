// The agent's one metrics registry.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { NodeSandboxReportSpec } from '../api/v1alpha1/node-sandbox-report.ts';

export class AgentMetrics {
  readonly registry = new Registry();
  readonly criDuration = new Histogram({
    name: 'rcaudit_agent_cri_request_duration_seconds',
    help: 'Duration of CRI calls to the node runtime, by method.',
    labelNames: ['method'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly criErrors = new Counter({
    name: 'rcaudit_agent_cri_errors_total',
    help: 'CRI calls that failed, by method and gRPC status code.',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });
  readonly sandboxes = new Gauge({
    name: 'rcaudit_agent_sandboxes',
    help: 'Sandboxes on this node, by resolved handler and runtime type ("" when unknown).',
    labelNames: ['handler', 'runtime_type'] as const,
    registers: [this.registry],
  });
  readonly reportWrites = new Counter({
    name: 'rcaudit_agent_report_writes_total',
    help: "Writes of this node's NodeSandboxReport, by outcome (created, updated, error).",
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'rcaudit_agent_api_requests_total',
    help: 'Requests to the Kubernetes API server, by verb, resource and HTTP code (0: no answer).',
    labelNames: ['verb', 'resource', 'code'] as const,
    registers: [this.registry],
  });
  readonly lastScan = new Gauge({
    name: 'rcaudit_agent_last_successful_scan_timestamp_seconds',
    help: "When the agent last listed the node's sandboxes successfully (Unix time).",
    registers: [this.registry],
  });
  readonly reportOmitted = new Gauge({
    name: 'rcaudit_agent_report_omitted',
    help: "What the last report left out to stay within its schema: sandboxes, handlers, fields (too long; see the report's spec.omitted).",
    labelNames: ['what'] as const,
    registers: [this.registry],
  });
  readonly runtimeReachable = new Gauge({
    name: 'rcaudit_agent_runtime_reachable',
    help: '1 while the CRI runtime answers, 0 while it does not.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  observeRequest(verb: string, resource: string, code: number): void {
    this.apiRequests.inc({ verb, resource, code: String(code) });
  }

  observeCri(method: string, seconds: number, code: number): void {
    this.criDuration.observe({ method }, seconds);
    if (code !== 0) this.criErrors.inc({ method, code: String(code) });
  }

  /** Replaces the per-handler sandbox counts with those of `spec`. */
  countOmitted(omitted: Readonly<Record<'sandboxes' | 'handlers' | 'fields', number>>): void {
    for (const [what, n] of Object.entries(omitted)) this.reportOmitted.set({ what }, n);
  }

  countSandboxes(spec: NodeSandboxReportSpec): void {
    const counts = new Map<string, { handler: string; runtime_type: string; n: number }>();
    for (const s of spec.sandboxes) {
      const handler = s.resolvedHandler ?? s.requestedHandler;
      const runtimeType = s.runtimeType ?? '';
      const key = `${handler}\u0000${runtimeType}`;
      const entry = counts.get(key) ?? { handler, runtime_type: runtimeType, n: 0 };
      entry.n++;
      counts.set(key, entry);
    }
    this.sandboxes.reset();
    for (const { handler, runtime_type, n } of counts.values()) this.sandboxes.set({ handler, runtime_type }, n);
  }
}
