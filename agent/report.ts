// Turns what the CRI runtime said into the spec of the node's
// NodeSandboxReport. Pure: the same answers always give the same spec, in a
// normal form (sorted, no absent-vs-empty ambiguity), so "did anything
// change?" is a string comparison and a quiet node costs no API write.
import {
  nodeSandboxReportSpecSchema,
  type IsolationEvidence,
  type NodeSandboxReportSpec,
  type ReportedSandbox,
  type RuntimeDescription,
} from '../api/v1alpha1/node-sandbox-report.ts';
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
  /** Since when it has answered without a break the agent saw: its first answer, then the first after each outage (a restart). */
  reachableSince?: Date;
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
    ...(evidence.confirmation === undefined ? {} : { confirmation: evidence.confirmation }),
    ...(evidence.record === undefined ? {} : { record: evidence.record.slice(0, 256) }),
    ...(evidence.container === undefined ? {} : { container: evidence.container.slice(0, 253) }),
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
  return { ...description, ...reachability(state) };
}

/** Since when the runtime answers, or since when it has not and why. */
function reachability({ unreachable, reachableSince }: RuntimeState): Pick<RuntimeDescription, 'reachableSince' | 'unreachableSince' | 'lastError'> {
  if (unreachable !== undefined) return { unreachableSince: unreachable.since.toISOString(), lastError: unreachable.error.slice(0, 1024) };
  return reachableSince === undefined ? {} : { reachableSince: reachableSince.toISOString() };
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

/** What was left out to keep the report within its schema. */
export interface Omitted {
  sandboxes: number;
  handlers: number;
  fields: number;
}

// The schema's own bounds: the report is cut to exactly what the API server takes.
const SPEC = nodeSandboxReportSpecSchema.properties;
const RUNTIME = SPEC.runtime.properties;
const HANDLER = RUNTIME.handlers.items.properties;
const SANDBOX = SPEC.sandboxes.items.properties;

/** Free text, cut to `max` (counted when it is). */
function cut(text: string | undefined, max: number, omitted: Omitted): string | undefined {
  if (text === undefined || text.length <= max) return text;
  omitted.fields++;
  return text.slice(0, max);
}

/** A judged value too long for the schema is left out, never cut: a cut runtime type or handler would be another one. */
function keptWhole<T extends object>(entry: T, key: keyof T & string, max: number, omitted: Omitted): T {
  const value = entry[key];
  if (typeof value !== 'string' || value.length <= max) return entry;
  omitted.fields++;
  return Object.fromEntries(Object.entries(entry).filter(([k]) => k !== key)) as T;
}

/** Whether a sandbox can be reported truthfully: its id and names fit whole (a cut id names no sandbox). */
function reportable(s: ReportedSandbox): boolean {
  return (
    s.id.length <= SANDBOX.id.maxLength &&
    s.podUID.length <= SANDBOX.podUID.maxLength &&
    s.namespace.length <= SANDBOX.namespace.maxLength &&
    s.name.length <= SANDBOX.name.maxLength &&
    s.requestedHandler.length <= SANDBOX.requestedHandler.maxLength &&
    (s.resolvedHandler?.length ?? 0) <= SANDBOX.resolvedHandler.maxLength
  );
}

/** The sandboxes the schema takes: reportable ones, the Ready before the dead when there are too many. */
function fitSandboxes(all: readonly ReportedSandbox[], omitted: Omitted): ReportedSandbox[] {
  const whole = all.filter(reportable).map((s) => keptWhole(s, 'runtimeType', SANDBOX.runtimeType.maxLength, omitted));
  omitted.sandboxes += all.length - whole.length;
  if (whole.length <= SPEC.sandboxes.maxItems) return whole;
  const kept = [...whole.filter((s) => s.state === 'Ready'), ...whole.filter((s) => s.state !== 'Ready')].slice(0, SPEC.sandboxes.maxItems);
  omitted.sandboxes += whole.length - kept.length;
  return kept.sort(compareSandboxes);
}

/** The handlers the schema takes: the default and those the sandboxes name first when there are too many, then by name. */
function fitHandlers(runtime: RuntimeDescription, sandboxes: readonly ReportedSandbox[], omitted: Omitted): RuntimeDescription['handlers'] {
  const named = runtime.handlers.filter((h) => h.name.length <= HANDLER.name.maxLength);
  omitted.handlers += runtime.handlers.length - named.length;
  const whole = named.map((h) =>
    keptWhole(keptWhole(h, 'runtimeType', HANDLER.runtimeType.maxLength, omitted), 'runtimePath', HANDLER.runtimePath.maxLength, omitted),
  );
  if (whole.length <= RUNTIME.handlers.maxItems) return whole;
  const used = new Set([runtime.defaultHandler, ...sandboxes.map((s) => s.resolvedHandler)]);
  const kept = [...whole.filter((h) => used.has(h.name)), ...whole.filter((h) => !used.has(h.name))].slice(0, RUNTIME.handlers.maxItems);
  omitted.handlers += whole.length - kept.length;
  return kept.sort((a, b) => a.name.localeCompare(b.name));
}

function fitRuntime(runtime: RuntimeDescription, sandboxes: readonly ReportedSandbox[], omitted: Omitted): RuntimeDescription {
  const fitted = keptWhole({ ...runtime, handlers: fitHandlers(runtime, sandboxes, omitted) }, 'defaultHandler', RUNTIME.defaultHandler.maxLength, omitted);
  const text = {
    endpoint: cut(runtime.endpoint, RUNTIME.endpoint.maxLength, omitted),
    name: cut(runtime.name, RUNTIME.name.maxLength, omitted),
    version: cut(runtime.version, RUNTIME.version.maxLength, omitted),
    apiVersion: cut(runtime.apiVersion, RUNTIME.apiVersion.maxLength, omitted),
  };
  for (const [key, value] of Object.entries(text)) if (value !== undefined) Object.assign(fitted, { [key]: value });
  return fitted;
}

/** The report spec, how many sandboxes had to be left out as malformed, and what was left out to fit the schema. */
export function buildReportSpec(input: ReportInput): { spec: NodeSandboxReportSpec; malformed: number; omitted: Omitted } {
  const reported: ReportedSandbox[] = [];
  let malformed = 0;
  for (const sandbox of input.sandboxes) {
    const entry = toReportedSandbox(sandbox, input.details.get(sandbox.id), input.runtime.handlers, input.evidence?.get(sandbox.id));
    if (entry === undefined) malformed++;
    else reported.push(entry);
  }
  reported.sort(compareSandboxes);
  const omitted: Omitted = { sandboxes: 0, handlers: 0, fields: 0 };
  const sandboxes = fitSandboxes(reported, omitted);
  const runtime = fitRuntime(describeRuntime(input.runtime), sandboxes, omitted);
  const agentVersion = cut(input.agentVersion, SPEC.agentVersion.maxLength, omitted) ?? '';
  const said = Object.fromEntries(Object.entries(omitted).filter(([, n]) => n > 0));
  return {
    spec: {
      nodeName: input.nodeName,
      agentVersion,
      isolationEvidence: input.evidence === undefined ? 'Disabled' : 'Gathered',
      runtime,
      ...(Object.keys(said).length === 0 ? {} : { omitted: said }),
      sandboxes,
    },
    malformed,
    omitted,
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
