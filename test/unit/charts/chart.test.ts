// The Helm chart without a cluster: helm lint, the values schema, what the
// templates render (Pod Security, the socket mount, leader election, RBAC
// switches, CRDs), the alerts under `promtool test rules` and the dashboard's
// structure. The same chart installed for real: test/e2e/chart.test.ts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { AgentMetrics } from '../../../agent/metrics.ts';
import { DURATION_BOUNDS, duration } from '../../../cli/flags.ts';
import { OperatorMetrics } from '../../../operator/metrics/metrics.ts';
import { CHART, SOME_REGISTRY, findObject, helm, KUBE_VERSION, render, toolDir, valueArgs, type Manifest } from '../../support/chart.ts';
import { minorOf, pinnedVersion, REPO_ROOT } from '../../../hack/versions.ts';

const execFileAsync = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'rca-chart-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Container {
  name: string;
  args: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  securityContext: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; recursiveReadOnly?: string }[];
  livenessProbe: { httpGet: { path: string; scheme: string } };
  readinessProbe: { httpGet: { path: string; scheme: string } };
}
interface PodSpec {
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes?: { name: string; hostPath?: { path: string; type: string }; secret?: { secretName: string; optional?: boolean } }[];
  tolerations?: unknown[];
  priorityClassName?: string;
  affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: { matchExpressions: unknown[] }[] } } };
}
interface Workload extends Manifest {
  spec: { replicas?: number; strategy?: { type: string }; template: { spec: PodSpec } };
}
const podSpec = (o: Manifest): PodSpec => (o as Workload).spec.template.spec;
const container = (o: Manifest): Container => {
  const c = podSpec(o).containers[0];
  assert.ok(c, `${o.kind}/${o.metadata.name} has a container`);
  return c;
};
const everything = {
  'metrics.serviceMonitor.enabled': true,
  'metrics.prometheusRule.enabled': true,
  'grafana.dashboard.enabled': true,
  'reportPolicy.enabled': true,
  'agent.namespace': { name: 'rcaudit-agent', create: true },
  'operator.replicas': 2,
};

describe('helm lint and the values schema', () => {
  test('the chart lints clean with the defaults and with every feature on', async () => {
    for (const values of [SOME_REGISTRY, { ...SOME_REGISTRY, ...everything }]) {
      const out = await helm(['lint', '--strict', CHART, '--kube-version', KUBE_VERSION, ...valueArgs(values)]);
      assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  test('the image is <registry>/<repository>:<appVersion>; without a registry the install fails saying what to set, unless the repository names one', async () => {
    const image = async (values: Record<string, unknown>): Promise<string | undefined> =>
      (findObject(await render(values), 'DaemonSet')['spec'] as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]?.image;
    const version = (parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string }).appVersion;
    assert.equal(await image({}), `registry.example.com/rcaudit/runtimeclass-audit:${version}`);
    assert.equal(await image({ 'image.registry': '127.0.0.1:5000/rcaudit/', 'image.tag': '9.9.9' }), '127.0.0.1:5000/rcaudit/runtimeclass-audit:9.9.9');
    assert.equal(await image({ 'image.registry': '', 'image.repository': 'mirror.example/ops/rcaudit' }), `mirror.example/ops/rcaudit:${version}`);
    await assert.rejects(render({ 'image.registry': '' }), /image\.registry is not set: say where the runtimeclass-audit image was published/);
  });

  test('bad values are refused, naming the value and what is wrong', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ 'agent.criSocket': 'run/containerd.sock' }, /at '\/agent\/criSocket': 'run\/containerd.sock' does not match pattern/],
      [{ 'operator.replicas': 0 }, /at '\/operator\/replicas': minimum: got 0, want 1/],
      [{ 'image.pullPolicy': 'Sometimes' }, /at '\/image\/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'/],
      [{ 'agent.interval': '2 seconds' }, /at '\/agent\/interval'/],
      [{ 'metrics.port': 80 }, /at '\/metrics\/port': minimum: got 80, want 1,024/],
      [{ 'agent.criSocketByNodeLabel': { key: 'k', sockets: { a: 'relative' } } }, /at '\/agent\/criSocketByNodeLabel\/sockets\/a'/],
      [{ 'defaultAudit.name': 'Not_A_Name' }, /at '\/defaultAudit\/name'/],
      [{ agnet: {} }, /additional properties 'agnet' not allowed/],
      [{ 'metrics.prometheusRule.for': { mismatch: 'soon' } }, /at '\/metrics\/prometheusRule\/for\/mismatch'/],
    ];
    for (const [values, message] of cases) {
      await assert.rejects(render(values), message, JSON.stringify(values));
    }
  });

  test('every duration has the range its flag has: the bounds pass, past them the value is refused, naming it', async () => {
    // chart value -> the flag it becomes (cli/flags.ts DURATION_BOUNDS)
    const values: [string, keyof typeof DURATION_BOUNDS][] = [
      ['agent.interval', 'interval'],
      ['agent.criTimeout', 'cri-timeout'],
      ['operator.resync', 'operator-resync'],
      ['operator.eventSeriesInterval', 'event-series-interval'],
      ['operator.apiTimeout', 'api-timeout'],
    ];
    for (const [value, flag] of values) {
      const [min, max] = DURATION_BOUNDS[flag];
      await render({ [value]: min });
      await render({ [value]: max });
      const below = `${String(duration(min) / 2)}ms`;
      const above = `${String(duration(max) / 3_600_000 + 1)}h`;
      for (const bad of [below, above, '0s']) {
        await assert.rejects(
          render({ [value]: bad }),
          new RegExp(`${value.replace('.', '\\.')}: ${bad} is out of range: a duration from ${min} to ${max}`),
          `${value}=${bad}`,
        );
      }
    }
  });

  test('the agent runs in a namespace of its own by default, created privileged; one the chart would create must not be the release namespace', async () => {
    const objects = await render();
    const created = findObject(objects, 'Namespace');
    assert.equal(created.metadata.name, 'rcaudit-agent');
    assert.equal(created.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
    assert.equal(findObject(objects, 'DaemonSet').metadata.namespace, 'rcaudit-agent');
    assert.equal(findObject(objects, 'Deployment').metadata.namespace, 'rcaudit');
    const long = await render({}, { namespace: 'n'.repeat(60) });
    assert.equal(findObject(long, 'Namespace').metadata.name, `${'n'.repeat(57)}-agent`, 'cut to fit a name');
    await assert.rejects(
      render({ 'agent.namespace': { name: 'rcaudit', create: true } }),
      /agent.namespace.create with the release namespace as agent.namespace.name: Helm stores the release there.*Set agent.namespace.create=false/,
    );
    const together = await render({ 'agent.namespace': { name: 'rcaudit', create: false } });
    assert.equal(together.find((o) => o.kind === 'Namespace'), undefined, "0.2.0's layout, asked for");
    assert.equal(findObject(together, 'DaemonSet').metadata.namespace, 'rcaudit');
  });
});

