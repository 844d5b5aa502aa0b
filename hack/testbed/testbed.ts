// Access to the running testbed (npm run testbed:up) for integration and
// end-to-end tests: its layout from .testbed/testbed.json, kubectl with the
// admin kubeconfig, and a CRI client straight to a node's runtime.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CriAdminClient } from './cri-admin.ts';
import { minorOf, REPO_ROOT } from '../versions.ts';

const execFileAsync = promisify(execFile);

export interface TestbedNode {
  name: string;
  ip: string;
  runtime: 'containerd' | 'cri-o';
  /** As the runtime reports it in CRI's Version, without a "v": 2.4.2, 1.34.0. */
  runtimeVersion: string;
  /** Whether the node has the gvisor handler (runsc): the containerd nodes. */
  gvisor: boolean;
  /** The runtime's own socket: the truth, bypassing the kubelet's path. */
  criEndpoint: string;
  /** What the kubelet talks to (the handler-blanking proxy). */
  kubeletCriEndpoint: string;
  /** The proxy blanks RunPodSandbox's handler for pods in namespaces matching this. */
  brokenNamespaces: string;
  /** The kubelet's cgroup root, under which every pod's cgroup goes. */
  cgroupRoot: string;
}

export interface Testbed {
  kubernetesVersion: string;
  kubeconfig: string;
  binDirs: string[];
  pauseImage: string;
  /** host:port of the testbed's registry (plain HTTP, on loopback). */
  registry: string;
  nodes: TestbedNode[];
}

/** The testbed's Kubernetes minor (37 for v1.37.2): what a test on an older one checks differently. */
export function kubernetesMinor(testbed: Testbed): number {
  return minorOf(testbed.kubernetesVersion);
}

export function loadTestbed(): Testbed {
  const file = join(REPO_ROOT, '.testbed', 'testbed.json');
  if (!existsSync(file)) throw new Error(`${file} not found: run npm run testbed:up first`);
  return JSON.parse(readFileSync(file, 'utf8')) as Testbed;
}

/**
 * The testbed's node number `index`: 0, containerd 2.x with "broken-*"
 * namespaces; 1, containerd 1.7, whose kubelet drops every handler (kuscia's);
 * 2, CRI-O with "broken-*" namespaces.
 */
export function testbedNode(testbed: Testbed, index: number): TestbedNode {
  const node = testbed.nodes[index];
  if (node === undefined) throw new Error(`the testbed has no node number ${String(index)}`);
  return node;
}

/**
 * The node's kubelet manifest directory (its staticPodPath): a pod written
 * there as a file runs as a static pod, with a mirror pod in the API.
 */
export function staticPodDir(node: TestbedNode): string {
  return join(REPO_ROOT, '.testbed', 'nodes', node.name, 'kubelet', 'manifests');
}

/**
 * The testbed's VMM image (hack/testbed/vmm-image.sh: Debian's QEMU, and a
 * binary named cloud-hypervisor), built once and loaded into every node;
 * its name.
 */
export async function vmmImage(): Promise<string> {
  const { stdout } = await execFileAsync('bash', [join(REPO_ROOT, 'hack', 'testbed', 'vmm-image.sh')], { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

/** What kubectl (and helm) need in their environment to reach the testbed with its own binaries. */
export function kubectlEnv(testbed: Testbed): { KUBECONFIG: string; PATH: string } {
  return { KUBECONFIG: testbed.kubeconfig, PATH: [...testbed.binDirs, process.env['PATH']].join(':') };
}

export async function kubectl(testbed: Testbed, args: string[], input?: string): Promise<string> {
  const env = { ...process.env, ...kubectlEnv(testbed) };
  const child = execFileAsync('kubectl', args, { env, maxBuffer: 64 * 1024 * 1024 });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  const { stdout } = await child;
  return stdout;
}

/** `kubectl apply` of `objects`, as one List. */
export async function applyObjects(testbed: Testbed, objects: object[]): Promise<string> {
  return kubectl(testbed, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
}

export function criClient(node: TestbedNode): CriAdminClient {
  return new CriAdminClient(node.criEndpoint, { deadlineMs: 10_000 });
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
}

/** Creates a namespace and waits for its default ServiceAccount, without which no pod is admitted. */
export async function createNamespace(testbed: Testbed, name: string): Promise<void> {
  await kubectl(testbed, ['create', 'namespace', name]);
  await defaultServiceAccount(testbed, name);
}

/**
 * Waits for a namespace's default ServiceAccount. Usually a moment; but
 * after a test restarts the API server, the controller-manager's watches
 * were refused while the new server loaded its RBAC and client-go backs
 * them off for up to a minute, so the ServiceAccount controller can be that
 * late (seen: over 30 s).
 */
export async function defaultServiceAccount(testbed: Testbed, namespace: string): Promise<void> {
  await eventually(() => kubectl(testbed, ['get', '-n', namespace, 'serviceaccount', 'default']), 120_000);
}

/** Retries `fn` every 250 ms until it resolves or `timeoutMs` passes; then throws its last error. */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Stops or starts a node's container runtime (hack/testbed/node.sh); `gvisor` starts CRI-O with runsc as a handler too. */
export async function runtime(action: 'stop' | 'start', node: TestbedNode, options: { gvisor?: boolean } = {}): Promise<void> {
  await execFileAsync('bash', ['hack/testbed/node.sh', action, 'runtime', node.name, ...(options.gvisor === true ? ['gvisor'] : [])], { cwd: REPO_ROOT });
}

/**
 * Stops or starts a node's kubelet (hack/testbed/node.sh); start waits until
 * the node is Ready. Started with `version`, it is the same kubelet built to
 * say it is that version (in the node's status too), as an upgraded one would.
 */
export async function kubelet(action: 'stop' | 'start', node: TestbedNode, options: { version?: string } = {}): Promise<void> {
  await execFileAsync('bash', ['hack/testbed/node.sh', action, 'kubelet', node.name, ...(options.version === undefined ? [] : [options.version])], {
    cwd: REPO_ROOT,
  });
}

/**
 * Stops or starts the CRI proxy between a node's kubelet and its runtime
 * (hack/testbed/node.sh): started with `blank`, it blanks the handler in the
 * namespaces that pattern matches instead of the node's own (which testbed
 * notes keep).
 */
export async function criProxy(action: 'stop' | 'start', node: TestbedNode, blank?: string): Promise<void> {
  await execFileAsync('bash', ['hack/testbed/node.sh', action, 'cri-proxy', node.name, ...(blank === undefined ? [] : [blank])], { cwd: REPO_ROOT });
}

/** Stops or starts the testbed's kube-apiserver (hack/testbed/apiserver.sh). */
export async function apiserver(action: 'stop' | 'start'): Promise<void> {
  await execFileAsync('bash', ['hack/testbed/apiserver.sh', action], { cwd: REPO_ROOT });
}

const ETCD = 'http://127.0.0.1:23790';

/** Compacts etcd up to its current revision, through etcd's own JSON gateway: every older resourceVersion is gone. */
export async function compactEtcd(): Promise<number> {
  const post = async (path: string, body: object): Promise<{ header: { revision: string } }> => {
    const res = await fetch(`${ETCD}${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`etcd ${path}: HTTP ${String(res.status)} ${await res.text()}`);
    return (await res.json()) as { header: { revision: string } };
  };
  const { header } = await post('/v3/kv/range', { key: Buffer.from('rcaudit-compact').toString('base64') });
  await post('/v3/kv/compaction', { revision: header.revision, physical: true });
  return Number(header.revision);
}
