// `helm install` for real, on the testbed: the product image built without
// Docker (hack/image.sh) and published with the chart to the testbed's
// registry (hack/release.sh), the chart installed from there (oci://), agents as a DaemonSet on every node and
// the operator as a Deployment, real pods on the honest and broken handler
// paths (kata as runc, gVisor for real, on containerd 2.x and 1.7 and CRI-O), a real Prometheus scraping what the ServiceMonitors select
// (HTTPS, with a service account token bound to the chart's metrics-reader role) and evaluating the PrometheusRule, then `helm upgrade`
// (and one to a certificate from a Secret, which a verifying Prometheus checks) and `helm uninstall`.
// It needs the testbed to itself: hack/test.sh uninstalls any release of the
// chart before the tiers run, and this test deletes the CRDs (with every
// report and audit) so that its install creates them.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { selfSignedCertificate } from '../../observability/self-signed.ts';
import {
  CHART,
  CRDS,
  helm,
  installNames,
  type Manifest,
  type Published,
  publishToTestbed,
  RECURSIVE_READ_ONLY_MINOR,
  render,
  REPORT_POLICY_MINOR,
  testbedValues,
  toolDir,
  valueArgs,
} from '../support/chart.ts';
import { auditStatus, podEvents, reportedSandbox, reportStatus, scopedAudit } from '../support/operator.ts';
import { applyPod, pausePod } from '../support/pods.ts';
import { storedReport } from '../support/reports.ts';
import { resolveTargets, startPrometheus, type RunningPrometheus, type ServiceMonitorSpec } from '../support/prometheus.ts';
import { scrape, strangerToken } from '../support/scrape.ts';
import {
  applyObjects,
  createNamespace,
  eventually,
  kubectl,
  kubernetesMinor,
  loadTestbed,
  staticPodDir,
  testbedNode,
  vmmImage,
  type TestbedNode,
} from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const minor = kubernetesMinor(testbed);
const [honestNode, kusciaNode, crioNode] = [testbedNode(testbed, 0), testbedNode(testbed, 1), testbedNode(testbed, 2)];
const { id, system, agentNs, honestNs, brokenNs, audit } = installNames('chart');
const release = 'rcaudit';
const [gvisorNs, gvisorBrokenNs, runtimesAudit] = [`${id}-gvisor`, `broken-${id}-gvisor`, `${id}-runtimes`];
const fullname = `${release}-runtimeclass-audit`;
/** The Prometheus pod's token file, as the ServiceMonitor's bearerTokenFile would be mounted. */
const prometheusToken = join(mkdtempSync(join(tmpdir(), 'rca-chart-')), 'token');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const k = (args: string[], input?: string): Promise<string> => kubectl(testbed, args, input);
const helmK = (args: string[]): Promise<string> => helm(args, { KUBECONFIG: testbed.kubeconfig });
// Installed as users install: published to the testbed's registry (hack/release.sh), pulled from there.
const installValues = {
  ...testbedValues(testbed),
  'image.registry': `${testbed.registry}/${id}`,
  'image.pullPolicy': 'IfNotPresent',
  'agent.namespace': { name: agentNs, create: true },
  'agent.interval': '1s',
  'operator.replicas': 2,
  'metrics.serviceMonitor.enabled': true,
  'metrics.prometheusRule.enabled': true,
  // The Prometheus of the test scrapes as this account, bound by the chart to its metrics-reader ClusterRole.
  'metrics.readers': [{ kind: 'ServiceAccount', name: 'prometheus', namespace: system }],
  // Not enforced by the testbed's bridge network plugin: the API server's addresses are read at install, and checked below.
  'networkPolicy.enabled': true,
  'grafana.dashboard.enabled': true,
};
/** `helm template` cannot read the cluster, so where the chart is rendered here the API server's address is given. */
const renderedValues = { ...installValues, 'networkPolicy.apiServer': { cidrs: ['10.0.0.1/32'], ports: [6443] } };

interface PodView {
  metadata: { name: string };
  spec: { nodeName: string; containers: { args: string[] }[] };
  status: { podIP?: string; conditions?: { type: string; status: string }[] };
}
const ready = (p: PodView): boolean => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
async function pods(namespace: string, component: string): Promise<PodView[]> {
  const out = await k(['get', 'pods', '-n', namespace, '-l', `app.kubernetes.io/instance=${release},app.kubernetes.io/component=${component}`, '-o', 'json']);
  return (JSON.parse(out) as { items: PodView[] }).items;
}
const asPod = (workload: Manifest, namespace: string, name: string): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: { ...(workload['spec'] as { template: { spec: object } }).template.spec, serviceAccountName: 'default' },
  });

/** After an upgrade: the new operator keeps the first finding (same since), adopts its event series, and flags a new pod. */
/**
 * The CA file for each ServiceMonitor's job, as the Prometheus Operator would
 * hand it to Prometheus: read from the Secret its tlsConfig names, in its namespace.
 */
async function caFilesOf(
  monitors: { metadata: { name: string; namespace: string }; spec: ServiceMonitorSpec }[],
): Promise<(secret: { name: string; key: string }, job: string) => string> {
  const dir = mkdtempSync(join(tmpdir(), 'rca-ca-'));
  const files = new Map<string, string>();
  for (const m of monitors) {
    const secret = m.spec.endpoints[0]?.tlsConfig?.ca?.secret ?? assert.fail(`${m.metadata.name} names no CA`);
    const file = join(dir, `${m.metadata.namespace}-${secret.name}.crt`);
    const data = await k(['get', 'secret', secret.name, '-n', m.metadata.namespace, '-o', `jsonpath={.data.${secret.key.replace(/\./g, '\\.')}}`]);
    writeFileSync(file, Buffer.from(data, 'base64'));
    files.set(m.metadata.name, file);
  }
  return (_secret, job) => files.get(job) ?? assert.fail(`no CA read for ${job}`);
}

