// The operator at scale, as users run it: the chart's operator pod (the
// image, in-cluster credentials, the chart's flags), on the testbed's real
// API server, over synthetic Nodes (no kubelet), pods bound to them and
// reports written as agents would, 1% of pods on the kuscia path. Per size:
// - a bare paginated LIST of what the operator lists, timed in this process;
// - the first-ever audit: the operator installed over reports no operator
//   has seen (listing, then the writes, their rate and any 429);
// - steady state: API requests per second, and the operator pod's RSS;
// - time from one report change to the flagged pod's Warning event (median,
//   p99 over BENCH_LATENCY_SAMPLES changes, seen through a watch on events);
// - a restart (the operator pod deleted, as a failover or an upgrade does):
//   the new pod's audit, against the bare LIST, and its writes (none due);
// - the audit's counts after each pass, against the verdicts the data
//   implies: a change that saves memory must not drop one.
//   BENCH_OPERATOR_SIZES="1000x30000,5000x150000" node test/bench/operator.bench.ts
import type { ReportedSandbox } from '../../api/v1alpha1/node-sandbox-report.ts';
import { kubeconfigConnection } from '../../kube/connection.ts';
import { KubeRest } from '../../kube/rest.ts';
import { chartProcessPid, cpuSeconds, helm, testbedImage, rssMiB, testbedValues, upgradeInstall } from '../support/chart.ts';
import { fakeNode, metricSum, metricValue, nodeOwner, report, sandbox } from '../support/operator.ts';
import { scrapeMetrics, scraperToken } from '../support/scrape.ts';
import { benchLog, percentile } from '../support/stats.ts';
import { kubectl, loadTestbed, uniqueName } from '../../hack/testbed/testbed.ts';

const SIZES = (process.env['BENCH_OPERATOR_SIZES'] ?? '1000x30000').split(',').map((s) => s.split('x').map(Number) as [number, number]);
const LATENCY_SAMPLES = Number(process.env['BENCH_LATENCY_SAMPLES'] ?? 50);
const STEADY_SECONDS = Number(process.env['BENCH_STEADY_SECONDS'] ?? 30);
const PODS_PER_NAMESPACE = 1000;
const CONCURRENCY = 48;
const RELEASE = 'rcaudit-bench-op';

const testbed = loadTestbed();
const api = new KubeRest(await kubeconfigConnection(testbed.kubeconfig), { timeoutMs: 120_000 });

const log = benchLog;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `work` over `items`, `CONCURRENCY` at a time. */
async function inParallel<T, R>(items: readonly T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i] as T);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return results;
}

// Fake nodes never heartbeat: without these tolerations the taint manager would evict every pod after five minutes.
const tolerations = ['node.kubernetes.io/unreachable', 'node.kubernetes.io/not-ready'].map((key) => ({ key, operator: 'Exists', effect: 'NoExecute' }));

/** Pods are admitted only once their namespace's default ServiceAccount exists. */
async function defaultServiceAccount(ns: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const found = await api.request('GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`, { what: 'get sa' }).then(
      () => true,
      () => false,
    );
    if (found) return;
    await sleep(100);
  }
  throw new Error(`no default ServiceAccount in ${ns}`);
}

interface BenchPod {
  namespace: string;
  name: string;
  node: string;
  uid: string;
  kuscia: boolean;
}

/**
 * The chart's operator trusts a node's report only while that node's agent
 * pod is Ready. A fake node has no kubelet to run one, so each gets a stand-in:
 * a pod with the agent's labels in the release's namespace, marked Ready by
 * hand. Its controller is its Node, so the chart's DaemonSet leaves it alone
 * (it adopts only orphans), and deleting the Node collects it.
 */
