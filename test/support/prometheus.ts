// A real Prometheus (Debian's, unpacked by hack/tools.sh) scraping the
// chart's metrics Services the way the chart's ServiceMonitors tell the
// Prometheus Operator to, and evaluating the chart's PrometheusRule. (The
// Prometheus Operator itself is not run: the translation it would do is
// done here, in resolveTargets and the scrape jobs.)
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { toolDir } from './chart.ts';
import { freePort, startProcess, type Started } from './processes.ts';
import { eventually } from '../../hack/testbed/testbed.ts';

export interface ServiceMonitorEndpoint {
  port: string;
  path: string;
  honorLabels?: boolean;
  scheme?: 'http' | 'https';
  bearerTokenFile?: string;
  tlsConfig?: { insecureSkipVerify?: boolean; serverName?: string; ca?: { secret: { name: string; key: string } } };
}

export interface ServiceMonitorSpec {
  selector: { matchLabels: Record<string, string> };
  namespaceSelector: { matchNames: string[] };
  endpoints: ServiceMonitorEndpoint[];
}

/** A scrape job for one ServiceMonitor; its targets come from a file the test keeps current (see resolveTargets). */
export interface MonitorJob {
  name: string;
  monitor: ServiceMonitorSpec;
}

/**
 * What Prometheus's pod would have that this host process has not: the file
 * its service account token is mounted as (the ServiceMonitor's
 * bearerTokenFile names the pod's path), and the CA files the Prometheus
 * Operator would write from the Secrets a tlsConfig names.
 */
export interface ScrapeCredentials {
  tokenFile?: string;
  /** The CA file for the Secret a job's tlsConfig names (Secrets are per namespace: so is each job's). */
  caFile?: (secret: { name: string; key: string }, job: string) => string;
}

/** A tlsConfig as Prometheus's tls_config. */
function tlsSettings(tls: NonNullable<ServiceMonitorEndpoint['tlsConfig']>, credentials: ScrapeCredentials, job: string): Record<string, unknown> {
  const settings: Record<string, unknown> = { insecure_skip_verify: tls.insecureSkipVerify ?? false };
  if (tls.serverName !== undefined) settings['server_name'] = tls.serverName;
  if (tls.ca !== undefined) {
    const ca = credentials.caFile?.(tls.ca.secret, job);
    if (ca === undefined) throw new Error(`the ServiceMonitor verifies with Secret ${tls.ca.secret.name}: give the test's CA file`);
    settings['ca_file'] = ca;
  }
  return settings;
}

/** The scrape job's HTTP settings, as the Prometheus Operator writes them from a ServiceMonitor endpoint. */
function scrapeSettings(endpoint: ServiceMonitorEndpoint | undefined, credentials: ScrapeCredentials, job: string): Record<string, unknown> {
  if (endpoint === undefined) return {};
  const settings: Record<string, unknown> = { scheme: endpoint.scheme ?? 'http' };
  if (endpoint.bearerTokenFile !== undefined) {
    if (credentials.tokenFile === undefined) throw new Error(`the ServiceMonitor scrapes with ${endpoint.bearerTokenFile}: give the test's token file`);
    settings['authorization'] = { type: 'Bearer', credentials_file: credentials.tokenFile };
  }
  if (endpoint.tlsConfig !== undefined) settings['tls_config'] = tlsSettings(endpoint.tlsConfig, credentials, job);
  return settings;
}

interface EndpointSlice {
  metadata: { namespace: string; labels: Record<string, string> };
  ports?: { name?: string; port: number }[];
  endpoints?: { addresses: string[]; targetRef?: { kind: string; name: string } }[];
}

/**
 * The targets the Prometheus Operator would give Prometheus for `monitor`:
 * every endpoint of the Services its selector picks (their EndpointSlices
 * carry the Services' labels), on the named port, labelled job (the
 * Service's name), namespace, pod and service. Debian's Prometheus is built
 * without Kubernetes service discovery, so the test resolves them itself.
 */