async function stillFlagging(since: string): Promise<void> {
  await applyPod(testbed, { namespace: brokenNs, name: 'vault-2', node: honestNode, runtimeClassName: 'kata' });
  await k(['wait', '-n', brokenNs, '--for=condition=Ready', '--timeout=120s', 'pod/vault-2']);
  await eventually(async () => {
    assert.equal((await podEvents(testbed, brokenNs, 'vault-2', 'RuntimeHandlerMismatch')).length, 1);
    const s = await auditStatus(testbed, audit);
    assert.deepEqual([s?.counts?.['audited'], s?.counts?.['mismatched']], [3, 2]);
    assert.equal(s?.mismatches?.find((m) => m.pod === 'vault')?.since, since, 'the first finding keeps its time');
  }, 60_000);
  assert.equal((await podEvents(testbed, brokenNs, 'vault', 'RuntimeHandlerMismatch')).length, 1, 'no second event for the first pod');
}

/** The host's evidence each pod's sandbox got, as its node's report holds it: [pod, class, process, host processes (runsc's are its own), confirmation]. */
async function evidenceOf(namespace: string, cases: readonly { pod: string; node: TestbedNode }[]): Promise<unknown[][]> {
  const rows = [];
  for (const c of cases) {
    const e = (await reportedSandbox(testbed, c.node.name, namespace, c.pod))?.evidence;
    rows.push([c.pod, e?.class, e?.process, e?.class === 'gvisor' ? 'runsc only' : e?.hostProcesses, e?.confirmation]);
  }
  return rows;
}

/** The dashboard's queries, with its variables set to "any job" and a 1m rate window. */
function dashboardQueries(): { panel: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(join(CHART, 'files', 'dashboards', 'runtimeclass-audit.json'), 'utf8')) as {
    panels: { title: string; targets?: { expr: string }[] }[];
  };
  const expand = (expr: string): string => expr.replaceAll('$operator_job', '.+').replaceAll('$agent_job', '.+').replaceAll('$__rate_interval', '1m');
  return dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((t) => ({ panel: panel.title, expr: expand(t.expr) })));
}

