// What both processes' command lines share: value parsers for commander and
// the kubeconfig loader. Flags themselves are declared in each main.
import { KubeConfig } from '@kubernetes/client-node';
import { InvalidArgumentError, type Command } from 'commander';

/** "500ms", "2s", "5m", "1h" -> milliseconds. (The chart's values.schema.json takes the same form.) */
export function duration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value);
  if (match === null) throw new InvalidArgumentError('a duration like 500ms, 2s, 5m or 1h');
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * scale;
}

export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('a positive whole number');
  return n;
}

export function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a TCP port (0-65535)');
  return n;
}

/** The named kubeconfig file, else the in-cluster config, else $KUBECONFIG or ~/.kube/config. */
export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file !== undefined) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}

/** The flags of the /metrics, /livez, /readyz server, the same in both processes. */
export function withListenFlags(program: Command): Command {
  return program
    .option('--listen-host <host>', 'address for /metrics, /livez, /readyz', '0.0.0.0')
    .option('--listen-port <port>', 'port for /metrics, /livez, /readyz', port, 8080);
}