async function standInAgents(nodeNames: string[]): Promise<void> {
  const t = performance.now();
  // The previous size's (or run's) release namespace may still be going away.
  for (;;) {
    const found = await api
      .request<{ metadata: { deletionTimestamp?: string } }>('GET', `/api/v1/namespaces/${RELEASE}`, { what: 'get namespace' })
      .catch(() => undefined);
    if (found === undefined) await kubectl(testbed, ['create', 'namespace', RELEASE]);
    if (found?.metadata.deletionTimestamp === undefined) break;
    await sleep(2000);
  }
  await defaultServiceAccount(RELEASE);
  await inParallel(nodeNames, async (node) => {
    const name = `agent-${node}`;
    await api.request('POST', `/api/v1/namespaces/${RELEASE}/pods`, {
      what: 'create agent stand-in',
      body: {
        metadata: {
          name,
          labels: { 'app.kubernetes.io/name': 'runtimeclass-audit', 'app.kubernetes.io/instance': RELEASE, 'app.kubernetes.io/component': 'agent' },
          ownerReferences: [{ ...nodeOwner(node, nodeUids.get(node) ?? ''), controller: true }],
        },
        spec: {
          nodeName: node,
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 0,
          tolerations,
          containers: [{ name: 'agent', image: 'localhost/rcaudit/pause:testbed' }],
        },
      },
    });
    await api.request('PATCH', `/api/v1/namespaces/${RELEASE}/pods/${name}/status`, {
      what: 'mark agent stand-in ready',
      contentType: 'application/merge-patch+json',
      body: { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
    });
  });
  log(`created ${String(nodeNames.length)} Ready agent stand-ins in ${(performance.now() - t).toFixed(0)} ms`);
}

async function createCluster(id: string, nodes: number, pods: number): Promise<{ nodeNames: string[]; pods: BenchPod[]; namespaces: string[] }> {
  const nodeNames = Array.from({ length: nodes }, (_, i) => `${id}-n${String(i)}`);
  const namespaces = Array.from({ length: Math.ceil(pods / PODS_PER_NAMESPACE) }, (_, i) => `${id}-ns${String(i)}`);
  let t = performance.now();
  await inParallel(nodeNames, async (name) => {
    const node = await api.request<{ metadata: { uid: string } }>('POST', '/api/v1/nodes', { what: 'create node', body: fakeNode(name) });
    nodeUids.set(name, node.metadata.uid);
  });
  await inParallel(namespaces, (name) =>
    api.request('POST', '/api/v1/namespaces', { what: 'create namespace', body: { metadata: { name, labels: { 'rcaudit-bench': id } } } }),
  );
  for (const ns of namespaces) await defaultServiceAccount(ns);
  log(`created ${String(nodes)} nodes and ${String(namespaces.length)} namespaces in ${(performance.now() - t).toFixed(0)} ms`);
  await standInAgents(nodeNames);
  t = performance.now();
  const specs = Array.from({ length: pods }, (_, i) => ({
    namespace: namespaces[Math.floor(i / PODS_PER_NAMESPACE)] ?? '',
    name: `p${String(i)}`,
    node: nodeNames[i % nodes] ?? '',
    kuscia: i % 100 === 0,
  }));
  const created = await inParallel(specs, async (p) => {
    const body = {
      metadata: { name: p.name },
      spec: {
        nodeName: p.node,
        runtimeClassName: 'kata',
        automountServiceAccountToken: false,
        tolerations,
        terminationGracePeriodSeconds: 0,
        containers: [{ name: 'c', image: 'localhost/rcaudit/pause:testbed' }],
      },
    };
    const answer = await api.request<{ metadata: { uid: string } }>('POST', `/api/v1/namespaces/${p.namespace}/pods`, { what: 'create pod', body });
    return { ...p, uid: answer.metadata.uid };
  });
  log(`created ${String(pods)} pods in ${(performance.now() - t).toFixed(0)} ms`);
  return { nodeNames, pods: created, namespaces };
}

function sandboxOf(p: BenchPod, mismatched: boolean): ReportedSandbox {
  return sandbox(p.uid, {
    namespace: p.namespace,
    name: p.name,
    ...(mismatched ? { requestedHandler: '', resolvedHandler: 'runc', runtimeType: 'io.containerd.runc.v2' } : {}),
  });
}

/** Node uids by name: each report is owned by its Node, as an agent writes it (the operator ignores others). */
const nodeUids = new Map<string, string>();
const ownedReport = (node: string, sandboxes: ReportedSandbox[], resourceVersion?: string): object => {
  const body = report(node, sandboxes) as { metadata: object };
  return {
    ...body,
    metadata: { name: node, ownerReferences: [nodeOwner(node, nodeUids.get(node) ?? '')], ...(resourceVersion === undefined ? {} : { resourceVersion }) },
  };
};

async function writeReports(byNode: Map<string, BenchPod[]>, mismatchedUids: ReadonlySet<string>): Promise<void> {
  await inParallel([...byNode], ([node, pods]) =>
    api.request('POST', '/apis/rcaudit.dev/v1alpha1/nodesandboxreports', {
      what: 'create report',
      body: ownedReport(
        node,
        pods.map((p) => sandboxOf(p, mismatchedUids.has(p.uid))),
      ),
    }),
  );
}

/** Watches Warning events of our reason; resolves the waiter of a pod uid when its event arrives. */
function watchEvents(): { waitFor: (uid: string) => Promise<number>; stop: () => void } {
  const waiters = new Map<string, (at: number) => void>();
  let controller: AbortController | undefined;
  void api
    .watch(
      '/api/v1/events',
      { fieldSelector: 'reason=RuntimeHandlerMismatch' },
      (_type, object) => {
        const uid = (object as { involvedObject?: { uid?: string } }).involvedObject?.uid;
        if (uid !== undefined) waiters.get(uid)?.(performance.now());
      },
      () => undefined,
    )
    .then((c) => {
      controller = c;
    });
  return {
    waitFor: (uid) => new Promise((resolve) => waiters.set(uid, resolve)),
    stop: () => controller?.abort(),
  };
}

const WRITE_VERBS = ['PATCH', 'POST', 'PUT'];

/** A paginated LIST of everything the operator lists, in its order and page size (500), parsed as it would be; in ms, in all and by resource. */
async function bareList(): Promise<{ total: number; each: Record<string, number> }> {
  const paths = [
    '/apis/node.k8s.io/v1/runtimeclasses',
    '/api/v1/namespaces',
    '/api/v1/nodes',
    '/apis/rcaudit.dev/v1alpha1/runtimeclassaudits',
    '/apis/rcaudit.dev/v1alpha1/nodesandboxreports',
    '/api/v1/pods',
  ];
  const each: Record<string, number> = {};
  const start = performance.now();
  for (const path of paths) {
    const t = performance.now();
    let token: string | undefined;
    do {
      const page = await api.request<{ metadata: { continue?: string } }>('GET', path, { what: 'list', query: { limit: 500, continue: token } });
      token = page.metadata.continue === '' ? undefined : page.metadata.continue;
    } while (token !== undefined);
    each[path.slice(path.lastIndexOf('/') + 1)] = Math.round(performance.now() - t);
  }
  return { total: performance.now() - start, each };
}

interface OperatorPod {
  name: string;
  pid: number;
  metrics: () => Promise<string>;
  /** The pod's log so far, as pino's JSON lines. */
  log: () => Promise<string>;
}

/** The chart's one operator pod that is running and not being deleted, once it is ready. */
async function operatorPod(notNamed?: string): Promise<OperatorPod> {
  for (let i = 0; ; i++) {
    const list = JSON.parse(await kubectl(testbed, ['get', 'pods', '-n', RELEASE, '-l', 'app.kubernetes.io/component=operator', '-o', 'json'])) as {
      items: { metadata: { name: string; uid: string; deletionTimestamp?: string }; status: { podIP?: string; containerStatuses?: { ready: boolean }[] } }[];
    };
    const pod = list.items.find(
      (p) => p.metadata.name !== notNamed && p.metadata.deletionTimestamp === undefined && (p.status.containerStatuses?.[0]?.ready ?? false),
    );
    if (pod !== undefined) {
      const url = `https://${pod.status.podIP ?? ''}:8080/metrics`;
      const name = pod.metadata.name;
      return {
        name,
        pid: chartProcessPid(pod.metadata.uid, 'operator/main.'),
        metrics: async () => scrapeMetrics(url, await scraperToken(testbed, `${RELEASE}-runtimeclass-audit-metrics-reader`)),
        log: () => kubectl(testbed, ['logs', '-n', RELEASE, name]),
      };
    }
    if (i > 600) throw new Error('no ready operator pod after 5 minutes');
    await sleep(500);
  }
}

/** When the log line `msg` was written (ms since the epoch), and its fields; undefined when it is not there yet. */
function logged(log: string, msg: string): { at: number; fields: Record<string, unknown> } | undefined {
  for (const line of log.split('\n')) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    const fields = JSON.parse(line) as Record<string, unknown>;
    return { at: Date.parse(String(fields['time'])), fields };
  }
  return undefined;
}