describe('helm install, for real: chart, image, alerts', () => {
  let prometheus: RunningPrometheus | undefined;
  let published: Published | undefined;
  /** The published chart, as `helm install` and `helm upgrade` take it. */
  const fromRegistry = (): string[] => {
    assert.ok(published, 'published in before()');
    return [published.chartRef, '--version', published.version, '--plain-http'];
  };
  /** helm upgrade of the release with its values and one more (`--set`). */
  const upgradeReusing = (set: string, ...flags: string[]): Promise<string> =>
    helmK(['upgrade', release, ...fromRegistry(), '-n', system, '--reuse-values', '--set', set, ...flags]);

  before(async () => {
    await k(['delete', 'crd', ...CRDS, '--ignore-not-found', '--wait=true']);
    published = await publishToTestbed(testbed, id);
    const monitoring = toolDir('monitoring-crds');
    await k(['apply', '--server-side', '-f', join(monitoring, 'servicemonitors.yaml'), '-f', join(monitoring, 'prometheusrules.yaml')]);
    await k(['wait', '--for=condition=Established', '--timeout=60s', 'crd/servicemonitors.monitoring.coreos.com', 'crd/prometheusrules.monitoring.coreos.com']);
    await createNamespace(testbed, honestNs);
    await createNamespace(testbed, brokenNs);
  });

  after(async () => {
    await prometheus?.stop();
    await helmK(['uninstall', release, '-n', system, '--ignore-not-found', '--wait', '--timeout', '120s']).catch(() => undefined);
    await k(['delete', 'runtimeclassaudit', 'cluster', audit, runtimesAudit, '--ignore-not-found']).catch(() => undefined);
    await k([
      'delete',
      'namespace',
      honestNs,
      brokenNs,
      gvisorNs,
      gvisorBrokenNs,
      system,
      agentNs,
      `${id}-restricted`,
      `${id}-baseline`,
      `${id}-privileged`,
      '--ignore-not-found',
      '--wait=false',
    ]);
  });

  test("every rendered manifest passes the API server's own validation (server-side dry run, unknown fields refused)", async () => {
    await k(['create', 'namespace', system]);
    // Dry runs create nothing, so objects cannot land in a namespace the same run "creates": the agent's goes in the release namespace here.
    const objects = await render({ ...renderedValues, 'agent.namespace': { name: system, create: false } }, { release, namespace: system });
    const namespaceObject = (await render(renderedValues, { release, namespace: system })).filter((o) => o.kind === 'Namespace');
    const all = [...objects, ...namespaceObject];
    assert.ok(all.length >= 20, `${String(all.length)} objects`);
    const out = await k(['apply', '--dry-run=server', '--validate=strict', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: all }));
    assert.equal(
      out
        .trim()
        .split('\n')
        .filter((line) => line.endsWith('(server dry run)')).length,
      all.length,
      out,
    );
  });

  test('Pod Security: the operator\'s pod passes "restricted"; the agent\'s fails "baseline" for its read-only host mounts alone', async () => {
    const objects = await render(renderedValues, { release, namespace: system });
    const deployment = objects.find((o) => o.kind === 'Deployment');
    const daemonSet = objects.find((o) => o.kind === 'DaemonSet');
    assert.ok(deployment && daemonSet);
    for (const level of ['restricted', 'baseline', 'privileged']) {
      await createNamespace(testbed, `${id}-${level}`);
      await k(['label', 'namespace', `${id}-${level}`, `pod-security.kubernetes.io/enforce=${level}`]);
    }
    const dryRun = (pod: string): Promise<string> => k(['create', '--dry-run=server', '-f', '-'], pod);
    await dryRun(asPod(deployment, `${id}-restricted`, 'operator'));
    await assert.rejects(dryRun(asPod(daemonSet, `${id}-baseline`, 'agent')), (err: Error) =>
      /violates PodSecurity "baseline:latest": hostPath volumes \(volumes "cri-socket-dir", "host-proc", "kata-go-runtime-state", "kata-runtime-rs-state"\)\s*$/.test(
        (err as { stderr?: string }).stderr ?? '',
      ),
    );
    await dryRun(asPod(daemonSet, `${id}-privileged`, 'agent'));
  });

  test("helm install: an agent Ready on every node, the operator's two replicas Ready and one leading, the default audit created", async () => {
    const out = await helmK(['install', release, ...fromRegistry(), '-n', system, '--wait', '--timeout', '240s', ...valueArgs(installValues)]);
    assert.match(out, /STATUS: deployed/);
    assert.match(out, /kubectl get audits/, 'NOTES.txt says how to see results');
    assert.match(out, new RegExp(`ClusterRole ${fullname}-metrics-reader\\s+\\(metrics\\.readers binds 1 subject\\(s\\)\\)`), 'and who may scrape');
    assert.match(out, /Scrapers verify the certificates the chart issued/);
    assert.doesNotMatch(out, /WARNING/);
    // What the notes say to whoever turns verification off (a server-side dry run of that upgrade: nothing changes).
    const unverified = await upgradeReusing('metrics.tls.insecureSkipVerify=true', '--dry-run=server');
    assert.match(
      unverified,
      /WARNING: metrics\.tls\.insecureSkipVerify=true\. The ServiceMonitors do not\s+verify/,
      'opting out of verification is warned about',
    );
    // helm --wait may let a DaemonSet through before every pod is Ready.
    await eventually(async () => {
      const agents = await pods(agentNs, 'agent');
      assert.deepEqual(agents.map((p) => p.spec.nodeName).sort(), testbed.nodes.map((n) => n.name).sort());
      assert.ok(agents.every(ready), 'every agent Ready');
    }, 60_000);
    const operators = await pods(system, 'operator');
    assert.equal(operators.filter(ready).length, 2);
    const holder = await eventually(async () => {
      const h = await k(['get', 'lease', `${fullname}-operator`, '-n', system, '-o', 'jsonpath={.spec.holderIdentity}']);
      assert.ok(
        operators.some((p) => h.startsWith(`${p.metadata.name}_`)),
        `holder ${h}`,
      );
      return h;
    }, 30_000);
    assert.ok(holder);
    await eventually(() => k(['get', 'runtimeclassaudit', 'cluster']), 30_000);
    // Our own audit, scoped to this test's namespaces, for exact counts.
    await k(['label', 'namespace', honestNs, brokenNs, `rcaudit-test=${id}`]);
    await k(['apply', '-f', '-'], JSON.stringify(scopedAudit(audit, id)));
  });

  test("the agent's host mounts are recursively read-only wherever the node's kubelet and runtime can, and plainly read-only elsewhere", async () => {
    if (minor < RECURSIVE_READ_ONLY_MINOR) {
      // Before 1.31 the field is alpha, off unless the cluster turns its gate on: the API server drops it
      // from the agent's spec, the kubelet lists no runtime handler's features, and the mounts are plainly
      // read-only, as the chart's README says.
      const agents = (
        JSON.parse(await k(['get', 'pods', '-n', agentNs, '-l', 'app.kubernetes.io/component=agent', '-o', 'json'])) as {
          items: { spec: { containers: { volumeMounts: { name: string; readOnly?: boolean; recursiveReadOnly?: string }[] }[] } }[];
        }
      ).items;
      assert.equal(agents.length, testbed.nodes.length);
      for (const agent of agents) {
        const mounts = (agent.spec.containers[0]?.volumeMounts ?? []).filter((m) => m.name === 'cri-socket-dir' || m.name === 'host-proc');
        assert.deepEqual(
          mounts.map((m) => [m.name, m.readOnly, m.recursiveReadOnly]),
          [
            ['cri-socket-dir', true, undefined],
            ['host-proc', true, undefined],
          ],
        );
      }
      return;
    }
    interface NodeJson {
      metadata: { name: string };
      status: { runtimeHandlers?: { name: string; features?: { recursiveReadOnlyMounts?: boolean } }[] };
    }
    interface PodJson {
      spec: { nodeName: string };
      status: { containerStatuses?: { volumeMounts?: { name: string; readOnly?: boolean; recursiveReadOnly?: string }[] }[] };
    }
    const nodes = (JSON.parse(await k(['get', 'nodes', '-o', 'json'])) as { items: NodeJson[] }).items;
    // What each node's kubelet says its runtime can do, for the default handler.
    const can = new Map(nodes.map((n) => [n.metadata.name, n.status.runtimeHandlers?.find((h) => h.name === '')?.features?.recursiveReadOnlyMounts === true]));
    assert.ok([...can.values()].some(Boolean), 'some runtime here can (containerd 2, CRI-O): the test would otherwise prove nothing');
    const agents = (JSON.parse(await k(['get', 'pods', '-n', agentNs, '-l', 'app.kubernetes.io/component=agent', '-o', 'json'])) as { items: PodJson[] }).items;
    for (const agent of agents) {
      const mounts = (agent.status.containerStatuses?.[0]?.volumeMounts ?? []).filter((m) => m.name === 'cri-socket-dir' || m.name === 'host-proc');
      assert.deepEqual(
        mounts.map((m) => [m.name, m.readOnly, m.recursiveReadOnly]),
        ['cri-socket-dir', 'host-proc'].map((name) => [name, true, can.get(agent.spec.nodeName) === true ? 'Enabled' : 'Disabled']),
        agent.spec.nodeName,
      );
    }
  });

  test('networkPolicy.enabled: each process reachable only on its metrics port from the monitoring namespace and the API server, reaching only the API server, whose addresses the install read from the cluster', async () => {
    const service = JSON.parse(await k(['get', 'service', 'kubernetes', '-n', 'default', '-o', 'json'])) as { spec: { clusterIP: string } };
    const slice = JSON.parse(await k(['get', 'endpointslice', 'kubernetes', '-n', 'default', '-o', 'json'])) as {
      endpoints: { addresses: string[] }[];
      ports: { port: number }[];
    };
    const apiServer = [`${service.spec.clusterIP}/32`, ...slice.endpoints.flatMap((e) => e.addresses.map((a) => `${a}/32`))];
    interface Peer {
      ipBlock?: { cidr: string };
      namespaceSelector?: { matchLabels: Record<string, string> };
    }
    interface PolicyView {
      spec: {
        podSelector: { matchLabels: Record<string, string> };
        policyTypes: string[];
        ingress: { from: Peer[]; ports: { port: string | number }[] }[];
        egress: { to: Peer[]; ports: { port: number }[] }[];
      };
    }
    for (const [component, namespace] of [
      ['operator', system],
      ['agent', agentNs],
    ] as const) {
      const policy = JSON.parse(await k(['get', 'networkpolicy', `${fullname}-${component}`, '-n', namespace, '-o', 'json'])) as PolicyView;
      assert.equal(policy.spec.podSelector.matchLabels['app.kubernetes.io/component'], component);
      assert.deepEqual(policy.spec.policyTypes, ['Ingress', 'Egress']);
      assert.deepEqual(
        policy.spec.ingress.map((rule) => [
          rule.from.map((p) => p.ipBlock?.cidr ?? p.namespaceSelector?.matchLabels['kubernetes.io/metadata.name']),
          rule.ports.map((p) => p.port),
        ]),
        [[['monitoring', ...apiServer], ['metrics']]],
      );
      assert.deepEqual(
        policy.spec.egress.map((rule) => [rule.to.map((p) => p.ipBlock?.cidr), rule.ports.map((p) => p.port)]),
        [[apiServer, [443, ...slice.ports.map((p) => p.port)]]],
      );
    }
  });

  test('pods meant for kata: flagged on the broken path, matched on the honest one (but for its isolation, by the default audit)', async () => {
    await applyPod(testbed, { namespace: honestNs, name: 'vault', node: honestNode, runtimeClassName: 'kata' });
    await applyPod(testbed, { namespace: brokenNs, name: 'vault', node: honestNode, runtimeClassName: 'kata' });
    await k(['wait', '-n', honestNs, '--for=condition=Ready', '--timeout=120s', 'pod/vault']);
    await k(['wait', '-n', brokenNs, '--for=condition=Ready', '--timeout=120s', 'pod/vault']);
    const [event] = await eventually(async () => {
      const events = await podEvents(testbed, brokenNs, 'vault', 'RuntimeHandlerMismatch');
      assert.equal(events.length, 1);
      return events;
    }, 60_000);
    assert.match(event?.message ?? '', /RuntimeClass kata expects handler kata, but the pod runs with runc/);
    // The honest one got handler kata, which this test's audit asks and no more; the default audit also
    // asks what kata promises, a VM, and the host shows runc's pause process: flagged for that alone.
    const [honest] = await eventually(async () => {
      const events = await podEvents(testbed, honestNs, 'vault', 'RuntimeHandlerMismatch');
      assert.equal(events.length, 1);
      return events;
    }, 60_000);
    assert.match(honest?.message ?? '', /^audit cluster expects isolation vm for handler kata, but the host shows the pod's sandbox is host-kernel/);
    await eventually(async () => {
      const s = await auditStatus(testbed, audit);
      assert.deepEqual([s?.counts?.['audited'], s?.counts?.['matched'], s?.counts?.['mismatched']], [2, 1, 1], JSON.stringify(s?.counts));
    }, 30_000);
    const row = (await k(['get', 'audits', audit, '--no-headers'])).trim().split(/\s+/);
    assert.deepEqual(row.slice(1, 3), ['2', '1'], 'kubectl get audits: audited, mismatched');
    // Each audit is summed on its own (debounced): the default audit's status may come a moment after this test's.
    await eventually(async () => {
      const cluster = await auditStatus(testbed, 'cluster');
      assert.ok(
        cluster?.mismatches?.some((m) => m.namespace === brokenNs && m.pod === 'vault'),
        'the default audit flags it too',
      );
    }, 30_000);
  });

  test('gVisor for real, and the host\'s evidence: a gVisor sandbox Matched, "kata" that is runc Mismatched for its isolation (on CRI-O too), dropped handlers Mismatched', async () => {
    for (const ns of [gvisorNs, gvisorBrokenNs]) {
      await createNamespace(testbed, ns);
      await k(['label', 'namespace', ns, `rcaudit-runtimes=${id}`]);
    }
    await k(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'rcaudit.dev/v1alpha1',
        kind: 'RuntimeClassAudit',
        metadata: { name: runtimesAudit },
        spec: {
          namespaceSelector: { matchLabels: { 'rcaudit-runtimes': id } },
          expectedRuntimeTypes: { gvisor: 'io.containerd.runsc.v1' },
          expectedIsolation: { gvisor: 'gvisor', kata: 'vm' },
        },
      }),
    );
    // [verdict, reason, actual handler, actual runtime type, the host's evidence]
    const cases = [
      {
        namespace: gvisorNs,
        name: 'sandboxed',
        node: honestNode,
        runtimeClassName: 'gvisor',
        want: ['Matched', 'Matched', 'gvisor', 'io.containerd.runsc.v1', 'gvisor'],
      },
      {
        namespace: gvisorNs,
        name: 'not-a-vm',
        node: honestNode,
        runtimeClassName: 'kata',
        want: ['Mismatched', 'IsolationMismatch', 'kata', 'io.containerd.runc.v2', 'host-kernel'],
      },
      {
        namespace: gvisorBrokenNs,
        name: 'sandboxed',
        node: honestNode,
        runtimeClassName: 'gvisor',
        want: ['Mismatched', 'HandlerMismatch', 'runc', 'io.containerd.runc.v2', 'host-kernel'],
      },
      {
        namespace: gvisorNs,
        name: 'on-kuscia',
        node: kusciaNode,
        runtimeClassName: 'gvisor',
        want: ['Mismatched', 'HandlerMismatch', 'runc', 'io.containerd.runc.v2', 'host-kernel'],
      },
      // CRI-O says "oci" for runc and runsc alike: only the host's evidence tells.
      { namespace: gvisorNs, name: 'vault', node: crioNode, runtimeClassName: 'kata', want: ['Mismatched', 'IsolationMismatch', 'kata', 'oci', 'host-kernel'] },
      // No pid for a sandbox whose infra container CRI-O dropped: its container's process is judged instead.
      {
        namespace: gvisorBrokenNs,
        name: 'vault',
        node: crioNode,
        runtimeClassName: 'kata',
        want: ['Mismatched', 'HandlerMismatch', 'runc', 'oci', 'host-kernel'],
      },
    ];
    for (const c of cases) await applyPod(testbed, c);
    for (const c of cases) await k(['wait', '-n', c.namespace, '--for=condition=Ready', '--timeout=120s', `pod/${c.name}`]);
    await eventually(async () => {
      const seen = [];
      for (const c of cases) {
        const entry = (await reportStatus(testbed, c.node.name))?.audits
          ?.find((a) => a.name === runtimesAudit)
          ?.pods.find((p) => p.namespace === c.namespace && p.name === c.name);
        seen.push([`${c.namespace}/${c.name}`, entry?.verdict, entry?.reason, entry?.actualHandler, entry?.actualRuntimeType, entry?.actualIsolation]);
      }
      assert.deepEqual(
        seen,
        cases.map((c) => [`${c.namespace}/${c.name}`, ...c.want]),
      );
    }, 60_000);
    const [event] = await podEvents(testbed, gvisorNs, 'vault', 'RuntimeHandlerMismatch');
    assert.match(
      event?.message ?? '',
      new RegExp(
        `audit ${runtimesAudit} expects isolation vm for handler kata, but the host shows the pod's sandbox is host-kernel \\(handler kata \\(oci\\)\\) \\(IsolationMismatch\\)`,
      ),
    );
    // The sandbox really is one: the pod's own kernel is gVisor's, where the same pod on the broken path sees the host's.
    const kernel = (namespace: string): Promise<string> => k(['exec', '-n', namespace, 'sandboxed', '--', '/cat', '/proc/version']);
    assert.match(await kernel(gvisorNs), /^Linux version \S+-gvisor /);
    assert.doesNotMatch(await kernel(gvisorBrokenNs), /gvisor/);
  });

  test("static pods (the kubelet's manifest directory) get the host's evidence too: their cgroup is named after the manifest's hash, not a uid", async () => {
    const cases = [
      { name: 'static-gvisor', node: honestNode, runtimeClassName: 'gvisor', want: ['Matched', 'Matched', 'gvisor'] },
      { name: 'static-kata', node: honestNode, runtimeClassName: 'kata', want: ['Mismatched', 'IsolationMismatch', 'host-kernel'] },
      { name: 'static-kata', node: crioNode, runtimeClassName: 'kata', want: ['Mismatched', 'IsolationMismatch', 'host-kernel'] },
    ];
    const files = cases.map((c) => join(staticPodDir(c.node), `${id}-${c.name}.json`));
    try {
      cases.forEach((c, i) => {
        writeFileSync(files[i] ?? '', JSON.stringify(pausePod(testbed, { namespace: gvisorNs, ...c })));
      });
      await eventually(async () => {
        const seen = [];
        for (const c of cases) {
          // The mirror pod: the static pod's name and its node's.
          const mirror = `${c.name}-${c.node.name}`;
          const entry = (await reportStatus(testbed, c.node.name))?.audits
            ?.find((a) => a.name === runtimesAudit)
            ?.pods.find((p) => p.namespace === gvisorNs && p.name === mirror);
          seen.push([mirror, entry?.verdict, entry?.reason, entry?.actualIsolation]);
        }
        assert.deepEqual(
          seen,
          cases.map((c) => [`${c.name}-${c.node.name}`, ...c.want]),
        );
      }, 120_000);
    } finally {
      for (const file of files) rmSync(file, { force: true });
    }
  });

  test('a VMM in an ordinary pod proves nothing: real QEMU and a binary renamed cloud-hypervisor under runc are host-kernel, "kata" running them is still IsolationMismatch, gVisor stays gvisor', async () => {
    const image = await vmmImage();
    // Debian's QEMU with software emulation, as KubeVirt's virt-launcher or an emulating CI job runs it; -S: stopped before the first instruction.
    const qemu = { image, args: ['-machine', 'q35,accel=tcg', '-m', '64', '-nographic', '-nodefaults', '-display', 'none', '-S'] };
    const renamed = { image, command: ['/usr/bin/cloud-hypervisor'] };
    // [verdict, reason, the host's evidence] by the audit that expects kata to be a VM; the default handler's pod is audited by none.
    const cases = [
      { name: 'qemu-default', node: honestNode, runtimeClassName: undefined, program: qemu, want: [undefined, undefined, undefined] },
      { name: 'qemu-kata', node: honestNode, runtimeClassName: 'kata', program: qemu, want: ['Mismatched', 'IsolationMismatch', 'host-kernel'] },
      { name: 'renamed-kata', node: honestNode, runtimeClassName: 'kata', program: renamed, want: ['Mismatched', 'IsolationMismatch', 'host-kernel'] },
      { name: 'qemu-gvisor', node: honestNode, runtimeClassName: 'gvisor', program: qemu, want: ['Matched', 'Matched', 'gvisor'] },
      { name: 'qemu-kata', node: crioNode, runtimeClassName: 'kata', program: qemu, want: ['Mismatched', 'IsolationMismatch', 'host-kernel'] },
      { name: 'qemu-gvisor', node: kusciaNode, runtimeClassName: 'gvisor', program: qemu, want: ['Mismatched', 'HandlerMismatch', 'host-kernel'] },
    ].map((c) => ({ ...c, pod: `${c.name}-${c.node.name}` }));
    for (const c of cases) await applyPod(testbed, { namespace: gvisorNs, ...c, name: c.pod });
    for (const c of cases) await k(['wait', '-n', gvisorNs, '--for=condition=Ready', '--timeout=120s', `pod/${c.pod}`]);
    await eventually(async () => {
      const seen = [];
      for (const c of cases) {
        const entry = (await reportStatus(testbed, c.node.name))?.audits?.find((a) => a.name === runtimesAudit)?.pods.find((p) => p.name === c.pod);
        seen.push([c.pod, entry?.verdict, entry?.reason, entry?.actualIsolation]);
      }
      assert.deepEqual(
        seen,
        cases.map((c) => [c.pod, ...c.want]),
      );
    }, 60_000);
    // The evidence each sandbox got: under runc, the sandbox process is pause on the host, with the
    // host processes of the pod's cgroup counted (how many of the pod's processes, QEMU among them, had
    // started is a matter of timing: the evidence is read once, when the sandbox is first seen, and
    // steady-state scans never walk /proc again); under gVisor, QEMU runs on gVisor's kernel and the
    // host shows only runsc.
    const evidence = await evidenceOf(gvisorNs, cases);
    assert.deepEqual(
      evidence.map(([pod, cls, process, processes, confirmation]) => [
        pod,
        cls,
        process,
        typeof processes === 'number' ? 'host processes' : processes,
        confirmation,
      ]),
      cases.map((c) =>
        c.want[2] === 'gvisor' ? [c.pod, 'gvisor', 'runsc-sandbox', 'runsc only', undefined] : [c.pod, 'host-kernel', 'pause', 'host processes', undefined],
      ),
    );
    for (const [i, c] of cases.entries()) {
      const processes = evidence[i]?.[3];
      if (typeof processes === 'number') assert.ok(processes >= 1, `${c.pod}: ${String(processes)} host processes`);
    }
  });

  test('a real Prometheus scrapes what the ServiceMonitors select, and the mismatch alert fires for the pod', async () => {
    const monitors = (
      JSON.parse(await k(['get', 'servicemonitors', '-A', '-l', `app.kubernetes.io/instance=${release}`, '-o', 'json'])) as {
        items: { metadata: { name: string; namespace: string }; spec: ServiceMonitorSpec }[];
      }
    ).items;
    assert.equal(monitors.length, 2);
    for (const m of monitors) {
      const [endpoint] = m.spec.endpoints;
      assert.deepEqual(
        [endpoint?.scheme, endpoint?.bearerTokenFile, endpoint?.tlsConfig],
        [
          'https',
          '/var/run/secrets/kubernetes.io/serviceaccount/token',
          { ca: { secret: { name: `${m.metadata.name}-metrics-tls`, key: 'ca.crt' } }, serverName: `${m.metadata.name}-metrics.${m.metadata.namespace}.svc` },
        ],
        'HTTPS with the Prometheus pod’s own token, sent only to a certificate from the chart’s CA that names the Service',
      );
    }
    const rule = JSON.parse(await k(['get', 'prometheusrule', fullname, '-n', system, '-o', 'json'])) as { spec: { groups: unknown[] } };
    // Prometheus's service account, which the chart bound to its metrics-reader ClusterRole (metrics.readers).
    await k(['create', 'serviceaccount', 'prometheus', '-n', system]);
    writeFileSync(prometheusToken, (await k(['create', 'token', 'prometheus', '-n', system, '--duration=1h'])).trim());
    prometheus = await startPrometheus(
      monitors.map((m) => ({ name: m.metadata.name, monitor: m.spec })),
      rule.spec.groups,
      (monitor) => resolveTargets(testbed.kubeconfig, monitor, k),
      { tokenFile: prometheusToken, caFile: await caFilesOf(monitors) },
    );
    const p = prometheus;
    await eventually(async () => {
      const up = await p.query(`up{job=~"${fullname}-(agent|operator)-metrics"}`);
      assert.deepEqual(up.map((s) => `${s.metric['job'] ?? ''}=${s.value[1]}`).sort(), [
        ...testbed.nodes.map(() => `${fullname}-agent-metrics=1`),
        `${fullname}-operator-metrics=1`,
        `${fullname}-operator-metrics=1`,
      ]);
    }, 60_000);
    const alert = await eventually(async () => {
      const firing = (await p.alerts()).filter((a) => a.labels['alertname'] === 'RuntimeClassAuditPodHandlerMismatch' && a.state === 'firing');
      const ours = firing.find((a) => a.labels['namespace'] === brokenNs && a.labels['pod'] === 'vault');
      assert.ok(ours, `firing: ${JSON.stringify(firing.map((a) => a.labels))}; Prometheus said: ${p.process.output()}`);
      // The honest pod alerts only for what the default audit asks of kata (a VM), never for its handler.
      assert.deepEqual(
        firing.filter((a) => a.labels['namespace'] === honestNs).map((a) => a.labels['reason']),
        ['IsolationMismatch'],
      );
      return ours;
    }, 60_000);
    assert.equal(alert.labels['severity'], 'critical');
    assert.deepEqual([alert.labels['expected_handler'], alert.labels['actual_handler'], alert.labels['node']], ['kata', 'runc', honestNode.name]);
    assert.match(
      alert.annotations['description'] ?? '',
      new RegExp(`Pod ${brokenNs}/vault asks for RuntimeClass kata \\(handler "kata"\\), but its sandbox on node ${honestNode.name} runs with handler "runc"`),
    );
  });

  test('/metrics refuses everyone else: no token 401, a malformed one 401, an account without the role 403; the probes stay open; a scrape seldom costs an API call', async () => {
    const [agent] = await pods(agentNs, 'agent');
    const operatorIps = (await k(['get', 'pods', '-n', system, '-l', `app.kubernetes.io/component=operator`, '-o', 'jsonpath={.items[*].status.podIP}']))
      .trim()
      .split(' ');
    for (const ip of [agent?.status.podIP ?? '', ...operatorIps]) {
      const url = `https://${ip}:8080/metrics`;
      const none = await scrape(url);
      assert.deepEqual([none.status, none.body], [401, 'a bearer token is required (Authorization: Bearer <token>)\n'], url);
      const malformed = await scrape(url, 'not-a-token');
      assert.equal(malformed.status, 401);
      assert.match(malformed.body, /^the token is not valid: /);
      const stranger = await scrape(url, await strangerToken(testbed, system, `stranger-${ip.replaceAll('.', '-')}`));
      assert.equal(stranger.status, 403);
      assert.match(stranger.body, new RegExp(`^system:serviceaccount:${system}:stranger-\\S+ may not get /metrics`));
      assert.equal((await scrape(url.replace('/metrics', '/readyz'))).status, 200, 'the probes need no token');
      const plain = await fetch(`http://${ip}:8080/metrics`).catch((err: unknown) => err);
      assert.ok(plain instanceof Error, 'no plain HTTP on the metrics port');
    }
    // Prometheus scrapes each target every second with one token: the reviews are remembered for two minutes.
    const reviews = async (): Promise<number> => {
      const p = prometheus;
      assert.ok(p);
      const series = await p.query(`sum(rcaudit_agent_api_requests_total{resource=~"tokenreviews|subjectaccessreviews",job="${fullname}-agent-metrics"})`);
      return Number(series[0]?.value[1] ?? 'NaN');
    };
    // The reviews of the scrapes above reach Prometheus with its next scrape: let them land first.
    await sleep(3000);
    const before = await reviews();
    await sleep(20_000);
    const after = await reviews();
    console.log(`# reviews by the agents over 20 s of scrapes every second: ${String(after - before)} (${String(before)} in all before)`);
    assert.ok(
      after - before <= 2 * testbed.nodes.length,
      `at most one TokenReview and one SubjectAccessReview per agent in 20 s, saw ${String(after - before)}`,
    );
  });

  test('every dashboard query runs on that Prometheus, and the mismatch panels show the pod', async () => {
    const p = prometheus;
    assert.ok(p);
    const queries = dashboardQueries();
    const first = (panel: string): string => queries.find((q) => q.panel === panel)?.expr ?? '';
    // Every query is valid PromQL (Prometheus answers each without error), and every panel shows
    // something once its rates have two samples, but for those whose series only exist after
    // a failure: no pod here is unverified and no CRI call fails. No audit here requires RuntimeClasses
    // (policy.test.ts reads those pods' series from the operator), and none probes (probes.test.ts reads those).
    const mayBeEmpty = new Set([
      'Unverified pods by reason',
      'CRI errors',
      'Pods outside required RuntimeClasses',
      'Proof before placement: nodes by outcome',
      'Nodes that failed a probe',
    ]);
    await eventually(async () => {
      const shown = new Map<string, boolean>();
      for (const { panel, expr } of queries) shown.set(panel, (shown.get(panel) ?? false) || (await p.query(expr)).length > 0);
      assert.deepEqual(
        [...shown].filter(([panel, any]) => !any && !mayBeEmpty.has(panel)),
        [],
      );
    }, 60_000);
    const series = await p.query(first('Mismatched pods by namespace'));
    assert.equal(series.find((s) => s.metric['namespace'] === brokenNs)?.value[1], '1');
    await eventually(async () => {
      const latency = await p.query(first('CRI call latency'));
      assert.ok(
        latency.some((s) => s.metric['method'] === 'ListPodSandbox'),
        'agent CRI latency by method',
      );
    }, 60_000);
  });

  test(
    `reportPolicy, on by default, before Kubernetes 1.${String(REPORT_POLICY_MINOR)}: the install refuses, saying why and the way past it`,
    { skip: minor >= REPORT_POLICY_MINOR && `the testbed runs ${testbed.kubernetesVersion}` },
    async () => {
      // installValues turn it off, as a user here would; the chart's defaults, on this cluster, for real.
      const defaults = Object.fromEntries(Object.entries(installValues).filter(([key]) => key !== 'reportPolicy.enabled'));
      await assert.rejects(
        helmK(['install', 'refused', ...fromRegistry(), '-n', system, '--dry-run=server', ...valueArgs(defaults)]),
        /reportPolicy\.enabled \(the default\) needs Kubernetes >= 1\.32.*this cluster is v1\.\d+\.\d+.*Set reportPolicy\.enabled=false/s,
      );
    },
  );

  test(
    "reportPolicy, on by default: an agent's pod-bound token writes its own node's report, never another node's",
    { skip: minor < REPORT_POLICY_MINOR && `it needs 1.${String(REPORT_POLICY_MINOR)}; the testbed runs ${testbed.kubernetesVersion}` },
    async () => {
      const agents = await pods(agentNs, 'agent');
      const onHonest = agents.find((a) => a.spec.nodeName === honestNode.name);
      assert.ok(onHonest);
      const sa = `${fullname}-agent`;
      const token = (
        await k(['create', 'token', sa, '-n', agentNs, '--bound-object-kind', 'Pod', '--bound-object-name', onHonest.metadata.name, '--duration=10m'])
      ).trim();
      // Written as the agent writes it: a merge patch of the spec.
      const replaceAs = async (tokenOf: string, node: string): Promise<string> =>
        k(['patch', 'nodesandboxreport', node, `--token=${tokenOf}`, '--type=merge', '-p', JSON.stringify({ spec: { agentVersion: 'by-hand' } })]);
      assert.match(await replaceAs(token, honestNode.name), /patched/);
      await assert.rejects(replaceAs(token, kusciaNode.name), (err: Error) =>
        new RegExp(`an agent on node ${honestNode.name} may write only its own NodeSandboxReport, not ${kusciaNode.name}`).test(
          String((err as { stderr?: string }).stderr),
        ),
      );
      const unbound = (await k(['create', 'token', sa, '-n', agentNs, '--duration=10m'])).trim();
      await assert.rejects(replaceAs(unbound, honestNode.name), (err: Error) => /not bound to a node/.test(String((err as { stderr?: string }).stderr)));
    },
  );

  test('helm upgrade with changed values keeps working and keeps the results; with isolation evidence turned off, what asked for it is Unverified', async () => {
    const since = (await auditStatus(testbed, audit))?.mismatches?.[0]?.since;
    assert.ok(since !== undefined);
    // The default audit is the user's once created: the new operator's --ensure-audit must leave this edit alone.
    await k(['patch', 'runtimeclassaudit', 'cluster', '--type=merge', '-p', '{"spec":{"gracePeriodSeconds":300}}']);
    const certificates = async (): Promise<string[]> =>
      Promise.all(
        [
          [system, 'metrics-ca'],
          [system, 'operator-metrics-tls'],
          [agentNs, 'agent-metrics-tls'],
        ].map(([namespace = '', name]) => k(['get', 'secret', `${fullname}-${name ?? ''}`, '-n', namespace, '-o', 'jsonpath={.data}'])),
      );
    const issued = await certificates();
    const out = await helmK([
      'upgrade',
      release,
      ...fromRegistry(),
      '-n',
      system,
      '--wait',
      '--timeout',
      '240s',
      ...valueArgs({
        ...installValues,
        'operator.replicas': 1,
        'agent.interval': '2s',
        'metrics.prometheusRule.alertLabels': { team: 'platform' },
        'agent.isolationEvidence': false,
      }),
    ]);
    assert.match(out, /STATUS: deployed/);
    assert.deepEqual(await certificates(), issued, 'the certificates the chart issued are kept: every scraper still trusts them');
    const operators = await eventually(async () => {
      const now = await pods(system, 'operator');
      assert.equal(now.length, 1, 'the old replicas are gone');
      return now;
    }, 60_000);
    assert.ok(operators[0]?.spec.containers[0]?.args.includes('--no-leader-elect'));
    // With maxSurge, helm --wait can return while an old agent pod is still terminating: wait for the rollout to end.
    await eventually(async () => {
      const agents = await pods(agentNs, 'agent');
      assert.equal(agents.length, testbed.nodes.length, 'one agent per node: no old pod left');
      assert.ok(agents.every((p) => p.spec.containers[0]?.args.includes('--interval=2s')));
    }, 120_000);
    const rule = await k(['get', 'prometheusrule', fullname, '-n', system, '-o', 'jsonpath={.spec.groups[0].rules[0].labels.team}']);
    assert.equal(rule, 'platform');
    // The chart's agents, without the host's /proc: every report says so, and a pod whose audit asks an isolation is not judged on it.
    await eventually(async () => {
      for (const node of testbed.nodes) assert.equal((await storedReport(testbed, node.name)).spec.isolationEvidence, 'Disabled', node.name);
      const entry = (await reportStatus(testbed, honestNode.name))?.audits
        ?.find((a) => a.name === runtimesAudit)
        ?.pods.find((p) => p.namespace === gvisorNs && p.name === 'sandboxed');
      assert.deepEqual([entry?.verdict, entry?.reason], ['Unverified', 'EvidenceDisabled']);
    }, 60_000);
    await stillFlagging(since);
    assert.equal(await k(['get', 'runtimeclassaudit', 'cluster', '-o', 'jsonpath={.spec.gracePeriodSeconds}']), '300');
  });

  test("metrics.tls.secretName: every pod serves the Secret's certificate, and a Prometheus that verifies it against the Secret's CA and the Service's name scrapes them all", async () => {
    const secret = `${id}-metrics-tls`;
    // What cert-manager would issue: one certificate for both Services' names, with its CA (here, itself).
    const issued = await selfSignedCertificate([`${fullname}-operator-metrics.${system}.svc`, `${fullname}-agent-metrics.${agentNs}.svc`]);
    await applyObjects(
      testbed,
      [system, agentNs].map((namespace) => ({
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: { name: secret, namespace },
        stringData: { 'tls.crt': issued.cert, 'tls.key': issued.key, 'ca.crt': issued.cert },
      })),
    );
    await upgradeReusing(`metrics.tls.secretName=${secret}`, '--wait', '--timeout', '240s');
    const given = '--tls-cert-file=/etc/rcaudit/metrics-tls/tls.crt';
    await eventually(async () => {
      const all = [...(await pods(agentNs, 'agent')), ...(await pods(system, 'operator'))];
      assert.equal(all.length, testbed.nodes.length + 1, 'one agent per node and the operator: no old pod left');
      assert.ok(
        all.every((p) => ready(p) && (p.spec.containers[0]?.args.includes(given) ?? false)),
        'every pod Ready, with the given certificate',
      );
    }, 120_000);
    const monitors = (
      JSON.parse(await k(['get', 'servicemonitors', '-A', '-l', `app.kubernetes.io/instance=${release}`, '-o', 'json'])) as {
        items: { metadata: { name: string; namespace: string }; spec: ServiceMonitorSpec }[];
      }
    ).items;
    for (const m of monitors) {
      assert.deepEqual(m.spec.endpoints[0]?.tlsConfig, {
        ca: { secret: { name: secret, key: 'ca.crt' } },
        serverName: `${m.metadata.name}-metrics.${m.metadata.namespace}.svc`,
      });
    }
    const verifying = await startPrometheus(
      monitors.map((m) => ({ name: m.metadata.name, monitor: m.spec })),
      [],
      (monitor) => resolveTargets(testbed.kubeconfig, monitor, k),
      { tokenFile: prometheusToken, caFile: await caFilesOf(monitors) },
    );
    try {
      await eventually(async () => {
        const up = await verifying.query(`up{job=~"${fullname}-(agent|operator)-metrics"}`);
        assert.deepEqual(up.map((s) => `${s.metric['job'] ?? ''}=${s.value[1]}`).sort(), [
          ...testbed.nodes.map(() => `${fullname}-agent-metrics=1`),
          `${fullname}-operator-metrics=1`,
        ]);
      }, 60_000);
    } finally {
      await verifying.stop();
    }
  });

  test('helm uninstall removes everything but the CRDs, the audits and the agent namespace', async () => {
    const ofRelease = async (kind: string, namespace: string): Promise<string[]> => {
      const out = await k(['get', kind, '-n', namespace, '-l', `app.kubernetes.io/instance=${release}`, '-o', 'name']);
      return out.split('\n').filter((line) => line !== '');
    };
    const clusterScoped = async (): Promise<string[]> =>
      (await k(['get', 'clusterroles,clusterrolebindings,validatingadmissionpolicies', '-o', 'name'])).split('\n').filter((n) => n.includes(fullname));
    const kinds = [
      ['daemonsets', agentNs],
      ['deployments', system],
      ['services', system],
      ['services', agentNs],
      ['serviceaccounts', agentNs],
      ['roles', system],
      ['servicemonitors', system],
      ['prometheusrules', system],
      ['networkpolicies', system],
      ['networkpolicies', agentNs],
    ] as const;
    // Each query finds the release's objects before, so "none after" means they went.
    for (const [kind, namespace] of kinds) assert.notDeepEqual(await ofRelease(kind, namespace), [], `${kind} in ${namespace} before`);
    const reportPolicy = minor >= REPORT_POLICY_MINOR ? 1 : 0;
    assert.equal(
      (await clusterScoped()).length,
      6 + reportPolicy,
      "the agent's, the operator's and the metrics reader's ClusterRoles and bindings, the policies",
    );
    await helmK(['uninstall', release, '-n', system, '--wait', '--timeout', '120s']);
    for (const [kind, namespace] of kinds) assert.deepEqual(await ofRelease(kind, namespace), [], `${kind} in ${namespace}`);
    assert.deepEqual(await clusterScoped(), []);
    for (const crd of CRDS) await k(['get', 'crd', crd]);
    const kept = await auditStatus(testbed, audit);
    assert.equal(kept?.counts?.['mismatched'], 2, 'the audit and its findings are still there');
    await k(['get', 'runtimeclassaudit', 'cluster']);
    await k(['get', 'namespace', agentNs]);
  });
});
