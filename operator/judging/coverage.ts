// Handler coverage: for each RuntimeClass, the nodes its scheduling admits,
// which of them can really run its handler, and whether the handler is the
// same runtime on all of them. A RuntimeClass installed where the nodes lack
// its handler (k3s installs them regardless) fails its pods at start; a node
// whose `kata` is really runc runs them unisolated. Pure: nodes, reports and
// RuntimeClasses in, coverage out.
import type { IsolationClass, RuntimeDescription } from '../../api/v1alpha1/node-sandbox-report.ts';

export interface Taint {
  key: string;
  value?: string;
  effect: string;
}

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}

export interface RuntimeClassRecord {
  handler: string;
  /** A RuntimeClass deleted and created again under its name is another one. */
  uid?: string;
  /** scheduling.nodeSelector: the labels a node must have. */
  nodeSelector?: Readonly<Record<string, string>>;
  /** scheduling.tolerations. */
  tolerations?: readonly Toleration[];
}

export interface CoverageNode {
  name: string;
  labels: Readonly<Record<string, string>>;
  /** NoSchedule and NoExecute taints, but the node lifecycle's own (node.kubernetes.io/...), which come and go with conditions. */
  taints: readonly Taint[];
  /** node.status.runtimeHandlers' names, where the kubelet fills it. */
  runtimeHandlers?: readonly string[];
  /** The node's current report, when one speaks for it. */
  runtime?: Pick<RuntimeDescription, 'infoFormat' | 'handlers' | 'name'>;
  /** Per handler, the classes of isolation the host showed for its sandboxes (unknown left out). */
  isolation?: ReadonlyMap<string, ReadonlySet<IsolationClass>>;
}

export interface DriftEntry {
  runtime: string;
  nodes: number;
  sampleNodes: string[];
}

export interface Coverage {
  name: string;
  handler: string;
  nodes: number;
  covered: number;
  uncovered: number;
  unknown: number;
  uncoveredNodes: string[];
  /** Empty unless the handler is not the same runtime everywhere. */
  drift: DriftEntry[];
}

/** An audit's coverage: its RuntimeClasses' (every one when it requires none), and the required ones that do not exist. */
export interface AuditCoverage {
  coverage: Coverage[];
  /** Required RuntimeClasses that do not exist. */
  missing: string[];
}

export const MAX_UNCOVERED_SAMPLE = 20;
const MAX_DRIFT_ENTRIES = 16;
const MAX_DRIFT_SAMPLE = 5;

/** Kubernetes' rule: a toleration with an empty key and Exists tolerates everything; an empty effect matches every effect. */
export function tolerates(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect !== undefined && toleration.effect !== '' && toleration.effect !== taint.effect) return false;
  const exists = toleration.operator === 'Exists';
  if (toleration.key === undefined || toleration.key === '') return exists;
  if (toleration.key !== taint.key) return false;
  return exists || (toleration.value ?? '') === (taint.value ?? '');
}

/** Whether a RuntimeClass's scheduling admits a node: its node selector matches and each of the node's taints is tolerated. */
export function admits(runtimeClass: RuntimeClassRecord, node: CoverageNode): boolean {
  const selected = Object.entries(runtimeClass.nodeSelector ?? {}).every(([k, v]) => node.labels[k] === v);
  return selected && node.taints.every((taint) => (runtimeClass.tolerations ?? []).some((t) => tolerates(t, taint)));
}

type Has = 'covered' | 'uncovered' | 'unknown';

/** Whether a node's runtime has a handler: its agent's report when that lists handlers, else node.status.runtimeHandlers, else nobody knows. */
export function hasHandler(node: CoverageNode, handler: string): Has {
  if (node.runtime !== undefined && node.runtime.infoFormat !== 'unknown') {
    return node.runtime.handlers.some((h) => h.name === handler) ? 'covered' : 'uncovered';
  }
  if (node.runtimeHandlers !== undefined) return node.runtimeHandlers.includes(handler) ? 'covered' : 'uncovered';
  return 'unknown';
}