/** Every report's resourceVersion, by name: a status write changes it. */
async function reportVersions(): Promise<Map<string, string>> {
  const versions = new Map<string, string>();
  let token: string | undefined;
  do {
    const page = await api.request<{ metadata: { continue?: string }; items: { metadata: { name: string; resourceVersion: string } }[] }>(
      'GET',
      '/apis/rcaudit.dev/v1alpha1/nodesandboxreports',
      { what: 'list reports', query: { limit: 500, continue: token } },
    );
    for (const r of page.items) versions.set(r.metadata.name, r.metadata.resourceVersion);
    token = page.metadata.continue === '' ? undefined : page.metadata.continue;
  } while (token !== undefined);
  return versions;
}

interface Pass {
  /** Process start to the cache's sync. */
  listMs: number;
  /** The listing by resource, as the operator logged it. */
  listed: unknown;
  /** Process start to the end of the first pass ("initial audit complete"). */
  totalMs: number;
  /** Status writes and events in the pass (lease renewals not counted). */
  writes: number;
  /** The same, by resource (e.g. nodesandboxreports/status, events). */
  writesByResource: Record<string, number>;
  throttled: number;
  /** The operator's CPU seconds from its start to the pass's end. */
  cpu: number;
}

function writesByResource(text: string): Record<string, number> {
  const by: Record<string, number> = {};
  for (const m of text.matchAll(/^rcaudit_api_requests_total\{verb="(PATCH|POST|PUT)",resource="([^"]+)",code="[^"]*"\} (\d+)/gm)) {
    const resource = m[2] ?? '';
    if (resource !== 'leases') by[resource] = (by[resource] ?? 0) + Number(m[3]);
  }
  return by;
}

