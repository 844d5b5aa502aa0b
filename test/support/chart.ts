// The Helm chart as tests use it: helm (built by hack/tools.sh, cached),
// `helm template` parsed into objects, and the values that fit the testbed.
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { podOfCgroup } from '../../agent/evidence/classify.ts';
import { kubectl, kubernetesMinor, uniqueName, type Testbed, type TestbedNode } from '../../hack/testbed/testbed.ts';
import { pinnedVersion, REPO_ROOT } from '../../hack/versions.ts';

const execFileAsync = promisify(execFile);

export const CHART = join(REPO_ROOT, 'charts', 'runtimeclass-audit');
/** What `helm template` pretends the cluster runs (it has no cluster to ask). */
export const KUBE_VERSION = pinnedVersion('KUBE_VERSION');

/** One object of the rendered chart (unlike kube/reflector.ts's KubeObject, what a template writes always has these). */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

const toolDirs = new Map<string, string>();
/** A test tool's directory from hack/tools.sh, which builds or fetches it once and caches it. */
export function toolDir(tool: 'go' | 'helm' | 'crane' | 'oras' | 'prometheus' | 'monitoring-crds'): string {
  let dir = toolDirs.get(tool);
  if (dir === undefined) {
    dir = execFileSync('bash', [join(REPO_ROOT, 'hack', 'tools.sh'), tool], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
    toolDirs.set(tool, dir);
  }
  return dir;
}

/** Runs helm; rejects with its stderr in the message when it fails. */
export async function helm(args: string[], env: Record<string, string> = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync(join(toolDir('helm'), 'helm'), args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`helm ${args.join(' ')} failed: ${stderr}`, { cause: err });
  }
}

/** `--set`/`--set-json` style arguments for a values object. */
export function valueArgs(values: Record<string, unknown>): string[] {
  return Object.entries(values).flatMap(([key, value]) => ['--set-json', `${key}=${JSON.stringify(value)}`]);
}

/** The one value an install from the repository needs (the image's registry), as a test that renders the chart gives it. */
export const SOME_REGISTRY = { 'image.registry': 'registry.example.com/rcaudit' };

/** The chart rendered with `values` (dotted keys, over SOME_REGISTRY), as objects. */
export async function render(
  values: Record<string, unknown> = {},
  options: { release?: string; namespace?: string; kubeVersion?: string } = {},
): Promise<Manifest[]> {
  const out = await helm([
    'template',
    options.release ?? 'rcaudit',
    CHART,
    '--namespace',
    options.namespace ?? 'rcaudit',
    '--kube-version',
    options.kubeVersion ?? KUBE_VERSION,
    ...valueArgs({ ...SOME_REGISTRY, ...values }),
  ]);
  return parseAllDocuments(out)
    .map((doc) => doc.toJSON() as Manifest | null)
    .filter((o): o is Manifest => o !== null);
}

