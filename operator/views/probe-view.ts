// The probe planner's view of the cache: the classes the audits ask to
// prove, each node with its fingerprint and records, and the probe pods in
// flight. Reads only.
import { createHash } from 'node:crypto';
import type { ClusterCache } from '../cache/cluster-cache.ts';
import type { AuditRecord, PodRecord } from '../cache/records.ts';
import { admits, type CoverageNode, type RuntimeClassRecord } from '../judging/coverage.ts';
import {
  PROOF_LABEL_PREFIX,
  fingerprintText,
  recordsFromLabels,
  type InFlightProbe,
  type ProbeFigure,
  type ProbeNode,
  type ProbeRecord,
  type WantedClass,
} from '../judging/probe-plan.ts';
import type { AuditPolicy } from '../judging/verdict.ts';
import { nodeReport, validAudits } from './node-view.ts';

export type { ProbeFigure };

/** The RuntimeClass a class's probe pods name: same handler, no scheduling (a gated class's own would keep its probes off unproven nodes). */
export const SHADOW_PREFIX = 'rcaudit-probe.';
export const shadowOf = (runtimeClass: string): string => `${SHADOW_PREFIX}${runtimeClass}`;

/** A class to prove, with the audits that ask and the policy each judges its probes by. */
export interface ProbedClass extends WantedClass {
  record: RuntimeClassRecord;
  /** Per audit that asks: its expectations, never its requiredRuntimeClasses (a probe names the shadow class). */
  policies: { audit: string; policy: AuditPolicy }[];
}

const probePolicy = (audit: AuditRecord, deadlineMs: number): AuditPolicy => ({
  expectedRuntimeTypes: audit.spec.expectedRuntimeTypes ?? {},
  expectedIsolation: audit.spec.expectedIsolation ?? {},
  gracePeriodMs: deadlineMs,
});

function coverageNode(cache: ClusterCache, name: string): CoverageNode | undefined {
  const node = cache.nodes.get(name);
  return node === undefined ? undefined : { name, labels: node.labels, taints: node.taints };
}

/** The classes the valid audits ask to prove that exist, by name; the names asked for that do not. */
export function probedClasses(cache: ClusterCache): { classes: ProbedClass[]; missing: string[] } {
  const byName = new Map<string, ProbedClass>();
  const missing = new Set<string>();
  for (const audit of validAudits(cache)) {
    const probes = audit.spec.probes;
    if (probes === undefined) continue;
    // The schema's defaults are filled in (trim.ts).
    const intervalMs = probes.intervalSeconds * 1000;
    const retryMs = probes.retrySeconds * 1000;
    const deadlineMs = probes.deadlineSeconds * 1000;
    for (const name of probes.runtimeClasses) {
      const record = cache.runtimeClass(name);
      if (record === undefined) {
        missing.add(name);
        continue;
      }
      const known = byName.get(name);
      const policy = { audit: audit.name, policy: probePolicy(audit, deadlineMs) };
      if (known !== undefined) {
        known.policies.push(policy);
        known.intervalMs = Math.min(known.intervalMs, intervalMs);
        known.retryMs = Math.min(known.retryMs, retryMs);
        known.deadlineMs = Math.min(known.deadlineMs, deadlineMs);
        continue;
      }
      // Its own proof label left out of its node selector: a gated class is still probed where it is not proven.
      const ungated: RuntimeClassRecord = {
        ...record,
        nodeSelector: Object.fromEntries(Object.entries(record.nodeSelector ?? {}).filter(([k]) => k !== `${PROOF_LABEL_PREFIX}${name}`)),
      };
      byName.set(name, {
        name,
        handler: record.handler,
        uid: record.uid ?? '',
        record,
        intervalMs,
        retryMs,
        deadlineMs,
        policies: [policy],
        admits: (node) => {
          const view = coverageNode(cache, node);
          return view !== undefined && admits(ungated, view);
        },
      });
    }
  }
  return { classes: [...byName.values()].sort((a, b) => a.name.localeCompare(b.name)), missing: [...missing].sort() };
}

/** The handlers a node's runtime reports, as a fingerprint counts them. */
function handlersOf(cache: ClusterCache, node: string): { name: string; version: string; handlers: string[] } | undefined {
  const report = nodeReport(cache, node).report?.spec;
  if (report === undefined) return undefined;
  const { runtime } = report;
  return { name: runtime.name ?? '', version: runtime.version ?? '', handlers: runtime.handlers.map((h) => `${h.name}=${h.runtimeType ?? ''}`) };
}