/**
 * What the handler is on a node, in terms that compare across nodes: a
 * runtime type means something only within one runtime (containerd says
 * io.containerd.runc.v2 where CRI-O says oci), and CRI-O's runtime path is
 * what tells its runc from its runsc.
 */
function runtimeKind(node: CoverageNode, handler: string): { runtime: string; kind: string } | undefined {
  const configured = node.runtime?.handlers.find((h) => h.name === handler);
  if (node.runtime === undefined || configured === undefined) return undefined;
  const runtime = node.runtime.infoFormat;
  return { runtime, kind: [runtime, configured.runtimeType ?? 'unknown', configured.runtimePath].filter((p) => p !== undefined).join(' ') };
}

function entriesOf(groups: ReadonlyMap<string, string[]>): DriftEntry[] {
  return [...groups]
    .map(([runtime, nodes]) => ({ runtime, nodes: nodes.length, sampleNodes: [...nodes].sort().slice(0, MAX_DRIFT_SAMPLE) }))
    .sort((a, b) => b.nodes - a.nodes || a.runtime.localeCompare(b.runtime));
}

function addTo(groups: Map<string, string[]>, key: string, node: string): void {
  const list = groups.get(key);
  if (list === undefined) groups.set(key, [node]);
  else list.push(node);
}

/**
 * Drift: the handler is not the same runtime on every node that has it.
 * Two measures, each compared only where it means the same: the runtime
 * type within one runtime (so containerd and CRI-O nodes side by side are
 * no drift), and the isolation the host showed of the handler's sandboxes.
 */
export function driftOf(nodes: readonly CoverageNode[], handler: string): DriftEntry[] {
  const byRuntime = new Map<string, Map<string, string[]>>();
  const byIsolation = new Map<string, string[]>();
  for (const node of nodes) {
    const kind = runtimeKind(node, handler);
    if (kind !== undefined) {
      const groups = byRuntime.get(kind.runtime) ?? new Map<string, string[]>();
      addTo(groups, kind.kind, node.name);
      byRuntime.set(kind.runtime, groups);
    }
    for (const isolation of node.isolation?.get(handler) ?? []) addTo(byIsolation, `isolation ${isolation}`, node.name);
  }
  const drifting = [...byRuntime.values(), byIsolation].filter((groups) => groups.size > 1);
  return drifting.flatMap(entriesOf).slice(0, MAX_DRIFT_ENTRIES);
}

/** One RuntimeClass's coverage over the nodes. */
export function coverageOf(name: string, runtimeClass: RuntimeClassRecord, nodes: readonly CoverageNode[]): Coverage {
  const admitted = nodes.filter((n) => admits(runtimeClass, n));
  const counts: Record<Has, CoverageNode[]> = { covered: [], uncovered: [], unknown: [] };
  for (const node of admitted) counts[hasHandler(node, runtimeClass.handler)].push(node);
  return {
    name,
    handler: runtimeClass.handler,
    nodes: admitted.length,
    covered: counts.covered.length,
    uncovered: counts.uncovered.length,
    unknown: counts.unknown.length,
    uncoveredNodes: counts.uncovered
      .map((n) => n.name)
      .sort()
      .slice(0, MAX_UNCOVERED_SAMPLE),
    drift: driftOf(counts.covered, runtimeClass.handler),
  };
}

/** Every named RuntimeClass's coverage, by name; names no RuntimeClass has are left out (the caller reports them). */
export function coverage(names: readonly string[], runtimeClasses: ReadonlyMap<string, RuntimeClassRecord>, nodes: readonly CoverageNode[]): Coverage[] {
  const out: Coverage[] = [];
  for (const name of [...names].sort()) {
    const rc = runtimeClasses.get(name);
    if (rc !== undefined) out.push(coverageOf(name, rc, nodes));
  }
  return out;
}
