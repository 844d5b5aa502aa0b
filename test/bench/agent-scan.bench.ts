// The agent's cost on a real node, at 10, 100 and 250 sandboxes on the
// testbed's containerd (real pods through the real kubelet):
// - CRI RPCs per steady-state scan (must be 1) and scan latency (median, p99),
//   side by side with the naive agent (verbose status for every sandbox on
//   every scan) as the ratio to beat;
// - API writes at steady state (must be 0), from the real agent loop writing
//   through the real API server;
// - the first scan's cost with and without isolation evidence (one walk of
//   /proc for all new sandboxes), and steady-state scans with evidence (no
//   /proc walk: the same as without);
// - the agent's RSS a minute after start at 10; at 250, its RSS at minute 5
//   (or halfway through a shorter soak) and after BENCH_SOAK_SECONDS (default
//   600) and its CPU in between, with the chart's defaults; then, for
//   comparison, without isolation evidence and without V8's lite mode, each
//   for at most BENCH_COMPARE_SECONDS (default 600): the chart's agent pod,
//   as users run it, read from the host's /proc.
//   node test/bench/agent-scan.bench.ts
import { pino } from 'pino';
import { NodeAgent } from '../../agent/agent.ts';
import { CriRuntimeClient } from '../../agent/cri/runtime-client.ts';
import { AgentMetrics } from '../../agent/metrics.ts';
import { ReportWriter } from '../../agent/report-writer.ts';
import { kubeconfigConnection } from '../../kube/connection.ts';
import { KubeRest } from '../../kube/rest.ts';
import { SandboxScanner } from '../../agent/scanner.ts';
import { ProcEvidence } from '../../agent/evidence/proc.ts';
import type { NodeSandboxReportSpec } from '../../api/v1alpha1/node-sandbox-report.ts';
import { runPausePods } from '../support/pods.ts';
import { chartProcessPid, cpuSeconds, helm, testbedImage, rssMiB, testbedValues, upgradeInstall } from '../support/chart.ts';
import { percentile } from '../support/stats.ts';
import { createNamespace, kubectl, loadTestbed, testbedNode, uniqueName } from '../../hack/testbed/testbed.ts';

const SIZES = [10, 100, 250];
const SCANS = 100;
const STEADY_SECONDS = Number(process.env['BENCH_STEADY_SECONDS'] ?? 30);
const SOAK_SECONDS = Number(process.env['BENCH_SOAK_SECONDS'] ?? 600);
const COMPARE_SECONDS = Number(process.env['BENCH_COMPARE_SECONDS'] ?? 600);

const BENCH_RELEASE = 'rcaudit-bench';
const testbed = loadTestbed();
const node = testbedNode(testbed, 0);
const ns = uniqueName('bench-agent');

