// Detection time on the real kubelet path, as users run the product: the
// chart installed on the testbed with its default agent interval, pods
// created through the API, started by the real kubelets and runtimes, their
// RuntimeClass's handler dropped on the way by the testbed's CRI proxy (the
// kuscia path: namespaces named broken-*). Per pod, the time from the pod
// turning Ready to its Warning event, both seen through watches here.
// Prints the median and p99 over BENCH_DETECTION_PODS pods (default 60),
// spread over every node. BENCH_AGENT_INTERVAL (e.g. 2s) overrides the
// chart's agent interval, to compare.
//   node test/bench/detection.bench.ts
import { kubeconfigConnection } from '../../kube/connection.ts';
import { KubeRest } from '../../kube/rest.ts';
import { MISMATCH_REASON } from '../../operator/judging/notices.ts';
import { helm, testbedImage, testbedValues, upgradeInstall } from '../support/chart.ts';
import { scopedAudit } from '../support/operator.ts';
import { pausePod } from '../support/pods.ts';
import { benchLog, percentile } from '../support/stats.ts';
import { kubectl, loadTestbed, uniqueName } from '../../hack/testbed/testbed.ts';

const PODS = Number(process.env['BENCH_DETECTION_PODS'] ?? 60);
const RELEASE = 'rcaudit-bench-det';
const testbed = loadTestbed();
const api = new KubeRest(await kubeconfigConnection(testbed.kubeconfig), { timeoutMs: 60_000 });
const id = uniqueName('det');
// The testbed's CRI proxy blanks the handler of every sandbox in a namespace named broken-*.
const ns = `broken-${id}`;

const log = benchLog;

/** When (performance.now()) each pod of `ns` was first seen Ready, and first seen with our Warning event, by pod uid. */
function watchPodsAndEvents(): { ready: Map<string, number>; flagged: Map<string, number>; stop: () => void } {
  const ready = new Map<string, number>();
  const flagged = new Map<string, number>();
  const controllers: Promise<AbortController>[] = [
    api.watch(
      `/api/v1/namespaces/${ns}/pods`,
      {},
      (_type, object) => {
        const pod = object as { metadata?: { uid?: string }; status?: { conditions?: { type: string; status: string }[] } };
        const uid = pod.metadata?.uid ?? '';
        const isReady = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
        if (isReady && !ready.has(uid)) ready.set(uid, performance.now());
      },
      () => undefined,
    ),
    api.watch(
      `/api/v1/namespaces/${ns}/events`,
      { fieldSelector: `reason=${MISMATCH_REASON}` },
      (_type, object) => {
        const uid = (object as { involvedObject?: { uid?: string } }).involvedObject?.uid ?? '';
        if (!flagged.has(uid)) flagged.set(uid, performance.now());
      },
      () => undefined,
    ),
  ];
  return {
    ready,
    flagged,
    stop: () => {
      for (const c of controllers)
        void c.then((controller) => {
          controller.abort();
        });
    },
  };
}

async function install(): Promise<void> {
  await upgradeInstall(testbed, RELEASE, {
    ...testbedValues(testbed),
    ...(await testbedImage(testbed)),
    'defaultAudit.enabled': false,
    ...(process.env['BENCH_AGENT_INTERVAL'] === undefined ? {} : { 'agent.interval': process.env['BENCH_AGENT_INTERVAL'] }),
  });
}

async function main(): Promise<void> {
  await install();
  log(`chart installed; agent interval as the chart's default`);
  await kubectl(testbed, ['create', 'namespace', ns]);
  await kubectl(testbed, ['label', 'namespace', ns, `rcaudit-test=${id}`]);
  await kubectl(testbed, ['apply', '-f', '-'], JSON.stringify(scopedAudit(`${id}-audit`, id)));
  const seen = watchPodsAndEvents();
  await new Promise((r) => setTimeout(r, 1000));
  const pods = Array.from({ length: PODS }, (_, i) => {
    const node = testbed.nodes[i % testbed.nodes.length];
    if (node === undefined) throw new Error('the testbed has no nodes');
    return pausePod(testbed, { namespace: ns, name: `p${String(i)}`, node, runtimeClassName: 'kata' });
  });
  await kubectl(testbed, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods }));
  log(`created ${String(PODS)} kata pods in ${ns}, spread over ${String(testbed.nodes.length)} nodes`);
  const deadline = Date.now() + 300_000;
  while ((seen.ready.size < PODS || seen.flagged.size < PODS) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  seen.stop();
  const missing = PODS - [...seen.ready.keys()].filter((uid) => seen.flagged.has(uid)).length;
  if (missing > 0) throw new Error(`${String(missing)} of ${String(PODS)} pods were not both Ready and flagged within 5 minutes`);
  const raw = [...seen.ready].map(([uid, at]) => (seen.flagged.get(uid) ?? NaN) - at);
  const early = raw.filter((ms) => ms < 0).length;
  // An event already there when the pod turned Ready (the sandbox is judged before its containers start) counts as 0.
  const latencies = raw.map((ms) => Math.max(0, ms)).sort((a, b) => a - b);
  log(`flagged before Ready: ${String(early)} of ${String(PODS)}; each, ms: ${raw.map((ms) => ms.toFixed(0)).join(' ')}`);
  process.stdout.write(
    `| pods | pod Ready -> Warning event, median | p99 | max |\n|---|---|---|---|\n| ${String(PODS)} | ${percentile(latencies, 50).toFixed(0)} ms | ${percentile(latencies, 99).toFixed(0)} ms | ${(latencies.at(-1) ?? NaN).toFixed(0)} ms |\n`,
  );
}

try {
  await main();
} finally {
  await kubectl(testbed, ['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']);
  await kubectl(testbed, ['delete', 'runtimeclassaudit', `${id}-audit`, '--ignore-not-found']);
  await helm(['uninstall', RELEASE, '-n', RELEASE, '--ignore-not-found', '--wait'], { KUBECONFIG: testbed.kubeconfig }).catch(() => undefined);
  await kubectl(testbed, ['delete', 'namespace', RELEASE, '--ignore-not-found', '--timeout=180s']);
}