/** When a workload of each class was last seen Mismatched on the node, from the operator's own verdicts in its report. */
function mismatchedAt(cache: ClusterCache, node: string): Map<string, number> {
  const seen = new Map<string, number>();
  for (const audit of cache.reports.get(node)?.status?.audits ?? []) {
    for (const pod of audit.pods) {
      if (pod.verdict !== 'Mismatched' || pod.runtimeClassName === undefined) continue;
      const at = Date.parse(pod.since);
      if (!Number.isNaN(at)) seen.set(pod.runtimeClassName, Math.max(seen.get(pod.runtimeClassName) ?? 0, at));
    }
  }
  return seen;
}

const NO_RUNTIME = { name: '', version: '', handlers: [] };

/** What a probe of `cls` on the node would depend on now: the Node itself, its kubelet, its runtime and handlers, the class. */
export function nodeFingerprint(cache: ClusterCache, node: string, cls: Pick<WantedClass, 'uid'>): string {
  const runtime = handlersOf(cache, node) ?? NO_RUNTIME;
  const record = cache.nodes.get(node);
  const text = fingerprintText({
    nodeUID: record?.uid ?? '',
    kubeletVersion: record?.kubeletVersion ?? '',
    runtimeName: runtime.name,
    runtimeVersion: runtime.version,
    runtimeClassUID: cls.uid,
    handlers: runtime.handlers,
  });
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/**
 * Each node as the planner sees it: judgeable when its report is current
 * and its runtime answers; its records from its labels, overlaid with the
 * newer ones this replica judged since.
 */
export function probeNodes(cache: ClusterCache, judged: ReadonlyMap<string, ReadonlyMap<string, ProbeRecord>>): ProbeNode[] {
  const nodes: ProbeNode[] = [];
  for (const [name, node] of cache.nodes) {
    const { report, state } = nodeReport(cache, name);
    const since = Date.parse(report?.spec?.runtime.reachableSince ?? '');
    nodes.push({
      name,
      judgeable: report !== undefined && state === 'Reporting',
      fingerprint: (cls) => nodeFingerprint(cache, name, cls),
      records: newest(recordsFromLabels(node.labels), judged.get(name)),
      mismatchedAt: mismatchedAt(cache, name),
      ...(Number.isNaN(since) ? {} : { runtimeSince: since }),
    });
  }
  return nodes.sort((a, b) => a.name.localeCompare(b.name));
}

/** A node's records from its labels, overlaid with the newer ones this replica judged since. */
function newest(fromLabels: Map<string, ProbeRecord>, judged: ReadonlyMap<string, ProbeRecord> | undefined): Map<string, ProbeRecord> {
  for (const [cls, record] of judged ?? []) if ((fromLabels.get(cls)?.probedAt ?? -1) <= record.probedAt) fromLabels.set(cls, record);
  return fromLabels;
}

/** The probe pods in the cache: each one's class (from its shadow RuntimeClass), node and start. */
export function probesInFlight(cache: ClusterCache, now: number): (InFlightProbe & { pod: string; record: PodRecord })[] {
  const probes: (InFlightProbe & { pod: string; record: PodRecord })[] = [];
  for (const pod of cache.pods.values()) {
    if (pod.probe === undefined) continue;
    const shadow = pod.runtimeClassName ?? '';
    probes.push({
      node: pod.nodeName ?? '',
      runtimeClass: shadow.startsWith(SHADOW_PREFIX) ? shadow.slice(SHADOW_PREFIX.length) : '',
      pod: pod.name,
      startedAt: pod.boundAt ?? now,
      record: pod,
    });
  }
  return probes;
}

/** A node's figure for one class: its last outcome, or not probed (yet, or since a change: a proof for another fingerprint is no proof now). */
function figureOf(node: ProbeNode, cls: ProbedClass, judged: ReadonlyMap<string, ReadonlyMap<string, ProbeRecord>>): ProbeFigure {
  const record = node.records.get(cls.name);
  const current = record !== undefined && (record.outcome !== 'Proven' || record.fingerprint === node.fingerprint(cls));
  if (!current) return { runtimeClass: cls.name, node: node.name, outcome: 'NotProbed', reason: 'NotProbed' };
  const message = judged.get(node.name)?.get(cls.name) === record ? { message: record.message } : {};
  return { runtimeClass: cls.name, node: node.name, outcome: record.outcome, reason: record.reason, ...message };
}

/** Every wanted class on every node its scheduling admits: its last outcome, or not probed yet. */
export function probeFigures(cache: ClusterCache, judged: ReadonlyMap<string, ReadonlyMap<string, ProbeRecord>>): ProbeFigure[] {
  const { classes } = probedClasses(cache);
  const figures: ProbeFigure[] = [];
  for (const node of probeNodes(cache, judged)) for (const cls of classes) if (cls.admits(node.name)) figures.push(figureOf(node, cls, judged));
  return figures;
}