async function timeScans(scan: () => Promise<void>, rpcs: () => number): Promise<{ median: number; p99: number; rpcsPerScan: number }> {
  await scan(); // warm: the first scan fills caches
  const before = rpcs();
  const ms: number[] = [];
  for (let i = 0; i < SCANS; i++) {
    const t = performance.now();
    await scan();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return { median: percentile(ms, 50), p99: percentile(ms, 99), rpcsPerScan: (rpcs() - before) / SCANS };
}

type Timing = Awaited<ReturnType<typeof timeScans>>;

/** A new scanner's first scan (every sandbox new), in ms. */
async function firstScan(cri: CriRuntimeClient, withEvidence: boolean): Promise<number> {
  const scanner = new SandboxScanner(cri, withEvidence ? { evidence: new ProcEvidence('/proc') } : {});
  const t = performance.now();
  await scanner.scan();
  return performance.now() - t;
}

async function measureScans(): Promise<{ ours: Timing; withEvidence: Timing; naive: Timing; first: { without: number; with: number } }> {
  let calls = 0;
  const cri = new CriRuntimeClient(node.criEndpoint, {
    onCall: () => {
      calls++;
    },
  });
  try {
    const first = { without: await firstScan(cri, false), with: await firstScan(cri, true) };
    const scanner = new SandboxScanner(cri);
    const ours = await timeScans(
      async () => {
        await scanner.scan();
      },
      () => calls,
    );
    const evidenced = new SandboxScanner(cri, { evidence: new ProcEvidence('/proc') });
    const withEvidence = await timeScans(
      async () => {
        await evidenced.scan();
      },
      () => calls,
    );
    const naive = await timeScans(
      async () => {
        const { items } = await cri.listPodSandbox();
        for (const s of items) await cri.podSandboxStatus(s.id, true);
      },
      () => calls,
    );
    return { ours, withEvidence, naive, first };
  } finally {
    cri.close();
  }
}

/** The real loop, writing through the real API server, for STEADY_SECONDS after its first write. */
async function steadyWrites(): Promise<number> {
  const writer = new ReportWriter(new KubeRest(await kubeconfigConnection(testbed.kubeconfig)), node.name);
  let writes = 0;
  const sink = {
    write: async (spec: NodeSandboxReportSpec) => {
      const outcome = await writer.write(spec);
      if (outcome !== 'unchanged') writes++;
      return outcome;
    },
  };
  const cri = new CriRuntimeClient(node.criEndpoint);
  const agent = new NodeAgent(
    { nodeName: node.name, agentVersion: 'bench', intervalMs: 2000, resyncMs: 300_000, runtimeRefreshMs: 300_000 },
    { connect: () => ({ cri, endpoint: node.criEndpoint }), sink, log: pino({ level: 'silent' }), metrics: new AgentMetrics() },
  );
  await agent.tick();
  writes = 0;
  agent.start();
  await new Promise((r) => setTimeout(r, STEADY_SECONDS * 1000));
  await agent.stop();
  cri.close();
  return writes;
}

/** The host pid of the agent in the chart's agent pod on `node`. */
async function chartAgentPid(): Promise<number> {
  const uid = (
    await kubectl(testbed, [
      'get',
      'pods',
      '-n',
      BENCH_RELEASE,
      '-l',
      'app.kubernetes.io/component=agent',
      '--field-selector',
      `spec.nodeName=${node.name}`,
      '-o',
      'jsonpath={.items[0].metadata.uid}',
    ])
  ).trim();
  return chartProcessPid(uid, 'agent/main.');
}

const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, s * 1000));

interface Variant {
  isolationEvidence: boolean;
  liteMode: boolean;
}
const describeVariant = (v: Variant): string => `isolation evidence ${v.isolationEvidence ? 'on' : 'off'}, lite mode ${v.liteMode ? 'on' : 'off'}`;

/** The chart installed with `variant` (the image, in a pod, in-cluster credentials, the chart's flags); its agent's host pid on `node`. */
async function installChartAgent(variant: Variant): Promise<number> {
  const values = {
    ...testbedValues(testbed),
    ...(await testbedImage(testbed)),
    'operator.replicas': 1,
    'defaultAudit.enabled': false,
    'agent.isolationEvidence': variant.isolationEvidence,
    'agent.liteMode': variant.liteMode,
  };
  await upgradeInstall(testbed, BENCH_RELEASE, values, '240s');
  await kubectl(testbed, ['rollout', 'status', '-n', BENCH_RELEASE, `daemonset/${BENCH_RELEASE}-runtimeclass-audit-agent`, '--timeout=240s']);
  return chartAgentPid();
}

/**
 * The chart's agent: its RSS at minute 5 (or at the end of a shorter soak)
 * and after SOAK_SECONDS, and the CPU it used per minute in between.
 */
async function soakChartAgent(variant: Variant, seconds: number): Promise<{ at5: number; end: number; cpuPerMinute: number }> {
  const pid = await installChartAgent(variant);
  const first = Math.min(300, seconds / 2);
  await sleep(first);
  const [at5, cpu5] = [rssMiB(pid), cpuSeconds(pid)];
  await sleep(seconds - first);
  if (pid !== (await chartAgentPid())) throw new Error('the agent restarted during the soak');
  const cpuPerMinute = ((cpuSeconds(pid) - cpu5) / (seconds - first)) * 60;
  return { at5, end: rssMiB(pid), cpuPerMinute };
}