/** Waits for the operator pod's first pass to end; how long its parts took and what it wrote. */
async function firstPass(pod: OperatorPod): Promise<Pass> {
  for (;;) {
    const log = await pod.log();
    const starting = logged(log, 'operator starting');
    const synced = logged(log, 'cache synced');
    const complete = logged(log, 'initial audit complete');
    if (starting !== undefined && synced !== undefined && complete !== undefined) {
      const cpu = cpuSeconds(pod.pid);
      const text = await pod.metrics();
      const writes = WRITE_VERBS.reduce((sum, verb) => sum + metricSum(text, 'rcaudit_api_requests_total', { verb }), 0);
      const leaseWrites = WRITE_VERBS.reduce((sum, verb) => sum + metricSum(text, 'rcaudit_api_requests_total', { verb, resource: 'leases' }), 0);
      return {
        listMs: synced.at - starting.at,
        listed: synced.fields['listMs'],
        totalMs: complete.at - starting.at,
        writes: writes - leaseWrites,
        writesByResource: writesByResource(text),
        throttled: metricSum(text, 'rcaudit_api_requests_total', { code: '429' }),
        cpu,
      };
    }
    // Not often: each look runs kubectl, whose CPU the measured pass would share (the times come from the log, not from when we look).
    await sleep(2000);
  }
}

interface Counts {
  audited: number;
  matched: number;
  mismatched: number;
  unverified: number;
}

async function auditCounts(audit: string): Promise<Counts | undefined> {
  const a = await api.request<{ status?: { counts?: Counts } }>('GET', `/apis/rcaudit.dev/v1alpha1/runtimeclassaudits/${audit}`, { what: 'get audit' });
  return a.status?.counts;
}

/** The audit's counts must be what the data implies: every kuscia pod mismatched, every other matched. */
async function checkVerdicts(audit: string, pods: number, mismatched: number, when: string): Promise<void> {
  const want: Counts = { audited: pods, matched: pods - mismatched, mismatched, unverified: 0 };
  const got = await auditCounts(audit);
  const same = got !== undefined && (Object.keys(want) as (keyof Counts)[]).every((k) => got[k] === want[k]);
  log(`verdicts ${when}: ${same ? 'as the data implies' : 'WRONG'} (${JSON.stringify(got)})`);
  if (!same) throw new Error(`the audit's counts ${when} are ${JSON.stringify(got)}, not ${JSON.stringify(want)}`);
}