describe('the Kubernetes versions the chart claims', () => {
  test("exactly the minors the end-to-end tests run on: from the oldest (KUBE_OLDEST_VERSION) to the newest (KUBE_VERSION)", async () => {
    const claim = (parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { kubeVersion: string }).kubeVersion;
    const [oldest, newest] = [minorOf(pinnedVersion('KUBE_OLDEST_VERSION')), minorOf(KUBE_VERSION)];
    assert.equal(claim, `>=1.${String(oldest)}.0-0 <1.${String(newest + 1)}.0-0`);
    // Helm holds a cluster to it: the newest and the oldest install, the one after and the one before do not.
    await render({}, { kubeVersion: `1.${String(newest)}.0` });
    await render({ 'reportPolicy.enabled': false }, { kubeVersion: `1.${String(oldest)}.0` });
    for (const outside of [`1.${String(newest + 1)}.0`, `1.${String(oldest - 1)}.9`])
      await assert.rejects(render({ 'reportPolicy.enabled': false }, { kubeVersion: outside }), /chart requires kubeVersion: >=1\.\d+\.0-0 <1\.\d+\.0-0 which is incompatible with Kubernetes v/);
  });
});

describe('what the chart renders', () => {
  test('the own-report policy is on by default; before Kubernetes 1.32 the install fails saying why and how to go on', async () => {
    const policies = async (values: Record<string, unknown>, kubeVersion?: string): Promise<string[]> =>
      (await render(values, kubeVersion === undefined ? {} : { kubeVersion })).filter((o) => o.kind.startsWith('ValidatingAdmissionPolicy')).map((o) => o.kind);
    assert.deepEqual(await policies({}), ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
    await assert.rejects(
      policies({}, '1.31.4'),
      /reportPolicy\.enabled \(the default\) needs Kubernetes >= 1\.32.*this cluster is v1\.31\.4.*Set reportPolicy\.enabled=false/,
    );
    assert.deepEqual(await policies({ 'reportPolicy.enabled': false }, '1.31.4'), []);
  });

  test('defaults: the operator, one agent DaemonSet, RBAC, metrics Services, the CRDs and the own-report policy; nothing that needs the Prometheus Operator', async () => {
    const kinds = (await render()).map((o) => `${o.kind}/${o.metadata.name}`).sort();
    assert.deepEqual(kinds, [
      'ClusterRole/rcaudit-runtimeclass-audit-agent',
      'ClusterRole/rcaudit-runtimeclass-audit-metrics-reader',
      'ClusterRole/rcaudit-runtimeclass-audit-operator',
      'ClusterRoleBinding/rcaudit-runtimeclass-audit-agent',
      'ClusterRoleBinding/rcaudit-runtimeclass-audit-operator',
      'CustomResourceDefinition/nodesandboxreports.rcaudit.dev',
      'CustomResourceDefinition/runtimeclassaudits.rcaudit.dev',
      'DaemonSet/rcaudit-runtimeclass-audit-agent',
      'Deployment/rcaudit-runtimeclass-audit-operator',
      'Namespace/rcaudit-agent',
      'Role/rcaudit-runtimeclass-audit-operator-leader-election',
      'RoleBinding/rcaudit-runtimeclass-audit-operator-leader-election',
      'Secret/rcaudit-runtimeclass-audit-agent-metrics-tls',
      'Secret/rcaudit-runtimeclass-audit-metrics-ca',
      'Secret/rcaudit-runtimeclass-audit-operator-metrics-tls',
      'Service/rcaudit-runtimeclass-audit-agent-metrics',
      'Service/rcaudit-runtimeclass-audit-operator-metrics',
      'ServiceAccount/rcaudit-runtimeclass-audit-agent',
      'ServiceAccount/rcaudit-runtimeclass-audit-operator',
      'ValidatingAdmissionPolicy/rcaudit-runtimeclass-audit-agent-own-report',
      'ValidatingAdmissionPolicyBinding/rcaudit-runtimeclass-audit-agent-own-report',
    ]);
  });

  test('the operator meets Pod Security "restricted" and probes /livez and /readyz', async () => {
    const deployment = findObject(await render(), 'Deployment');
    const pod = podSpec(deployment);
    const c = container(deployment);
    assert.equal(pod.securityContext['runAsNonRoot'], true);
    assert.deepEqual(pod.securityContext['seccompProfile'], { type: 'RuntimeDefault' });
    assert.equal(c.securityContext['allowPrivilegeEscalation'], false);
    assert.equal(c.securityContext['readOnlyRootFilesystem'], true);
    assert.equal(c.securityContext['runAsNonRoot'], true);
    assert.deepEqual(c.securityContext['capabilities'], { drop: ['ALL'] });
    assert.equal(c.livenessProbe.httpGet.path, '/livez');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.deepEqual(
      pod.volumes?.map((v) => v.secret?.secretName),
      ['rcaudit-runtimeclass-audit-operator-metrics-tls'],
      'the operator mounts nothing but its serving certificate',
    );
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]));
    assert.deepEqual([env['POD_NAMESPACE'], env['POD_NAME'], env['AGENT_NAMESPACE']], ['metadata.namespace', 'metadata.name', 'rcaudit-agent']);
    assert.ok(
      c.args.includes('--agent-selector=app.kubernetes.io/name=runtimeclass-audit,app.kubernetes.io/instance=rcaudit,app.kubernetes.io/component=agent'),
    );
  });

  test('one operator replica runs without leader election and is replaced with Recreate; more elect a leader and get a PodDisruptionBudget', async () => {
    const single = await render();
    const one = findObject(single, 'Deployment') as Workload;
    assert.ok(container(one).args.includes('--no-leader-elect'));
    assert.equal(one.spec.strategy?.type, 'Recreate');
    assert.equal(
      single.find((o) => o.kind === 'PodDisruptionBudget'),
      undefined,
    );

    const ha = await render({ 'operator.replicas': 3 });
    const three = findObject(ha, 'Deployment') as Workload;
    assert.equal(three.spec.replicas, 3);
    assert.ok(!container(three).args.includes('--no-leader-elect'));
    assert.ok(container(three).args.includes('--lease-name=rcaudit-runtimeclass-audit-operator'));
    assert.equal(three.spec.strategy?.type, 'RollingUpdate', 'the standby takes over the lease');
    findObject(ha, 'PodDisruptionBudget');
  });

  test("the agent mounts the CRI socket's directory (a restarted runtime's new socket shows there), the host's /proc and Kata's state directories, read-only, and nothing else of the host, with every capability dropped", async () => {
    const ds = findObject(await render({ 'agent.criSocket': '/run/crio/crio.sock' }), 'DaemonSet');
    const pod = podSpec(ds);
    const c = container(ds);
    assert.deepEqual(pod.volumes, [
      { name: 'cri-socket-dir', hostPath: { path: '/run/crio', type: 'DirectoryOrCreate' } },
      { name: 'metrics-tls', secret: { secretName: 'rcaudit-runtimeclass-audit-agent-metrics-tls', optional: true } },
      { name: 'host-proc', hostPath: { path: '/proc', type: 'Directory' } },
      { name: 'kata-go-runtime-state', hostPath: { path: '/run/vc/sbs', type: 'DirectoryOrCreate' } },
      { name: 'kata-runtime-rs-state', hostPath: { path: '/run/kata', type: 'DirectoryOrCreate' } },
    ]);
    assert.deepEqual(c.volumeMounts, [
      { name: 'cri-socket-dir', mountPath: '/run/crio', readOnly: true, recursiveReadOnly: 'IfPossible' },
      { name: 'metrics-tls', mountPath: '/etc/rcaudit/metrics-tls', readOnly: true },
      { name: 'host-proc', mountPath: '/host/proc', readOnly: true, recursiveReadOnly: 'IfPossible' },
      { name: 'kata-go-runtime-state', mountPath: '/host/run/vc/sbs', readOnly: true },
      { name: 'kata-runtime-rs-state', mountPath: '/host/run/kata', readOnly: true },
    ]);
    assert.ok(c.args.includes('--cri-endpoint=unix:///run/crio/crio.sock'));
    assert.ok(c.args.includes('--proc-root=/host/proc'));
    assert.ok(c.args.includes('--kata-state-root=/host/run'));
    assert.equal(c.securityContext['privileged'], false);
    assert.equal(c.securityContext['allowPrivilegeEscalation'], false);
    assert.equal(c.securityContext['readOnlyRootFilesystem'], true);
    assert.deepEqual(c.securityContext['capabilities'], { drop: ['ALL'] });
    assert.equal(c.securityContext['runAsUser'], 0, 'uid 0 only to open the root-owned socket');
    assert.deepEqual(c.env?.find((e) => e.name === 'NODE_NAME')?.valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } });
    assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
    assert.equal(pod.priorityClassName, 'system-node-critical');
    const hostAccess = ['hostNetwork', 'hostPID', 'hostIPC'].filter((k) => k in pod);
    assert.deepEqual(hostAccess, []);
  });

  test('agent.isolationEvidence=false: no /proc mount, and the agent is told to gather no evidence', async () => {
    const ds = findObject(await render({ 'agent.isolationEvidence': false }), 'DaemonSet');
    assert.deepEqual(
      podSpec(ds).volumes?.map((v) => v.name),
      ['cri-socket-dir', 'metrics-tls'],
    );
    assert.deepEqual(
      container(ds).volumeMounts?.map((m) => m.name),
      ['cri-socket-dir', 'metrics-tls'],
    );
    assert.ok(container(ds).args.includes('--no-isolation-evidence'));
    assert.ok(!container(ds).args.some((a) => a.startsWith('--proc-root')));
  });

  test("agent.kataRecords=false: /proc is read, Kata's state directories are not mounted, and the agent is told so", async () => {
    const ds = findObject(await render({ 'agent.kataRecords': false }), 'DaemonSet');
    assert.deepEqual(
      podSpec(ds).volumes?.map((v) => v.name),
      ['cri-socket-dir', 'metrics-tls', 'host-proc'],
    );
    assert.ok(container(ds).args.includes('--no-kata-records'));
    assert.ok(!container(ds).args.some((a) => a.startsWith('--kata-state-root')));
  });

  test("criSocketByNodeLabel: a DaemonSet per socket location, on complementary nodes, ANDed into the user's own node affinity", async () => {
    const userTerm = { matchExpressions: [{ key: 'pool', operator: 'In', values: ['secure'] }] };
    const objects = await render({
      'agent.criSocketByNodeLabel': { key: 'example.com/runtime', sockets: { crio: '/run/crio/crio.sock' } },
      'agent.affinity': { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [userTerm] } } },
    });
    const sets = objects.filter((o) => o.kind === 'DaemonSet');
    assert.deepEqual(
      sets.map((o) => o.metadata.name),
      ['rcaudit-runtimeclass-audit-agent', 'rcaudit-runtimeclass-audit-agent-crio'],
    );
    const terms = sets.map((o) => podSpec(o).affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms);
    assert.deepEqual(terms[0], [{ matchExpressions: [...userTerm.matchExpressions, { key: 'example.com/runtime', operator: 'NotIn', values: ['crio'] }] }]);
    assert.deepEqual(terms[1], [{ matchExpressions: [...userTerm.matchExpressions, { key: 'example.com/runtime', operator: 'In', values: ['crio'] }] }]);
    assert.deepEqual(
      sets.map((o) => podSpec(o).volumes?.[0]?.hostPath?.path),
      ['/run/containerd', '/run/crio'],
    );
    assert.deepEqual(
      sets.map((o) => container(o).args.find((a) => a.startsWith('--cri-endpoint='))),
      ['--cri-endpoint=unix:///run/containerd/containerd.sock', '--cri-endpoint=unix:///run/crio/crio.sock'],
    );
    const selectors = sets.map((o) => JSON.stringify((o as unknown as { spec: { selector: unknown } }).spec.selector));
    assert.notEqual(selectors[0], selectors[1], "the two DaemonSets must not claim each other's pods");
  });

  test('the CRDs are the generated ones, kept on uninstall, and left out with crds.install=false', async () => {
    const crds = (await render()).filter((o) => o.kind === 'CustomResourceDefinition');
    const files = readdirSync(join(CHART, 'files', 'crds'));
    assert.equal(crds.length, files.length);
    for (const file of files) {
      const generated = parse(readFileSync(join(CHART, 'files', 'crds', file), 'utf8')) as Manifest;
      const rendered = findObject(crds, 'CustomResourceDefinition', generated.metadata.name);
      assert.equal(rendered.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
      assert.deepEqual(rendered['spec'], generated['spec']);
    }
    assert.equal((await render({ 'crds.install': false })).filter((o) => o.kind === 'CustomResourceDefinition').length, 0);
  });

  test('probes.enabled: a restricted namespace of their own, pods there only, the shadow RuntimeClasses and node labels each held by a policy, and the operator told', async () => {
    assert.equal((await render({})).some((o) => o.metadata.name === 'rcaudit-probes' || o.metadata.name.endsWith('-probe-classes')), false, 'nothing unless asked');
    const objects = await render({ 'probes.enabled': true, 'probes.image': 'example.com/pause:1', 'probes.maxInFlight': 4 });
    const ns = findObject(objects, 'Namespace', 'rcaudit-probes');
    assert.equal(ns.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
    const role = findObject(objects, 'Role', 'rcaudit-runtimeclass-audit-operator-probes');
    assert.equal(role.metadata.namespace, 'rcaudit-probes');
    assert.deepEqual(role['rules'], [{ apiGroups: [''], resources: ['pods'], verbs: ['create', 'delete'] }]);
    const cluster = findObject(objects, 'ClusterRole', 'rcaudit-runtimeclass-audit-operator');
    const rules = (cluster['rules'] as { resources: string[]; verbs: string[] }[]).flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${res}`)));
    for (const rule of ['patch nodes', 'create runtimeclasses', 'delete runtimeclasses']) assert.ok(rules.includes(rule), rule);
    assert.ok(!rules.includes('create pods') && !rules.includes('delete pods'), 'pods only in the probe namespace');
    findObject(objects, 'ValidatingAdmissionPolicy', 'rcaudit-runtimeclass-audit-operator-own-labels');
    const classes = findObject(objects, 'ValidatingAdmissionPolicy', 'rcaudit-runtimeclass-audit-operator-probe-classes');
    assert.match(JSON.stringify(classes), /request\.name\.startsWith\('rcaudit-probe\.'\)/);
    findObject(objects, 'ValidatingAdmissionPolicyBinding', 'rcaudit-runtimeclass-audit-operator-probe-classes');
    const args = container(findObject(objects, 'Deployment')).args;
    for (const arg of ['--probe-namespace=rcaudit-probes', '--probe-image=example.com/pause:1', '--probe-max-in-flight=4', '--probe-per-minute=30']) assert.ok(args.includes(arg), arg);
    await assert.rejects(render({ 'probes.maxInFlight': 0 }), /maxInFlight.*(minimum|greater than or equal)/);
  });

  test('probes.enabled: helm uninstall ends with a Job that withdraws the proofs, whose account and RBAC exist only while it runs', async () => {
    assert.equal((await render({})).some((o) => o.metadata.name.includes('-withdraw-proofs')), false, 'nothing unless asked');
    const objects = (await render({ 'probes.enabled': true, 'operator.nodeSelector': { pool: 'system' } })).filter(
      (o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'withdraw-proofs',
    );
    assert.deepEqual(objects.map((o) => o.kind).sort(), [
      'ClusterRole',
      'ClusterRoleBinding',
      'Job',
      'Role',
      'RoleBinding',
      'ServiceAccount',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
    ].sort());
    for (const o of objects) {
      assert.equal(o.metadata.annotations?.['helm.sh/hook'], 'post-delete', `${o.kind} is a post-delete hook, never installed`);
      const policy = (o.metadata.annotations['helm.sh/hook-delete-policy'] ?? '').split(',');
      // The Job stays when it fails, for its log; what grants anything goes either way.
      const expected = o.kind === 'Job' ? ['before-hook-creation', 'hook-succeeded'] : ['before-hook-creation', 'hook-succeeded', 'hook-failed'];
      assert.deepEqual(policy, expected, o.kind);
      if (o.kind !== 'Job') assert.ok(Number(o.metadata.annotations['helm.sh/hook-weight'] ?? 0) < 0, `${o.kind} before the Job`);
    }
    // RBAC cannot say which labels or classes: the account is held by policies of its own, made before it.
    const weight = (o: Manifest): number => Number(o.metadata.annotations?.['helm.sh/hook-weight'] ?? 0);
    const account = findObject(objects, 'ServiceAccount');
    for (const policy of objects.filter((o) => o.kind === 'ValidatingAdmissionPolicy')) {
      assert.match(JSON.stringify(policy), /request\.userInfo\.username == \\"system:serviceaccount:rcaudit:rcaudit-runtimeclass-audit-withdraw-proofs\\"/);
      assert.ok(weight(policy) < weight(account), `${policy.metadata.name} before the account`);
      assert.equal(weight(findObject(objects, 'ValidatingAdmissionPolicyBinding', policy.metadata.name)), weight(policy));
    }
    const grants = (kind: string): string[] =>
      (findObject(objects, kind)['rules'] as { resources: string[]; verbs: string[] }[]).flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${res}`)));
    assert.deepEqual(grants('ClusterRole'), ['get nodes', 'list nodes', 'patch nodes', 'get runtimeclasses', 'list runtimeclasses', 'delete runtimeclasses']);
    assert.deepEqual(grants('Role'), ['list pods']);
    const job = findObject(objects, 'Job') as Workload;
    const pod = job.spec.template.spec as PodSpec & { serviceAccountName: string; nodeSelector?: Record<string, string> };
    assert.equal(pod.serviceAccountName, 'rcaudit-runtimeclass-audit-withdraw-proofs');
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux', pool: 'system' }, 'where the operator may run');
    assert.equal(pod.securityContext['runAsNonRoot'], true);
    assert.deepEqual(container(job).args, [
      'operator/withdraw.js',
      '--operator-namespace=rcaudit',
      '--operator-selector=app.kubernetes.io/name=runtimeclass-audit,app.kubernetes.io/instance=rcaudit,app.kubernetes.io/component=operator',
      '--operator-gone=2m',
    ]);
    // The selector is the operator Deployment's own: the Job waits for exactly its pods.
    const deployment = findObject(await render({ 'probes.enabled': true }), 'Deployment') as Workload & { spec: { selector: { matchLabels: Record<string, string> } } };
    assert.equal(
      Object.entries(deployment.spec.selector.matchLabels)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
      container(job).args[2]?.split('=').slice(1).join('='),
    );
  });

  test('RBAC widens only with the features that need it', async () => {
    const rules = async (values: Record<string, unknown>): Promise<string[]> => {
      const role = findObject(await render(values), 'ClusterRole', 'rcaudit-runtimeclass-audit-operator');
      return (role['rules'] as { resources: string[]; verbs: string[] }[]).flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${res}`)));
    };
    assert.ok((await rules({})).includes('create runtimeclassaudits'));
    assert.ok(!(await rules({ 'defaultAudit.enabled': false })).includes('create runtimeclassaudits'));
    assert.ok(!(await rules({})).includes('patch pods/status'));
    assert.ok((await rules({ 'operator.podConditions': true })).includes('patch pods/status'));
    // Remediation: only the eviction subresource and node labels, only when asked for; never delete on pods.
    const base = await rules({});
    const remediating = await rules({ 'remediation.enabled': true });
    assert.deepEqual(
      remediating.filter((r) => !base.includes(r)),
      ['create pods/eviction', 'patch nodes'],
    );
    assert.ok(!remediating.some((r) => r.startsWith('delete')));
    const args = async (values: Record<string, unknown>): Promise<string[]> =>
      (findObject(await render(values), 'Deployment')['spec'] as { template: { spec: { containers: { args: string[] }[] } } }).template.spec.containers[0]
        ?.args ?? [];
    assert.ok(!(await args({})).includes('--remediation'));
    assert.ok((await args({ 'remediation.enabled': true })).includes('--remediation'));
    assert.ok((await args({ 'remediation.enabled': true })).includes('--max-evictions-per-minute=10'), 'the ceiling over the cluster, by default');
    assert.ok((await args({ 'remediation.enabled': true, 'remediation.maxEvictionsPerMinute': 3 })).includes('--max-evictions-per-minute=3'));
    await assert.rejects(render({ 'remediation.maxEvictionsPerMinute': 600 }), /maxEvictionsPerMinute.*(maximum|less than or equal)/);
    // Node patches come with a policy that keeps them to our labels, for the operator's account alone.
    assert.equal((await render({})).some((o) => o.kind === 'ValidatingAdmissionPolicy' && o.metadata.name.endsWith('-operator-own-labels')), false);
    const policy = findObject(await render({ 'remediation.enabled': true }), 'ValidatingAdmissionPolicy', 'rcaudit-runtimeclass-audit-operator-own-labels');
    assert.match(JSON.stringify(policy), /request\.userInfo\.username == \\"system:serviceaccount:rcaudit:rcaudit-runtimeclass-audit-operator\\"/);
    findObject(await render({ 'remediation.enabled': true }), 'ValidatingAdmissionPolicyBinding', 'rcaudit-runtimeclass-audit-operator-own-labels');
    const agent = findObject(await render(), 'ClusterRole', 'rcaudit-runtimeclass-audit-agent');
    const reviews = [
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
    ];
    assert.deepEqual(agent['rules'], [
      { apiGroups: ['rcaudit.dev'], resources: ['nodesandboxreports'], verbs: ['get', 'create', 'patch'] },
      { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
      ...reviews,
    ]);
    // The two reviews are for checking who scrapes /metrics: gone with metrics.secure=false.
    const plain = findObject(await render({ 'metrics.secure': false }), 'ClusterRole', 'rcaudit-runtimeclass-audit-agent');
    assert.deepEqual(plain['rules'], (agent['rules'] as unknown[]).slice(0, 2));
    assert.ok(!(await rules({ 'metrics.secure': false })).includes('create tokenreviews'));
    assert.deepEqual(base.filter((r) => !(r.startsWith('create tokenreviews') || r.startsWith('create subjectaccessreviews'))).length, base.length - 2);
  });

  describe('metrics, secure by default', () => {
    const containerOf = (objects: Manifest[], kind: string): Container => container(findObject(objects, kind));

    test('HTTPS with token checks in both processes, probes over HTTPS, and a ClusterRole for scrapers bound to nobody until metrics.readers names someone', async () => {
      const objects = await render();
      for (const kind of ['Deployment', 'DaemonSet']) {
        const c = containerOf(objects, kind);
        assert.ok(c.args.includes('--listen-port=8080'), kind);
        assert.ok(!c.args.includes('--no-metrics-secure'), kind);
        assert.ok(c.args.includes('--tls-cert-file=/etc/rcaudit/metrics-tls/tls.crt'), `${kind}: the certificate the chart issued`);
        assert.deepEqual([c.livenessProbe.httpGet.scheme, c.readinessProbe.httpGet.scheme], ['HTTPS', 'HTTPS'], kind);
      }
      assert.deepEqual(findObject(objects, 'ClusterRole', 'rcaudit-runtimeclass-audit-metrics-reader')['rules'], [
        { nonResourceURLs: ['/metrics'], verbs: ['get'] },
      ]);
      assert.ok(!objects.some((o) => o.kind === 'ClusterRoleBinding' && o.metadata.name.endsWith('metrics-reader')));
      const readers = [{ kind: 'ServiceAccount', name: 'prometheus-k8s', namespace: 'monitoring' }];
      const bound = findObject(await render({ 'metrics.readers': readers }), 'ClusterRoleBinding', 'rcaudit-runtimeclass-audit-metrics-reader');
      assert.deepEqual(bound['subjects'], readers);
      assert.deepEqual(bound['roleRef'], { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'rcaudit-runtimeclass-audit-metrics-reader' });
    });

    test('the ServiceMonitors scrape over HTTPS with the Prometheus pod’s token and verify the certificate (the chart’s CA, or the given Secret’s) and its name; unverified only when asked, with a warning', async () => {
      const endpoints = async (values: Record<string, unknown>): Promise<Record<string, unknown>[]> =>
        (await render({ ...everything, ...values }))
          .filter((o) => o.kind === 'ServiceMonitor')
          .map((o) => (o['spec'] as { endpoints: Record<string, unknown>[] }).endpoints[0] ?? {});
      assert.deepEqual(
        (await endpoints({})).map((e) => [e['scheme'], e['bearerTokenFile'], e['tlsConfig']]),
        [
          [
            'https',
            '/var/run/secrets/kubernetes.io/serviceaccount/token',
            {
              ca: { secret: { name: 'rcaudit-runtimeclass-audit-operator-metrics-tls', key: 'ca.crt' } },
              serverName: 'rcaudit-runtimeclass-audit-operator-metrics.rcaudit.svc',
            },
          ],
          [
            'https',
            '/var/run/secrets/kubernetes.io/serviceaccount/token',
            {
              ca: { secret: { name: 'rcaudit-runtimeclass-audit-agent-metrics-tls', key: 'ca.crt' } },
              serverName: 'rcaudit-runtimeclass-audit-agent-metrics.rcaudit-agent.svc',
            },
          ],
        ],
      );
      for (const e of await endpoints({ 'metrics.tls.insecureSkipVerify': true })) assert.deepEqual(e['tlsConfig'], { insecureSkipVerify: true });
      assert.deepEqual(
        (await endpoints({ 'metrics.tls.secretName': 'rcaudit-metrics-tls' })).map((e) => e['tlsConfig']),
        [
          { ca: { secret: { name: 'rcaudit-metrics-tls', key: 'ca.crt' } }, serverName: 'rcaudit-runtimeclass-audit-operator-metrics.rcaudit.svc' },
          { ca: { secret: { name: 'rcaudit-metrics-tls', key: 'ca.crt' } }, serverName: 'rcaudit-runtimeclass-audit-agent-metrics.rcaudit-agent.svc' },
        ],
      );
      for (const e of await endpoints({ 'metrics.secure': false }))
        assert.deepEqual([e['scheme'], e['bearerTokenFile'], e['tlsConfig']], [undefined, undefined, undefined]);
    });

    test("the chart issues a CA and one serving certificate per process, naming its metrics Service, in that process's namespace; the CA's key stays in the release namespace", async () => {
      const secrets = (await render()).filter((o) => o.kind === 'Secret') as (Manifest & { type: string; data: Record<string, string> })[];
      const pem = (s: Manifest & { data: Record<string, string> }, key: string): string => Buffer.from(s.data[key] ?? '', 'base64').toString();
      const caSecret = secrets.find((s) => s.metadata.name === 'rcaudit-runtimeclass-audit-metrics-ca') ?? assert.fail('no CA Secret');
      assert.equal(caSecret.metadata.namespace, 'rcaudit');
      const ca = new X509Certificate(pem(caSecret, 'tls.crt'));
      assert.ok(ca.ca);
      for (const [component, namespace] of [
        ['operator', 'rcaudit'],
        ['agent', 'rcaudit-agent'],
      ] as const) {
        const secret = secrets.find((s) => s.metadata.name === `rcaudit-runtimeclass-audit-${component}-metrics-tls`) ?? assert.fail(component);
        assert.deepEqual([secret.metadata.namespace, secret.type], [namespace, 'kubernetes.io/tls']);
        assert.equal(pem(secret, 'ca.crt'), pem(caSecret, 'tls.crt'), 'the ServiceMonitor trusts the CA');
        const cert = new X509Certificate(pem(secret, 'tls.crt'));
        assert.ok(cert.verify(ca.publicKey) && cert.checkIssued(ca), `${component}: signed by the CA`);
        const service = `rcaudit-runtimeclass-audit-${component}-metrics`;
        assert.ok(cert.checkHost(`${service}.${namespace}.svc`), `${component}: ${cert.subjectAltName ?? ''}`);
        assert.equal(cert.checkHost(`rcaudit-runtimeclass-audit-${component === 'agent' ? 'operator' : 'agent'}-metrics.${namespace}.svc`), undefined);
        assert.ok(createPrivateKey(pem(secret, 'tls.key')).asymmetricKeyType, 'its key');
        assert.equal(secret.data['ca.key'], undefined);
      }
      assert.equal(secrets.length, 3);
      const given = (await render({ 'metrics.tls.secretName': 'mine' })).filter((o) => o.kind === 'Secret');
      assert.deepEqual(given, [], 'a Secret given: none issued');
      assert.deepEqual((await render({ 'metrics.tls.insecureSkipVerify': true })).filter((o) => o.kind === 'Secret'), []);
      await assert.rejects(render({ 'metrics.tls.secretName': 'mine', 'metrics.tls.insecureSkipVerify': true }), /set one; a certificate you give is verified/);
    });

    test('metrics.tls.secretName: the Secret mounted read-only (optional: a missing one is a 503, not a pod that never starts) and passed to both processes', async () => {
      const objects = await render({ 'metrics.tls.secretName': 'rcaudit-metrics-tls' });
      for (const kind of ['Deployment', 'DaemonSet']) {
        const workload = findObject(objects, kind);
        const c = container(workload);
        assert.ok(
          c.args.includes('--tls-cert-file=/etc/rcaudit/metrics-tls/tls.crt') && c.args.includes('--tls-key-file=/etc/rcaudit/metrics-tls/tls.key'),
          kind,
        );
        assert.deepEqual(
          c.volumeMounts?.find((m) => m.name === 'metrics-tls'),
          { name: 'metrics-tls', mountPath: '/etc/rcaudit/metrics-tls', readOnly: true },
          kind,
        );
        assert.deepEqual(
          podSpec(workload).volumes?.find((v) => v.name === 'metrics-tls'),
          { name: 'metrics-tls', secret: { secretName: 'rcaudit-metrics-tls', optional: true } },
          kind,
        );
      }
    });

    test('metrics.secure=false: plain HTTP (the opt-out), no review permissions, no reader role', async () => {
      const objects = await render({ 'metrics.secure': false });
      for (const kind of ['Deployment', 'DaemonSet']) {
        const c = containerOf(objects, kind);
        assert.ok(c.args.includes('--no-metrics-secure'), kind);
        assert.equal(c.readinessProbe.httpGet.scheme, 'HTTP', kind);
      }
      assert.ok(!objects.some((o) => o.metadata.name.endsWith('metrics-reader')));
    });
  });

  describe('networkPolicy', () => {
    test('off by default', async () => {
      assert.ok(!(await render()).some((o) => o.kind === 'NetworkPolicy'));
    });

    test('on: each process reachable on its metrics port from the monitoring namespace and the API server only, and reaching the API server only', async () => {
      const policies = (
        await render({
          'networkPolicy.enabled': true,
          'networkPolicy.monitoringNamespace': 'observability',
          'networkPolicy.apiServer': { cidrs: ['10.0.0.10/32'], ports: [6443] },
        })
      ).filter((o) => o.kind === 'NetworkPolicy');
      assert.deepEqual(
        policies.map((p) => [p.metadata.name, p.metadata.namespace]),
        [
          ['rcaudit-runtimeclass-audit-operator', 'rcaudit'],
          ['rcaudit-runtimeclass-audit-agent', 'rcaudit-agent'],
        ],
      );
      for (const policy of policies) {
        const spec = policy['spec'] as Record<string, unknown>;
        assert.deepEqual(spec['policyTypes'], ['Ingress', 'Egress']);
        assert.deepEqual(spec['ingress'], [
          {
            from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } } }, { ipBlock: { cidr: '10.0.0.10/32' } }],
            ports: [{ port: 'metrics', protocol: 'TCP' }],
          },
        ]);
        assert.deepEqual(spec['egress'], [{ to: [{ ipBlock: { cidr: '10.0.0.10/32' } }], ports: [{ port: 6443, protocol: 'TCP' }] }]);
      }
    });

    test('on, where the API server cannot be read (helm template) and none is given: the install fails saying what to set', async () => {
      await assert.rejects(
        render({ 'networkPolicy.enabled': true }),
        /networkPolicy\.enabled needs the API server's addresses: .*Set networkPolicy\.apiServer\.cidrs/,
      );
    });
  });

  test('monitoring objects come with the labels the Prometheus and Grafana selectors need', async () => {
    const objects = await render({
      ...everything,
      'metrics.serviceMonitor.labels': { release: 'kube-prometheus-stack' },
      'metrics.prometheusRule.labels': { release: 'kube-prometheus-stack' },
    });
    const monitors = objects.filter((o) => o.kind === 'ServiceMonitor');
    assert.deepEqual(
      monitors.map((o) => [o.metadata.name, o.metadata.namespace, o.metadata.labels?.['release']]),
      [
        ['rcaudit-runtimeclass-audit-operator', 'rcaudit', 'kube-prometheus-stack'],
        ['rcaudit-runtimeclass-audit-agent', 'rcaudit-agent', 'kube-prometheus-stack'],
      ],
    );
    const operatorEndpoint = (monitors[0]?.['spec'] as { endpoints: { honorLabels?: boolean }[] }).endpoints[0];
    assert.equal(operatorEndpoint?.honorLabels, true, "the operator's namespace/pod labels name the audited pod");
    assert.equal(findObject(objects, 'PrometheusRule').metadata.labels?.['release'], 'kube-prometheus-stack');
    const dashboard = findObject(objects, 'ConfigMap', 'rcaudit-runtimeclass-audit-dashboard');
    assert.equal(dashboard.metadata.labels?.['grafana_dashboard'], '1');
    const json = (dashboard['data'] as Record<string, string>)['runtimeclass-audit.json'] ?? '';
    assert.deepEqual(JSON.parse(json), JSON.parse(readFileSync(join(CHART, 'files', 'dashboards', 'runtimeclass-audit.json'), 'utf8')));
    const ns = findObject(objects, 'Namespace', 'rcaudit-agent');
    assert.equal(ns.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
    assert.equal(findObject(objects, 'DaemonSet').metadata.namespace, 'rcaudit-agent');
    findObject(objects, 'ValidatingAdmissionPolicy');
    findObject(objects, 'ValidatingAdmissionPolicyBinding');
  });
});

describe('alerts', () => {
  test('promtool checks the rendered rules and passes test/alerts, which covers every alert', async () => {
    const rule = findObject(await render({ 'metrics.prometheusRule.enabled': true }), 'PrometheusRule');
    const groups = (rule['spec'] as { groups: { rules: { alert: string }[] }[] }).groups;
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
    const testFile = join(REPO_ROOT, 'test', 'alerts', 'runtimeclass-audit.test.yaml');
    copyFileSync(testFile, join(dir, 'alerts.test.yaml'));
    const check = await execFileAsync(join(toolDir('prometheus'), 'promtool'), ['check', 'rules', 'rules.yaml'], { cwd: dir });
    assert.match(check.stdout, /SUCCESS: 11 rules found/);
    const run = await execFileAsync(join(toolDir('prometheus'), 'promtool'), ['test', 'rules', 'alerts.test.yaml'], { cwd: dir }).catch((err: unknown) => {
      throw new Error(`promtool test rules failed:\n${String((err as { stdout?: string }).stdout)}${String((err as { stderr?: string }).stderr)}`);
    });
    assert.match(run.stdout, /SUCCESS/);
    const tested = new Set([...readFileSync(testFile, 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
    const alerts = groups.flatMap((g) => g.rules.map((r) => r.alert));
    assert.deepEqual(
      alerts.filter((a) => !tested.has(a)),
      [],
      'every alert has a promtool test',
    );
  });
});

describe('the Grafana dashboard', () => {
  interface Target {
    refId: string;
    expr: string;
    datasource: { uid: string };
  }
  interface Panel {
    id: number;
    type: string;
    title: string;
    gridPos: { x: number; y: number; w: number; h: number };
    targets?: Target[];
    datasource?: { uid: string };
  }
  const dashboard = JSON.parse(readFileSync(join(CHART, 'files', 'dashboards', 'runtimeclass-audit.json'), 'utf8')) as {
    uid: string;
    title: string;
    schemaVersion: number;
    panels: Panel[];
    templating: { list: { name: string; type: string }[] };
  };

  test('is a well-formed Grafana dashboard: unique panel ids, panels inside the 24-column grid, every query on the chosen data source', () => {
    assert.equal(dashboard.uid, 'runtimeclass-audit');
    assert.ok(dashboard.schemaVersion >= 36, 'a schema current Grafana versions read without migration');
    assert.deepEqual(
      dashboard.templating.list.map((v) => `${v.name}:${v.type}`),
      ['datasource:datasource', 'operator_job:query', 'agent_job:query'],
    );
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const panel of dashboard.panels) {
      assert.ok(panel.gridPos.x >= 0 && panel.gridPos.x + panel.gridPos.w <= 24 && panel.gridPos.h > 0, `${panel.title}: gridPos`);
      if (panel.type === 'row') continue;
      assert.ok(['stat', 'timeseries', 'table'].includes(panel.type), `${panel.title}: type ${panel.type}`);
      assert.equal(panel.datasource?.uid, '${datasource}', `${panel.title}: data source`);
      assert.ok(panel.targets !== undefined && panel.targets.length > 0, `${panel.title}: has queries`);
      for (const target of panel.targets) {
        assert.equal(target.datasource.uid, '${datasource}', `${panel.title}/${target.refId}`);
        assert.match(target.expr, /job=~"\$(operator|agent)_job"/, `${panel.title}/${target.refId} selects the chosen job`);
      }
    }
    const titles = dashboard.panels.map((p) => p.title);
    for (const needed of [
      'Mismatched pods by namespace',
      'Mismatched pods by RuntimeClass',
      'Unverified pods',
      'Nodes reporting',
      'CRI call latency',
      'CRI errors',
      'Reconcile latency',
    ]) {
      assert.ok(titles.includes(needed), `a panel "${needed}"`);
    }
  });

  test('queries only metrics the agent and operator export', async () => {
    const metrics = [...(await new AgentMetrics().registry.getMetricsAsJSON()), ...(await new OperatorMetrics().registry.getMetricsAsJSON())];
    // A histogram is queried by its series' names.
    const exported = new Set(metrics.flatMap((m) => (String(m.type) === 'histogram' ? ['_bucket', '_sum', '_count'] : ['']).map((suffix) => m.name + suffix)));
    const used = dashboard.panels.flatMap((p) => p.targets ?? []).flatMap((t) => [...t.expr.matchAll(/\b(rcaudit_[a-z_]+)\b/g)].map((m) => m[1] ?? ''));
    assert.ok(used.length > 20);
    assert.deepEqual(
      [...new Set(used)].filter((name) => !exported.has(name)),
      [],
    );
  });
});