/** The chart's agent (lite mode, evidence on) a minute after it starts, on the node as it is now. */
async function shortChartAgent(): Promise<number> {
  const pid = await installChartAgent({ isolationEvidence: true, liteMode: true });
  await sleep(60);
  const rss = rssMiB(pid);
  await helm(['uninstall', BENCH_RELEASE, '-n', BENCH_RELEASE, '--wait'], { KUBECONFIG: testbed.kubeconfig });
  return rss;
}

const f = (n: number): string => n.toFixed(2);

await kubectl(testbed, ['apply', '-f', 'charts/runtimeclass-audit/files/crds/']);
await createNamespace(testbed, ns);
try {
  process.stdout.write(
    `agent scan benchmark on ${node.name} (containerd via CRI), ${String(SCANS)} scans per size, steady state ${String(STEADY_SECONDS)} s\n`,
  );
  process.stdout.write(
    'sandboxes | ours: RPCs/scan  median ms  p99 ms | with evidence: median ms  p99 ms | naive: RPCs/scan  median ms  p99 ms | naive/ours median | first scan ms: without, with evidence | API writes in steady state\n',
  );
  let have = 0;
  for (const size of SIZES) {
    // The node's own sandboxes (other pods) count too; these are the ones we add.
    await runPausePods(testbed, node, ns, { prefix: 'p', from: have, to: size });
    have = size;
    if (SOAK_SECONDS > 0 && size === SIZES[0]) {
      const rss = await shortChartAgent();
      process.stdout.write(
        `chart agent pod RSS at ${String(size)} added sandboxes, a minute after start (isolation evidence on, lite mode on): ${f(rss)} MiB\n`,
      );
    }
    const { ours, withEvidence, naive, first } = await measureScans();
    const writes = await steadyWrites();
    process.stdout.write(
      `${String(size).padStart(9)} | ${f(ours.rpcsPerScan).padStart(14)}  ${f(ours.median).padStart(9)}  ${f(ours.p99).padStart(6)} | ${f(withEvidence.median).padStart(24)}  ${f(withEvidence.p99).padStart(6)} | ${f(naive.rpcsPerScan).padStart(15)}  ${f(naive.median).padStart(9)}  ${f(naive.p99).padStart(6)} | ${f(naive.median / ours.median).padStart(17)} | ${f(first.without).padStart(22)}, ${f(first.with)} | ${String(writes)} in ${String(STEADY_SECONDS)} s (${String(Math.round((writes * 3600) / STEADY_SECONDS))}/h)\n`,
    );
  }
  if (SOAK_SECONDS > 0) {
    const variants: Variant[] = [
      { isolationEvidence: true, liteMode: true },
      { isolationEvidence: false, liteMode: true },
      { isolationEvidence: true, liteMode: false },
    ];
    for (const [i, variant] of variants.entries()) {
      // The chart's defaults soak the whole time; the others, for comparison, at most COMPARE_SECONDS.
      const seconds = i === 0 ? SOAK_SECONDS : Math.min(SOAK_SECONDS, COMPARE_SECONDS);
      const { at5, end, cpuPerMinute } = await soakChartAgent(variant, seconds);
      const first = Math.min(300, seconds / 2);
      process.stdout.write(
        `chart agent pod at ${String(have)} added sandboxes, ${describeVariant(variant)}: RSS ${f(at5)} MiB at ${String(first)} s, ${f(end)} MiB at ${String(seconds)} s (${f(((end - at5) / at5) * 100)}% growth); CPU ${f(cpuPerMinute)} s per minute in between\n`,
      );
    }
  }
} finally {
  await helm(['uninstall', BENCH_RELEASE, '-n', BENCH_RELEASE, '--ignore-not-found', '--wait'], { KUBECONFIG: testbed.kubeconfig }).catch(() => undefined);
  await kubectl(testbed, ['delete', 'namespace', ns, BENCH_RELEASE, '--ignore-not-found', '--wait=false']);
}