const mib = (text: string, metric: string): string => ((metricValue(text, metric) ?? NaN) / 2 ** 20).toFixed(0);
/** What the process says of its memory, beside the RSS read from /proc. */
const memory = (text: string): string =>
  `V8 heap ${mib(text, 'nodejs_heap_size_used_bytes')} MiB used of ${mib(text, 'nodejs_heap_size_total_bytes')}, external ${mib(text, 'nodejs_external_memory_bytes')} MiB`;

async function steadyRequestsPerSecond(pod: OperatorPod): Promise<number> {
  const requests = async (): Promise<number> => metricSum(await pod.metrics(), 'rcaudit_api_requests_total');
  const before = await requests();
  await sleep(STEADY_SECONDS * 1000);
  return ((await requests()) - before) / STEADY_SECONDS;
}

async function installChart(): Promise<void> {
  await upgradeInstall(testbed, RELEASE, {
    ...testbedValues(testbed),
    ...(await testbedImage(testbed)),
    'operator.replicas': 1,
    'defaultAudit.enabled': false,
  });
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const describe = (p: Pass): string =>
  `${seconds(p.totalMs)} from process start (listing ${seconds(p.listMs)} ${JSON.stringify(p.listed)}, then ${seconds(p.totalMs - p.listMs)}), ${String(p.writes)} writes ${JSON.stringify(p.writesByResource)} (${(p.writes / Math.max(0.001, (p.totalMs - p.listMs) / 1000)).toFixed(0)}/s after the listing), ${String(p.throttled)} answered 429; operator CPU ${p.cpu.toFixed(1)} s`;

/** Turns one matched pod per change into a kuscia one, and times each report write to the pod's Warning event. */
async function changeToEvent(byNode: Map<string, BenchPod[]>, mismatched: Set<string>): Promise<number[]> {
  const events = watchEvents();
  await sleep(1000);
  const latencies: number[] = [];
  const nodeList = [...byNode.keys()];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const node = nodeList[(i * 7919) % nodeList.length] ?? '';
    const pods = byNode.get(node) ?? [];
    const victim = pods.find((p) => !mismatched.has(p.uid));
    if (victim === undefined) continue;
    mismatched.add(victim.uid);
    const stored = await api.request<{ metadata: { resourceVersion: string } }>('GET', `/apis/rcaudit.dev/v1alpha1/nodesandboxreports/${node}`, {
      what: 'get report',
    });
    const body = ownedReport(
      node,
      pods.map((p) => sandboxOf(p, mismatched.has(p.uid))),
      stored.metadata.resourceVersion,
    );
    const seen = events.waitFor(victim.uid);
    const start = performance.now();
    await api.request('PUT', `/apis/rcaudit.dev/v1alpha1/nodesandboxreports/${node}`, { what: 'update report', body });
    latencies.push((await seen) - start);
  }
  events.stop();
  return latencies.sort((a, b) => a - b);
}

async function cleanUp(audit: string, cluster: { nodeNames: string[]; namespaces: string[] }): Promise<void> {
  const t = performance.now();
  await api.request('DELETE', `/apis/rcaudit.dev/v1alpha1/runtimeclassaudits/${audit}`, { what: 'delete audit' });
  await inParallel(cluster.nodeNames, (name) => api.request('DELETE', `/apis/rcaudit.dev/v1alpha1/nodesandboxreports/${name}`, { what: 'delete report' }));
  await inParallel(cluster.namespaces, (ns) => api.request('DELETE', `/api/v1/namespaces/${ns}`, { what: 'delete namespace' }));
  await inParallel(cluster.nodeNames, (name) => api.request('DELETE', `/api/v1/nodes/${name}`, { what: 'delete node' }));
  log(`cleanup requested in ${(performance.now() - t).toFixed(0)} ms (namespaces finish deleting in the background)`);
}

