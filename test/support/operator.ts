// Running the operator against the testbed's API server, and the objects
// its tests need: Nodes with no kubelet behind them (so a test controls what
// their "agents" say), agent pods whose readiness the test sets as a kubelet
// would, pods bound to those nodes, and reports written as an agent would.
import type { NodeSandboxReportSpec, NodeSandboxReportStatus, PodVerdictEntry, ReportedSandbox } from '../../api/v1alpha1/node-sandbox-report.ts';
import type { RuntimeClassAuditStatus } from '../../api/v1alpha1/runtime-class-audit.ts';
import { freePort, startNodeScript, type Started } from './processes.ts';
import { scrape, scrapeMetrics, scraperToken } from './scrape.ts';
import { defaultServiceAccount, eventually, kubectl, uniqueName, type Testbed } from '../../hack/testbed/testbed.ts';

export interface RunningOperator {
  process: Started;
  port: number;
  /** The /metrics text, scraped over HTTPS with a token allowed to get it. */
  metrics(): Promise<string>;
}

export async function startOperator(testbed: Testbed, args: string[]): Promise<RunningOperator> {
  const port = await freePort();
  const proc = startNodeScript('operator/main.ts', ['--kubeconfig', testbed.kubeconfig, '--listen-host', '127.0.0.1', '--listen-port', String(port), ...args]);
  const metrics = async (): Promise<string> => scrapeMetrics(`https://127.0.0.1:${String(port)}/metrics`, await scraperToken(testbed));
  await eventually(async () => {
    const res = await scrape(`https://127.0.0.1:${String(port)}/readyz`);
    if (res.status !== 200) throw new Error(`operator not ready: ${String(res.status)}\n${proc.output()}`);
  }, 60_000);
  return { process: proc, port, metrics };
}

/** The value of the first series of `name` whose labels include all of `labels`; undefined when there is none. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** The sum of every series of `name` whose labels include all of `labels`. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/**
 * Applies `objects`. A NodeSandboxReport without owners gets its Node as
 * owner, as the agent writes it (the operator ignores a report its Node does
 * not own); one for a Node that does not exist is applied as it is.
 */
export async function apply(testbed: Testbed, ...objects: object[]): Promise<void> {
  const items = await Promise.all(objects.map((o) => ownedByItsNode(testbed, o)));
  await kubectl(testbed, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
}

async function ownedByItsNode(testbed: Testbed, object: object): Promise<object> {
  const o = object as { kind?: string; metadata: { name: string; ownerReferences?: unknown[] } };
  if (o.kind !== 'NodeSandboxReport' || o.metadata.ownerReferences !== undefined) return object;
  const uid = (await kubectl(testbed, ['get', 'node', o.metadata.name, '--ignore-not-found', '-o', 'jsonpath={.metadata.uid}'])).trim();
  return uid === '' ? object : { ...o, metadata: { ...o.metadata, ownerReferences: [nodeOwner(o.metadata.name, uid)] } };
}

export const nodeOwner = (name: string, uid: string): object => ({ apiVersion: 'v1', kind: 'Node', name, uid });

export const fakeNode = (name: string): object => ({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'rcaudit.dev/fake-node': 'true' } } });

/** A RuntimeClassAudit of the pods in the namespaces labelled rcaudit-test=`id`, with `spec` beyond that. */
export function scopedAudit(name: string, id: string, spec: Record<string, unknown> = {}): object {
  return {
    apiVersion: 'rcaudit.dev/v1alpha1',
    kind: 'RuntimeClassAudit',
    metadata: { name },
    spec: { namespaceSelector: { matchLabels: { 'rcaudit-test': id } }, ...spec },
  };
}

export function namespace(name: string, labels: Record<string, string>): object {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

export function pod(namespace: string, name: string, node: string, extra: { runtimeClassName?: string; labels?: Record<string, string> } = {}): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name, ...(extra.labels === undefined ? {} : { labels: extra.labels }) },
    spec: {
      nodeName: node,
      ...(extra.runtimeClassName === undefined ? {} : { runtimeClassName: extra.runtimeClassName }),
      automountServiceAccountToken: false,
      // A fake node has no kubelet: the pod must not hang the namespace's deletion.
      terminationGracePeriodSeconds: 0,
      containers: [{ name: 'main', image: 'localhost/rcaudit/pause:testbed' }],
    },
  };
}

export async function podUid(testbed: Testbed, namespace: string, name: string): Promise<string> {
  return (await kubectl(testbed, ['get', 'pod', '-n', namespace, name, '-o', 'jsonpath={.metadata.uid}'])).trim();
}

/** Sets a pod's Ready condition, as the kubelet of its node would. */
export async function setPodReady(testbed: Testbed, namespace: string, name: string, ready: boolean): Promise<void> {
  const status = ready ? 'True' : 'False';
  const patch = { status: { phase: 'Running', conditions: [{ type: 'Ready', status, lastTransitionTime: new Date().toISOString() }] } };
  await kubectl(testbed, ['patch', 'pod', '-n', namespace, name, '--subresource=status', '--type=strategic', '-p', JSON.stringify(patch)]);
}

/** What a sandbox on the kuscia path gets: the kubelet asked for "", and the runtime's default (runc) ran it. */
export const KUSCIA_SANDBOX = { requestedHandler: '', resolvedHandler: 'runc', runtimeType: 'io.containerd.runc.v2' } as const;

