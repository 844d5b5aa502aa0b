// Turns what the CRI runtime said into the spec of the node's
// NodeSandboxReport. Pure: the same answers always give the same spec, in a
// normal form (sorted, no absent-vs-empty ambiguity), so "did anything
// change?" is a string comparison and a quiet node costs no API write.
import type { IsolationEvidence, NodeSandboxReportSpec, ReportedSandbox, RuntimeDescription } from '../api/v1alpha1/node-sandbox-report.ts';
import type { RuntimeHandlers } from './cri/runtime-info.ts';
import type { SandboxDetail } from './cri/sandbox-info.ts';
import type { PodSandbox, VersionResponse } from './cri/types.ts';
import type { Evidence } from './evidence/classify.ts';

export interface RuntimeState {
  endpoint: string;
  version?: VersionResponse;
  handlers?: RuntimeHandlers;
  /** Set while the runtime does not answer. */
  unreachable?: { since: Date; error: string };
}

/** Nanoseconds since the epoch (a decimal string, as CRI sends it) to RFC 3339 with milliseconds. */
export function nanosToRfc3339(nanos: string): string {
  const ms = /^\d{1,30}$/.test(nanos) ? Number(BigInt(nanos) / 1_000_000n) : 0;
  const date = new Date(Number.isFinite(ms) && ms <= 8.64e15 ? ms : 0);
  return date.toISOString();
}

/**
 * The handler the sandbox was asked to run with. containerd keeps it in
 * runtime_handler verbatim ("" = default); CRI-O leaves that field empty and
 * records the handler in the sandbox's runtime spec annotations.
 */
export function requestedHandler(sandbox: PodSandbox, detail: SandboxDetail | undefined): string {
  if (sandbox.runtime_handler !== '') return sandbox.runtime_handler;
  return detail?.handler ?? '';
}

/** The handler "" stands for, when the runtime says; the named handler otherwise. */
function resolveHandler(requested: string, handlers: RuntimeHandlers | undefined): string | undefined {
  return requested !== '' ? requested : handlers?.defaultHandler;
}

/** The sandbox's own runtime type (the truth, on containerd), else its handler's configured one. */
function runtimeTypeOf(resolved: string | undefined, detail: SandboxDetail | undefined, handlers: RuntimeHandlers | undefined): string | undefined {
  return detail?.runtimeType ?? handlers?.handlers.find((h) => h.name === resolved)?.runtimeType;
}

function isWellFormed(sandbox: PodSandbox): sandbox is PodSandbox & { metadata: NonNullable<PodSandbox['metadata']> } {
  return sandbox.metadata !== null && sandbox.metadata.uid !== '' && sandbox.metadata.name !== '' && sandbox.id !== '';
}

export function toReportedSandbox(
  sandbox: PodSandbox,
  detail: SandboxDetail | undefined,
  handlers: RuntimeHandlers | undefined,
  evidence?: Evidence,
): ReportedSandbox | undefined {
  if (!isWellFormed(sandbox)) return undefined;
  const meta = sandbox.metadata;
  const requested = requestedHandler(sandbox, detail);
  const resolved = resolveHandler(requested, handlers);
  const runtimeType = runtimeTypeOf(resolved, detail, handlers);
  return {
    id: sandbox.id,
    podUID: meta.uid,
    namespace: meta.namespace,
    name: meta.name,
    attempt: Number.isInteger(meta.attempt) && meta.attempt >= 0 ? meta.attempt : 0,
    state: sandbox.state === 'SANDBOX_READY' ? 'Ready' : 'NotReady',
    createdAt: nanosToRfc3339(sandbox.created_at),
    requestedHandler: requested,
    ...(resolved === undefined ? {} : { resolvedHandler: resolved }),
    ...(runtimeType === undefined ? {} : { runtimeType }),
    ...(evidence === undefined ? {} : { evidence: reportedEvidence(evidence) }),
  };
}

/** Evidence as the report holds it: facts cut to the schema's lengths. */
function reportedEvidence(evidence: Evidence): IsolationEvidence {
  return {
    class: evidence.class,
    ...(evidence.process === undefined ? {} : { process: evidence.process.slice(0, 64) }),
    ...(evidence.parent === undefined ? {} : { parent: evidence.parent.slice(0, 64) }),
    ...(evidence.hostProcesses === undefined ? {} : { hostProcesses: evidence.hostProcesses }),
    ...(evidence.reason === undefined ? {} : { reason: evidence.reason.slice(0, 256) }),
  };
}

function compareSandboxes(a: ReportedSandbox, b: ReportedSandbox): number {
  return a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name) || a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id);
}

function describeRuntime(state: RuntimeState): RuntimeDescription {
  const { version, handlers, unreachable } = state;
  const description: RuntimeDescription = {
    endpoint: state.endpoint,
    reachable: unreachable === undefined,
    infoFormat: handlers?.infoFormat ?? 'unknown',
    handlers: handlers?.handlers.map((h) => ({ ...h })) ?? [],
  };
  if (version !== undefined) {
    description.name = version.runtime_name;
    description.version = version.runtime_version;
    description.apiVersion = version.runtime_api_version;
  }
  if (handlers?.defaultHandler !== undefined) description.defaultHandler = handlers.defaultHandler;
  if (unreachable !== undefined) {
    description.unreachableSince = unreachable.since.toISOString();
    description.lastError = unreachable.error.slice(0, 1024);
  }
  return description;
}

export interface ReportInput {
  nodeName: string;
  agentVersion: string;
  runtime: RuntimeState;
  sandboxes: readonly PodSandbox[];
  details: ReadonlyMap<string, SandboxDetail>;
  /** Isolation evidence by sandbox id; undefined when gathering it is off. */
  evidence?: ReadonlyMap<string, Evidence>;
}

/** The report spec, and how many sandboxes had to be left out as malformed. */
export function buildReportSpec(input: ReportInput): { spec: NodeSandboxReportSpec; malformed: number } {
  const reported: ReportedSandbox[] = [];
  let malformed = 0;
  for (const sandbox of input.sandboxes) {
    const entry = toReportedSandbox(sandbox, input.details.get(sandbox.id), input.runtime.handlers, input.evidence?.get(sandbox.id));
    if (entry === undefined) malformed++;
    else reported.push(entry);
  }
  reported.sort(compareSandboxes);
  return {
    spec: {
      nodeName: input.nodeName,
      agentVersion: input.agentVersion,
      isolationEvidence: input.evidence === undefined ? 'Disabled' : 'Gathered',
      runtime: describeRuntime(input.runtime),
      sandboxes: reported,
    },
    malformed,
  };
}

/** A canonical text form: two specs are the same report exactly when these are equal. */
export function canonicalSpec(spec: unknown): string {
  return JSON.stringify(sortKeys(spec));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]));
}