export function findObject(objects: Manifest[], kind: string, name?: string): Manifest {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found === undefined) throw new Error(`no ${kind} ${name ?? ''} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

/**
 * The names an end-to-end test installs the chart under, unique per run:
 * the chart's and the agent's namespaces, a namespace of honest pods, one
 * whose handlers the kuscia node's CRI proxy drops (it blanks `broken-*`),
 * and the test's audit.
 */
export function installNames(prefix: string): { id: string; system: string; agentNs: string; honestNs: string; brokenNs: string; audit: string } {
  const id = uniqueName(prefix);
  return { id, system: `${id}-system`, agentNs: `${id}-agent`, honestNs: `${id}-honest`, brokenNs: `broken-${id}`, audit: `${id}-audit` };
}

/**
 * The first Kubernetes minor whose service account tokens name the pod's node,
 * which reportPolicy (on by default) needs; the chart refuses it before.
 */
export const REPORT_POLICY_MINOR = 32;
/** The first minor whose recursively read-only mounts are on by default (beta; alpha, gated, in 1.30). */
export const RECURSIVE_READ_ONLY_MINOR = 31;

/**
 * The values that fit the testbed's nodes: each node's runtime socket, and on
 * a Kubernetes older than reportPolicy needs, that policy off, as the chart's
 * refusal tells a user there. The image comes from testbedImage() or a release.
 */
export function testbedValues(testbed: Testbed): Record<string, unknown> {
  const socket = (node: TestbedNode): string => node.criEndpoint.replace(/^unix:\/\//, '');
  const [first, ...others] = testbed.nodes;
  if (first === undefined) throw new Error('the testbed has no nodes');
  // Both nodes share one host's filesystem, so each needs its own socket path: by hostname.
  return {
    'agent.criSocket': socket(first),
    'agent.criSocketByNodeLabel': { key: 'kubernetes.io/hostname', sockets: Object.fromEntries(others.map((n) => [n.name, socket(n)])) },
    ...(kubernetesMinor(testbed) < REPORT_POLICY_MINOR ? { 'reportPolicy.enabled': false } : {}),
  };
}

export const CRDS = ['nodesandboxreports.rcaudit.dev', 'runtimeclassaudits.rcaudit.dev'];

/**
 * Adopts CRDs that exist already (applied by hand, or kept by an earlier
 * release's uninstall) into `release`, the way the chart's README tells
 * users to, so that `helm install` updates them instead of refusing.
 */
export async function adoptCrds(kubectl: (args: string[]) => Promise<string>, release: string, namespace: string): Promise<void> {
  for (const crd of CRDS) {
    if ((await kubectl(['get', 'crd', crd, '--ignore-not-found', '-o', 'name'])).trim() === '') continue;
    await kubectl(['annotate', '--overwrite', 'crd', crd, `meta.helm.sh/release-name=${release}`, `meta.helm.sh/release-namespace=${namespace}`]);
    await kubectl(['label', '--overwrite', 'crd', crd, 'app.kubernetes.io/managed-by=Helm']);
  }
}

/**
 * The host pid of the chart's process in pod `podUid`: the process in that
 * pod's cgroup whose command line runs `script` (e.g. "agent/main."). The
 * testbed's nodes share this host, so their pods' processes are in our /proc.
 */
export function chartProcessPid(podUid: string, script: string): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (podOfCgroup(readFileSync(`/proc/${entry}/cgroup`, 'utf8')) === podUid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(script))
        return Number(entry);
    } catch {
      // Gone meanwhile.
    }
  }
  throw new Error(`no process running ${script} in pod ${podUid}`);
}

/** A process's resident set (VmRSS) in MiB. */
export const rssMiB = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

/** CPU seconds a process has used (utime + stime, in clock ticks of 1/100 s). */
export function cpuSeconds(pid: number): number {
  const fields =
    readFileSync(`/proc/${String(pid)}/stat`, 'utf8')
      .split(') ')[1]
      ?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export interface Published {
  /** What image.registry is set to. */
  registry: string;
  /** oci://... of the chart. */
  chartRef: string;
  version: string;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Publishes this tree's image and chart (or, with `--source`, an earlier
 * release's) to `path` in the testbed's registry with hack/release.sh, as a
 * release is published anywhere. Rejects with the script's stderr.
 */
export async function publishToTestbed(testbed: Testbed, path: string, args: string[] = []): Promise<Published> {
  const registry = `${testbed.registry}/${path}`;
  const started = Date.now();
  try {
    const { stdout, stderr } = await execFileAsync('bash', ['hack/release.sh', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, RCA_REGISTRY: registry },
      maxBuffer: 16 * 1024 * 1024,
    });
    const version = /^chart \S+ --version (\S+)$/m.exec(stdout)?.[1] ?? '';
    return { registry, chartRef: `oci://${registry}/charts/runtimeclass-audit`, version, stdout, stderr, ms: Date.now() - started };
  } catch (err) {
    throw new Error(`hack/release.sh ${args.join(' ')} failed: ${(err as { stderr?: string }).stderr ?? String(err)}`, { cause: err });
  }
}

let testbedImagePublished: Promise<Record<string, unknown>> | undefined;

/**
 * This tree's image, published to the testbed's registry (path "testbed",
 * once per process) and pulled by its digest, so a node never runs an
 * older build under the same tag: the image values for the tests and
 * benchmarks that install the chart from the tree. (Images loaded straight
 * into the nodes' runtimes were dropped: containerd 1.7's CRI did not see a
 * loaded name for an image it had pulled under another, and the kubelet
 * said ErrImageNeverPull.)
 */
export function testbedImage(testbed: Testbed): Promise<Record<string, unknown>> {
  testbedImagePublished ??= publishToTestbed(testbed, 'testbed', ['--force']).then((p) => {
    const digest = /^image \S+@(sha256:[0-9a-f]{64})$/m.exec(p.stdout)?.[1];
    if (digest === undefined) throw new Error(`hack/release.sh named no digest: ${p.stdout}`);
    return { 'image.registry': p.registry, 'image.digest': digest, 'image.pullPolicy': 'IfNotPresent' };
  });
  return testbedImagePublished;
}

/** `helm install` of the chart from the tree, with this tree's image (testbedImage()), in `namespace` (created), CRDs adopted first; waits for it. */
export async function installFromTree(testbed: Testbed, release: string, namespace: string, values: Record<string, unknown>): Promise<void> {
  await adoptCrds((args) => kubectl(testbed, args), release, namespace);
  const args = ['install', release, CHART, '-n', namespace, '--create-namespace', '--wait', '--timeout', '240s'];
  await helm([...args, ...valueArgs({ ...(await testbedImage(testbed)), ...values })], { KUBECONFIG: testbed.kubeconfig });
}

/** `helm upgrade --install` of the chart as release `release` in a namespace of that name, CRDs adopted first; waits for it. */
export async function upgradeInstall(testbed: Testbed, release: string, values: Record<string, unknown>, timeout = '300s'): Promise<void> {
  await adoptCrds((args) => kubectl(testbed, args), release, release);
  await helm(['upgrade', '--install', release, CHART, '-n', release, '--create-namespace', '--wait', '--timeout', timeout, ...valueArgs(values)], {
    KUBECONFIG: testbed.kubeconfig,
  });
}
