// What both processes' command lines share: value parsers for commander.
// Flags themselves are declared in each main.
import { InvalidArgumentError, type Command } from 'commander';
import { isDnsLabel, isDnsSubdomain } from '../api/names.ts';

/** A commander parser from a parser that throws an Error: its message becomes the flag's refusal. */
export function refusing<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (err) {
      throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
    }
  };
}

/** "500ms", "2s", "5m", "1h" -> milliseconds. (The chart's values.schema.json takes the same form.) */
export function duration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value);
  if (match === null) throw new InvalidArgumentError('a duration like 500ms, 2s, 5m or 1h');
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * scale;
}

/** Milliseconds in the flags' own form: 1500ms, 2s, 5m, 1h. */
export function formatDuration(ms: number): string {
  for (const [unit, scale] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms % scale === 0) return `${String(ms / scale)}${unit}`;
  return `${String(ms)}ms`;
}

/**
 * The sane range of every duration flag of the agent, the operator and its
 * withdrawal of the proofs. Nothing may be 0 (a scan or an event write on
 * every turn of the loop), and nothing may reach Node's timer limit (2^31-1
 * ms, about 24.8 days), past which a timer fires after 1 ms. The chart
 * checks its values against the same ranges (templates/_helpers.tpl,
 * rcaudit.duration; a unit test compares them).
 */
export const DURATION_BOUNDS = {
  // agent
  interval: ['100ms', '10m'],
  resync: ['1s', '24h'],
  'runtime-refresh': ['1s', '24h'],
  'cri-timeout': ['100ms', '5m'],
  // operator
  'operator-resync': ['10s', '24h'],
  'event-series-interval': ['1s', '24h'],
  'api-timeout': ['1s', '10m'],
  'watch-silence': ['1s', '1h'],
  'lease-duration': ['1s', '5m'],
  'renew-deadline': ['1s', '5m'],
  'retry-period': ['100ms', '1m'],
  // the withdrawal of the probes' labels (operator/withdraw.ts)
  'operator-gone': ['1s', '10m'],
} as const satisfies Record<string, readonly [string, string]>;

/** A commander parser for a duration within `bounds`; the error names the value and the range (commander adds the flag). */
export function boundedDuration(bounds: keyof typeof DURATION_BOUNDS): (value: string) => number {
  const [min, max] = DURATION_BOUNDS[bounds];
  return (value) => {
    const ms = duration(value);
    if (ms < duration(min) || ms > duration(max)) throw new InvalidArgumentError(`${value} is out of range: a duration from ${min} to ${max}`);
    return ms;
  };
}

/** The sane range of every count flag of both processes: a typo (1e9 workers, a 100 GB message) is refused at start. */
export const COUNT_BOUNDS = {
  // agent: the kubelet's own limit on a CRI answer is 16 MiB; a small one only makes answers over it fail, clearly
  'cri-max-message-bytes': [256, 268_435_456],
  // operator: node reconciles at once, each holding one of its priority level's seats
  workers: [1, 64],
  // operator: real evictions a minute over the cluster, all audits together
  'max-evictions-per-minute': [1, 60],
  // operator: probe pods in flight over the cluster, and started a minute
  'probe-max-in-flight': [1, 1000],
  'probe-per-minute': [1, 600],
} as const satisfies Record<string, readonly [number, number]>;

/** A commander parser for a whole number within `bounds`, written in digits. */
export function boundedCount(bounds: keyof typeof COUNT_BOUNDS): (value: string) => number {
  const [min, max] = COUNT_BOUNDS[bounds];
  return (value) => {
    if (!/^\d{1,15}$/.test(value)) throw new InvalidArgumentError('a whole number, in digits');
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${value} is out of range: from ${String(min)} to ${String(max)}`);
    return n;
  };
}

/** A namespace's name, as the API server checks it. */
export function namespaceName(value: string): string {
  if (!isDnsLabel(value)) throw new InvalidArgumentError('a namespace name (RFC 1123 label: at most 63 lower-case letters, digits and -)');
  return value;
}

/** An object's name (a Node, a Lease, a RuntimeClassAudit), as the API server checks it. */
export function objectName(value: string): string {
  if (!isDnsSubdomain(value)) throw new InvalidArgumentError('an object name (RFC 1123 subdomain: lower-case letters, digits, - and ., at most 253)');
  return value;
}

export function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a TCP port (0-65535)');
  return n;
}

/** The flags of the /metrics, /livez, /readyz server, the same in both processes. */
export function withListenFlags(program: Command): Command {
  return program
    .option('--listen-host <host>', 'address for /metrics, /livez, /readyz', '0.0.0.0')
    .option('--listen-port <port>', 'port for /metrics, /livez, /readyz', port, 8080)
    .option(
      '--no-metrics-secure',
      'serve /metrics over plain HTTP to anyone who can reach the port (default: HTTPS, for a bearer token allowed to get /metrics)',
    )
    .option('--tls-cert-file <file>', 'the PEM certificate /metrics is served with (default: a self-signed one, made at start)')
    .option('--tls-key-file <file>', "that certificate's PEM private key");
}

export interface ListenFlags {
  listenHost: string;
  listenPort: number;
  metricsSecure: boolean;
  tlsCertFile?: string;
  tlsKeyFile?: string;
}

/** The certificate files, when both are given; an error naming the missing one when only one is. */
export function tlsFiles(flags: ListenFlags): { certFile: string; keyFile: string } | undefined {
  const { tlsCertFile: certFile, tlsKeyFile: keyFile } = flags;
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) throw new Error('--tls-cert-file and --tls-key-file go together: give both, or neither');
  return { certFile, keyFile };
}