export function sandbox(uid: string, over: Partial<ReportedSandbox> & { namespace: string; name: string }): ReportedSandbox {
  return {
    id: `sb-${uid.slice(0, 8)}-${String(over.attempt ?? 0)}`,
    podUID: uid,
    attempt: 0,
    state: 'Ready',
    createdAt: '2026-11-23T10:00:00Z',
    requestedHandler: 'kata',
    resolvedHandler: 'kata',
    runtimeType: 'io.containerd.kata.v2',
    ...over,
  };
}

/** A report's spec: the runtime answers, containerd with runc as its default and a kata handler, unless `runtime` says otherwise. */
export function reportSpec(node: string, sandboxes: ReportedSandbox[], runtime: Partial<NodeSandboxReportSpec['runtime']> = {}): NodeSandboxReportSpec {
  return {
    nodeName: node,
    runtime: {
      reachable: true,
      infoFormat: 'containerd',
      defaultHandler: 'runc',
      handlers: [
        { name: 'kata', runtimeType: 'io.containerd.kata.v2' },
        { name: 'runc', runtimeType: 'io.containerd.runc.v2' },
      ],
      ...runtime,
    },
    sandboxes,
  };
}

export function report(node: string, sandboxes: ReportedSandbox[], runtime: Partial<NodeSandboxReportSpec['runtime']> = {}): object {
  return { apiVersion: 'rcaudit.dev/v1alpha1', kind: 'NodeSandboxReport', metadata: { name: node }, spec: reportSpec(node, sandboxes, runtime) };
}

/** A pod's entry in a report status: a matched kata pod, unless `over` says otherwise. */
export function verdictEntry(over: Partial<PodVerdictEntry> = {}): PodVerdictEntry {
  return {
    uid: 'u1',
    namespace: 'ns',
    name: 'vault',
    runtimeClassName: 'kata',
    verdict: 'Matched',
    reason: 'Matched',
    expectedHandler: 'kata',
    since: '2026-11-23T10:00:00.000Z',
    ...over,
  };
}

export async function reportStatus(testbed: Testbed, node: string): Promise<NodeSandboxReportStatus | undefined> {
  const stored = JSON.parse(await kubectl(testbed, ['get', 'nodesandboxreport', node, '-o', 'json'])) as { status?: NodeSandboxReportStatus };
  return stored.status;
}

/** The sandbox of pod namespace/name in its node's report, as the agent reported it (the host's evidence included). */
export async function reportedSandbox(testbed: Testbed, node: string, namespace: string, name: string): Promise<ReportedSandbox | undefined> {
  const stored = JSON.parse(await kubectl(testbed, ['get', 'nodesandboxreport', node, '-o', 'json'])) as { spec?: { sandboxes?: ReportedSandbox[] } };
  return stored.spec?.sandboxes?.find((s) => s.namespace === namespace && s.name === name && s.state === 'Ready');
}

export interface AuditView {
  status?: RuntimeClassAuditStatus;
}

export async function auditStatus(testbed: Testbed, name: string): Promise<AuditView['status']> {
  return (JSON.parse(await kubectl(testbed, ['get', 'runtimeclassaudit', name, '-o', 'json'])) as AuditView).status;
}

export interface EventView {
  metadata: { name: string };
  type: string;
  reason: string;
  message: string;
  count?: number;
  involvedObject: { name: string; uid?: string };
}

export async function podEvents(testbed: Testbed, namespace: string, podName: string, reason?: string): Promise<EventView[]> {
  const list = JSON.parse(await kubectl(testbed, ['get', 'events', '-n', namespace, '--field-selector', `involvedObject.name=${podName}`, '-o', 'json'])) as {
    items: EventView[];
  };
  return list.items.filter((e) => reason === undefined || e.reason === reason);
}

/** Deletes these objects, ignoring those already gone: cleanup must not fail a test. */
export async function deleteAll(testbed: Testbed, kinds: { kind: string; names: string[]; namespace?: string }[]): Promise<void> {
  for (const { kind, names, namespace: ns } of kinds) {
    if (names.length === 0) continue;
    await kubectl(testbed, ['delete', kind, ...names, '--ignore-not-found', '--wait=false', ...(ns === undefined ? [] : ['-n', ns])]).catch(() => undefined);
  }
}

/** One test file's own corner of the testbed, unique per run: a namespace for its pods, a Node with no kubelet, an audit. */
export interface Stage {
  id: string;
  ns: string;
  node: string;
  audit: string;
}

export function stage(prefix: string): Stage {
  const id = uniqueName(prefix);
  return { id, ns: `${id}-pods`, node: `${id}-node`, audit: `${id}-audit` };
}

/** The CRDs, the stage's namespace (labelled rcaudit-test=<id>, for its audit's selector; with its default service account), its Node, and `objects`. */
export async function setUpStage(testbed: Testbed, { id, ns, node }: Stage, ...objects: object[]): Promise<void> {
  await kubectl(testbed, ['apply', '-f', 'charts/runtimeclass-audit/files/crds/']);
  await apply(testbed, namespace(ns, { 'rcaudit-test': id }), fakeNode(node), ...objects);
  await defaultServiceAccount(testbed, ns);
}

/** Deletes `first` (what the test made beside the stage), then the stage's audit, report, namespace (and `namespaces`) and Node. */
export async function tearDownStage(
  testbed: Testbed,
  { ns, node, audit }: Stage,
  extra: { first?: { kind: string; names: string[] }[]; namespaces?: string[] } = {},
): Promise<void> {
  await deleteAll(testbed, [
    ...(extra.first ?? []),
    { kind: 'runtimeclassaudit', names: [audit] },
    { kind: 'nodesandboxreport', names: [node] },
    { kind: 'namespace', names: [ns, ...(extra.namespaces ?? [])] },
    { kind: 'node', names: [node] },
  ]);
}