async function benchSize(nodes: number, podCount: number): Promise<string> {
  const id = uniqueName('bench-op');
  log(`--- ${String(nodes)} nodes / ${String(podCount)} pods (${id})`);
  const cluster = await createCluster(id, nodes, podCount);
  const byNode = new Map<string, BenchPod[]>();
  for (const p of cluster.pods) byNode.set(p.node, [...(byNode.get(p.node) ?? []), p]);
  const mismatched = new Set(cluster.pods.filter((p) => p.kuscia).map((p) => p.uid));
  const t = performance.now();
  await writeReports(byNode, mismatched);
  log(`wrote ${String(nodes)} reports (${String(mismatched.size)} pods on the kuscia path) in ${(performance.now() - t).toFixed(0)} ms`);
  const audit = `${id}-audit`;
  await api.request('POST', '/apis/rcaudit.dev/v1alpha1/runtimeclassaudits', {
    what: 'create audit',
    body: {
      apiVersion: 'rcaudit.dev/v1alpha1',
      kind: 'RuntimeClassAudit',
      metadata: { name: audit },
      spec: { namespaceSelector: { matchLabels: { 'rcaudit-bench': id } } },
    },
  });
  await bareList(); // warm the API server's own caches, as the operator's list will find them
  const { total: bare, each } = await bareList();
  log(`bare paginated LIST of runtimeclasses, namespaces, nodes, audits, reports and pods: ${seconds(bare)} ${JSON.stringify(each)}`);

  await installChart();
  let pod = await operatorPod();
  const first = await firstPass(pod);
  log(`first-ever audit: ${describe(first)}`);
  await checkVerdicts(audit, podCount, mismatched.size, 'after the first-ever audit');

  const steady = await steadyRequestsPerSecond(pod);
  log(`steady state: ${steady.toFixed(2)} API requests/s over ${String(STEADY_SECONDS)} s; RSS ${rssMiB(pod.pid).toFixed(0)} MiB`);
  const latencies = await changeToEvent(byNode, mismatched);
  const [median, p99] = [percentile(latencies, 50), percentile(latencies, 99)];
  log(`report change -> Warning event: median ${median.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms over ${String(latencies.length)} changes`);
  const rss = rssMiB(pod.pid);
  log(`RSS after the changes: ${rss.toFixed(0)} MiB (${memory(await pod.metrics())})`);

  const old = pod.name;
  const versionsBefore = await reportVersions();
  await kubectl(testbed, ['delete', 'pod', '-n', RELEASE, old, '--wait=false']);
  pod = await operatorPod(old);
  const restart = await firstPass(pod);
  const versionsAfter = await reportVersions();
  const changed = [...versionsAfter].filter(([name, version]) => versionsBefore.get(name) !== version).map(([name]) => name);
  log(
    `reports changed across the restart: ${String(changed.length)} (${changed.join(', ')}); of the synthetic nodes: ${String(changed.filter((n) => n.startsWith(id)).length)}`,
  );
  log(`audit after a restart: ${describe(restart)}; ${(restart.totalMs / bare).toFixed(2)}x the bare LIST`);
  await checkVerdicts(audit, podCount, mismatched.size, 'after the restart');
  const restartRss = rssMiB(pod.pid);
  log(`RSS of the restarted operator: ${restartRss.toFixed(0)} MiB (${memory(await pod.metrics())})`);

  await cleanUp(audit, cluster);
  return `| ${String(nodes)} | ${String(podCount)} | ${seconds(bare)} | ${seconds(first.listMs)} + ${seconds(first.totalMs - first.listMs)}, ${String(first.writes)} writes, ${String(first.throttled)} 429 | ${seconds(restart.totalMs)} (${(restart.totalMs / bare).toFixed(2)}x), ${String(restart.writes)} writes | ${median.toFixed(0)} / ${p99.toFixed(0)} ms | ${rss.toFixed(0)} MiB (restarted: ${restartRss.toFixed(0)}) | ${steady.toFixed(2)} |`;
}

// A fresh testbed has no CRDs yet.
await kubectl(testbed, ['apply', '-f', 'charts/runtimeclass-audit/files/crds/']);
const rows: string[] = [];
try {
  for (const [nodes, pods] of SIZES) rows.push(await benchSize(nodes, pods));
} finally {
  await helm(['uninstall', RELEASE, '-n', RELEASE, '--ignore-not-found', '--wait'], { KUBECONFIG: testbed.kubeconfig }).catch(() => undefined);
  await kubectl(testbed, ['delete', 'namespace', RELEASE, '--ignore-not-found', '--wait=false']);
}
process.stdout.write(
  [
    '| nodes | pods | bare LIST | first-ever audit: listing + writes | audit after a restart | report change -> event (median / p99) | operator RSS | API requests/s at steady state |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n') + '\n',
);