export async function resolveTargets(kubeconfig: string, monitor: ServiceMonitorSpec, kubectl: (args: string[]) => Promise<string>): Promise<object[]> {
  const endpoint = monitor.endpoints[0];
  if (endpoint === undefined) throw new Error('the ServiceMonitor has no endpoint');
  const selector = Object.entries(monitor.selector.matchLabels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const groups: object[] = [];
  for (const namespace of monitor.namespaceSelector.matchNames) {
    const slices = (
      JSON.parse(await kubectl(['--kubeconfig', kubeconfig, 'get', 'endpointslices', '-n', namespace, '-l', selector, '-o', 'json'])) as {
        items: EndpointSlice[];
      }
    ).items;
    groups.push(...slices.flatMap((slice) => sliceTargets(slice, endpoint.port)));
  }
  return groups;
}

/** One file_sd group per endpoint of `slice` that has port `portName`. */
function sliceTargets(slice: EndpointSlice, portName: string): object[] {
  const port = slice.ports?.find((p) => p.name === portName)?.port;
  if (port === undefined) return [];
  const service = slice.metadata.labels['kubernetes.io/service-name'] ?? '';
  return (slice.endpoints ?? []).map((e) => ({
    targets: e.addresses.map((a) => `${a}:${String(port)}`),
    labels: { job: service, service, namespace: slice.metadata.namespace, pod: e.targetRef?.kind === 'Pod' ? e.targetRef.name : '' },
  }));
}

export interface RunningPrometheus {
  process: Started;
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  alerts(): Promise<{ labels: Record<string, string>; annotations: Record<string, string>; state: string }[]>;
  stop(): Promise<void>;
}

/**
 * Starts Prometheus with a job per ServiceMonitor and the rule `groups`,
 * scraping and evaluating every second; the jobs' targets are resolved
 * again every second, as service discovery would (pods come and go on upgrades).
 */
export async function startPrometheus(
  jobs: MonitorJob[],
  groups: unknown[],
  discover: (monitor: ServiceMonitorSpec) => Promise<object[]>,
  credentials: ScrapeCredentials = {},
): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'rca-prometheus-'));
  const targetsFile = (job: MonitorJob): string => join(dir, `${job.name}.targets.json`);
  const refresh = async (): Promise<void> => {
    for (const job of jobs) {
      const file = targetsFile(job);
      // Written whole, then renamed: Prometheus never reads half a file.
      writeFileSync(`${file}.tmp`, JSON.stringify(await discover(job.monitor)));
      renameSync(`${file}.tmp`, file);
    }
  };
  await refresh();
  let refreshing = false;
  const timer = setInterval(() => {
    if (refreshing) return;
    refreshing = true;
    refresh()
      .catch(() => undefined)
      .finally(() => {
        refreshing = false;
      });
  }, 1000);
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
  writeFileSync(
    join(dir, 'prometheus.yaml'),
    stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: [join(dir, 'rules.yaml')],
      scrape_configs: jobs.map((job) => ({
        job_name: job.name,
        honor_labels: job.monitor.endpoints[0]?.honorLabels ?? false,
        metrics_path: job.monitor.endpoints[0]?.path ?? '/metrics',
        ...scrapeSettings(job.monitor.endpoints[0], credentials, job.name),
        file_sd_configs: [{ files: [targetsFile(job)], refresh_interval: '1s' }],
      })),
    }),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${String(port)}`;
  const process = startProcess(join(toolDir('prometheus'), 'prometheus'), [
    `--config.file=${join(dir, 'prometheus.yaml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${String(port)}`,
    '--log.level=warn',
  ]);
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(url + path);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? res.statusText}`);
    return body.data;
  };
  await eventually(async () => {
    const res = await fetch(`${url}/-/ready`).catch((err: unknown) => {
      throw new Error(`Prometheus does not answer (${String(err)}); its output:\n${process.output()}`);
    });
    if (!res.ok) throw new Error(`Prometheus not ready: ${String(res.status)}; its output:\n${process.output()}`);
  }, 60_000);
  return {
    process,
    query: async (expr) =>
      (await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
    alerts: async () =>
      (await api<{ alerts: { labels: Record<string, string>; annotations: Record<string, string>; state: string }[] }>('/api/v1/alerts')).alerts,
    stop: async () => {
      clearInterval(timer);
      await process.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
