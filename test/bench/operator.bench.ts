// The operator at scale, through the testbed's real API server: synthetic
// Nodes (no kubelet), pods bound to them and reports written as agents
// would, 1% of pods on the kuscia path. Prints, per size:
// - time for a full audit from a cold start (process start to the audit's
//   status counting every pod);
// - time from one report change to the flagged pod's Warning event (median,
//   p99 over BENCH_LATENCY_SAMPLES changes, seen through a watch on events);
// - the operator's RSS, and its API requests per second at steady state.
//   BENCH_OPERATOR_SIZES="1000x30000,5000x150000" node test/bench/operator.bench.ts
import { readFileSync } from 'node:fs';
import type { ReportedSandbox } from '../../api/v1alpha1/node-sandbox-report.ts';
import { kubeconfigConnection } from '../../kube/connection.ts';
import { KubeRest } from '../../kube/rest.ts';
import { fakeNode, metricSum, metricValue, nodeOwner, report, sandbox, startOperator } from '../support/operator.ts';
import { percentile } from '../support/stats.ts';
import { kubectl, loadTestbed, uniqueName } from '../support/testbed.ts';

const SIZES = (process.env['BENCH_OPERATOR_SIZES'] ?? '1000x30000').split(',').map((s) => s.split('x').map(Number) as [number, number]);
const LATENCY_SAMPLES = Number(process.env['BENCH_LATENCY_SAMPLES'] ?? 50);
const STEADY_SECONDS = Number(process.env['BENCH_STEADY_SECONDS'] ?? 30);
const PODS_PER_NAMESPACE = 1000;
const CONCURRENCY = 48;

const testbed = loadTestbed();
const api = new KubeRest(await kubeconfigConnection(testbed.kubeconfig), { timeoutMs: 120_000 });

const log = (line: string): void => {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
};
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

async function auditedCount(audit: string): Promise<number> {
  const a = await api.request<{ status?: { counts?: { audited?: number } } }>('GET', `/apis/rcaudit.dev/v1alpha1/runtimeclassaudits/${audit}`, {
    what: 'get audit',
  });
  return a.status?.counts?.audited ?? 0;
}

function rssMiB(pid: number): number {
  const line =
    readFileSync(`/proc/${String(pid)}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:')) ?? '';
  return Number(/(\d+)/.exec(line)?.[1] ?? NaN) / 1024;
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

type Operator = Awaited<ReturnType<typeof startOperator>>;
const writesOf = (text: string): number => ['PATCH', 'POST', 'PUT'].reduce((sum, verb) => sum + metricSum(text, 'rcaudit_api_requests_total', { verb }), 0);
const heapMiB = (text: string): number => (metricValue(text, 'nodejs_heap_size_used_bytes') ?? NaN) / 2 ** 20;

/** Starts the operator and waits for the audit to count every pod; prints where the time went. */
async function coldStart(audit: string, podCount: number): Promise<{ operator: Operator; ms: number }> {
  const t = performance.now();
  const operator = await startOperator(testbed, ['--no-leader-elect', '--resync', '60m']);
  while ((await auditedCount(audit)) < podCount) await sleep(250);
  const ms = performance.now() - t;
  log(`full audit from a cold start: ${(ms / 1000).toFixed(1)} s (${String(podCount)} pods audited)`);
  const time = (msg: string): number => Date.parse(new RegExp(`"time":"([^"]+)"[^\\n]*"msg":"${msg}"`).exec(operator.process.output())?.[1] ?? '');
  log(`  of which listing everything into the cache: ${((time('cache synced') - time('operator starting')) / 1000).toFixed(1)} s`);
  const text = await operator.metrics();
  log(`  writes so far: ${String(writesOf(text))} (report and audit status, events); V8 heap in use ${heapMiB(text).toFixed(0)} MiB`);
  return { operator, ms };
}

async function steadyRequestsPerSecond(operator: Operator): Promise<number> {
  // Let the first pass's events and status writes finish first.
  await sleep(10_000);
  const requests = async (): Promise<number> => metricSum(await operator.metrics(), 'rcaudit_api_requests_total');
  const before = await requests();
  await sleep(STEADY_SECONDS * 1000);
  return ((await requests()) - before) / STEADY_SECONDS;
}

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

async function benchSize(nodes: number, podCount: number): Promise<void> {
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
  const { operator, ms } = await coldStart(audit, podCount);
  const pid = operator.process.child.pid ?? 0;
  const steady = await steadyRequestsPerSecond(operator);
  log(`steady state: ${steady.toFixed(2)} API requests/s over ${String(STEADY_SECONDS)} s; RSS ${rssMiB(pid).toFixed(0)} MiB`);
  const latencies = await changeToEvent(byNode, mismatched);
  const [median, p99] = [percentile(latencies, 50), percentile(latencies, 99)];
  log(`report change -> Warning event: median ${median.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms over ${String(latencies.length)} changes`);
  const rss = rssMiB(pid);
  log(`RSS after the run: ${rss.toFixed(0)} MiB (V8 heap in use ${heapMiB(await operator.metrics()).toFixed(0)} MiB)`);
  process.stdout.write(
    `| ${String(nodes)} | ${String(podCount)} | ${(ms / 1000).toFixed(1)} s | ${median.toFixed(0)} / ${p99.toFixed(0)} ms | ${rss.toFixed(0)} MiB | ${steady.toFixed(2)} |\n`,
  );
  await operator.process.stop();
  await cleanUp(audit, cluster);
}

// A fresh testbed has no CRDs yet.
await kubectl(testbed, ['apply', '-f', 'charts/runtimeclass-audit/files/crds/']);
process.stdout.write(
  '| nodes | pods | full audit, cold start | report change -> event (median / p99) | operator RSS | API requests/s at steady state |\n|---|---|---|---|---|---|\n',
);
for (const [nodes, pods] of SIZES) await benchSize(nodes, pods);
