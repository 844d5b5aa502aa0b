// Each watched object trimmed to its record (records.ts) as it arrives,
// strings that repeat held once (intern.ts), so 150,000 pods fit in memory.
// Reports and audits are checked against the same schemas the CRDs are
// generated from: the API server enforces them too, but a report written
// under an older or hand-edited CRD must be named as invalid, not crash a
// reconcile. Pure.
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import {
  nodeSandboxReportSpecSchema,
  nodeSandboxReportStatusSchema,
  type NodeSandboxReportSpec,
  type NodeSandboxReportStatus,
} from '../../api/v1alpha1/node-sandbox-report.ts';
import { auditSpecSchema, type RuntimeClassAuditSpec, type RuntimeClassAuditStatus } from '../../api/v1alpha1/runtime-class-audit.ts';
import { POD_CONDITION } from '../../api/v1alpha1/group.ts';
import type { KubeObject } from '../../kube/reflector.ts';
import type { RuntimeClassRecord, Taint, Toleration } from '../judging/coverage.ts';
import type { AuditRecord, NodeRecord, PodRecord, ReportRecord } from './records.ts';
import { intern, internStrings } from './intern.ts';
import { matchesSelector } from '../judging/selection.ts';

const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

const ajv = new Ajv({ allErrors: false, useDefaults: true, strict: true });
// The API server's own keywords: its CEL rules are its to enforce (the patterns they test, ajv cannot read as CEL).
ajv.addVocabulary(['x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-validations']);
(addFormats as unknown as (a: Ajv) => void)(ajv);
const validReportSpec = ajv.compile<NodeSandboxReportSpec>(nodeSandboxReportSpecSchema);
const validReportStatus = ajv.compile<NodeSandboxReportStatus>(nodeSandboxReportStatusSchema);
const validAuditSpec = ajv.compile<RuntimeClassAuditSpec>(auditSpecSchema);

function problem(validate: ValidateFunction): string {
  const first = validate.errors?.[0];
  return first === undefined ? 'invalid' : `${first.instancePath === '' ? '(root)' : first.instancePath} ${first.message ?? 'is invalid'}`;
}

type Fields = Record<string, unknown>;
const fields = (value: unknown): Fields => (typeof value === 'object' && value !== null ? (value as Fields) : {});
const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

const internText = (value: unknown): string | undefined => {
  const t = text(value);
  return t === undefined ? undefined : intern(t);
};

const conditionsOf = (status: Fields): Fields[] => (Array.isArray(status['conditions']) ? status['conditions'].map(fields) : []);

function boundAt(status: Fields, metadata: Fields): number | undefined {
  const scheduled = conditionsOf(status).find((c) => c['type'] === 'PodScheduled' && c['status'] === 'True');
  const when = text(scheduled?.['lastTransitionTime']) ?? text(metadata['creationTimestamp']);
  const ms = when === undefined ? NaN : Date.parse(when);
  return Number.isNaN(ms) ? undefined : ms;
}

function isReady(status: Fields): boolean {
  return conditionsOf(status).some((c) => c['type'] === 'Ready' && c['status'] === 'True');
}

function verifiedCondition(status: Fields): PodRecord['verified'] {
  const c = conditionsOf(status).find((x) => x['type'] === POD_CONDITION);
  return c === undefined ? undefined : { status: String(c['status']), reason: String(c['reason']) };
}

/** Which pods are the agent's: a namespace and labels. */
export interface AgentPodSelector {
  namespace: string;
  matchLabels: Readonly<Record<string, string>>;
}

const isAgentPod = (agents: AgentPodSelector | undefined, namespace: string, labels: Record<string, string>): boolean =>
  agents !== undefined && namespace === agents.namespace && matchesSelector({ matchLabels: agents.matchLabels }, labels);

function probeFacts(status: Fields): NonNullable<PodRecord['probe']> {
  const waiting = waitingOf(status);
  return waiting === undefined ? {} : { waiting };
}

/** Why a probe pod's container waits ("ErrImagePull: ..."), from its status. */
function waitingOf(status: Fields): string | undefined {
  const statuses = status['containerStatuses'];
  const waiting = Array.isArray(statuses) ? fields(fields(fields(statuses[0])['state'])['waiting']) : {};
  const reason = text(waiting['reason']);
  if (reason === undefined) return undefined;
  const message = text(waiting['message']);
  return (message === undefined ? reason : `${reason}: ${message}`).slice(0, 256);
}

/** probeNamespace: the operator's probe pods' namespace, whose pods are marked as probes (never audited as workloads). */
export function trimPod(object: KubeObject, agents: AgentPodSelector | undefined, probeNamespace?: string): PodRecord {
  const metadata = fields(object.metadata);
  const spec = fields(object['spec']);
  const status = fields(object['status']);
  const namespace = intern(text(metadata['namespace']) ?? '');
  const labels = fields(metadata['labels']) as Record<string, string>;
  const phase = status['phase'];
  const record: PodRecord = {
    uid: text(metadata['uid']) ?? '',
    namespace,
    name: text(metadata['name']) ?? '',
    terminated: phase === 'Succeeded' || phase === 'Failed',
  };
  const optional: Record<string, unknown> = {
    nodeName: internText(spec['nodeName']),
    runtimeClassName: internText(spec['runtimeClassName']),
    mirrorOf: text(fields(metadata['annotations'])[MIRROR_ANNOTATION]),
    boundAt: boundAt(status, metadata),
    verified: verifiedCondition(status),
    agentReady: isAgentPod(agents, namespace, labels) ? isReady(status) : undefined,
    probe: probeNamespace !== undefined && namespace === probeNamespace ? probeFacts(status) : undefined,
  };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) Object.assign(record, { [key]: value });
  return record;
}

/** Taints that keep pods off, but the node lifecycle's own (not-ready, unreachable, ...), which follow conditions and would make coverage flap. */
const keepsPodsOff = (t: Taint): boolean => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !t.key.startsWith('node.kubernetes.io/');

function internLabels(value: unknown): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields(value))) if (typeof v === 'string') labels[intern(k)] = intern(v);
  return labels;
}

function taintsOf(value: unknown): Taint[] {
  if (!Array.isArray(value)) return [];
  const taints: Taint[] = [];
  for (const t of value.map(fields)) {
    const taint: Taint = { key: internText(t['key']) ?? '', effect: internText(t['effect']) ?? '' };
    const v = internText(t['value']);
    if (v !== undefined) taint.value = v;
    if (keepsPodsOff(taint)) taints.push(taint);
  }
  return taints;
}

export function trimNode(object: KubeObject): NodeRecord {
  const record: NodeRecord = {
    uid: text(object.metadata?.uid) ?? '',
    labels: internLabels(object.metadata?.['labels']),
    taints: taintsOf(fields(object['spec'])['taints']),
  };
  const kubeletVersion = internText(fields(fields(object['status'])['nodeInfo'])['kubeletVersion']);
  if (kubeletVersion !== undefined) record.kubeletVersion = kubeletVersion;
  const handlers = fields(object['status'])['runtimeHandlers'];
  // The default handler is listed as "": not a handler a RuntimeClass can name.
  if (Array.isArray(handlers)) record.runtimeHandlers = handlers.map((h) => internText(fields(h)['name'])).filter((h) => h !== undefined);
  return record;
}

function tolerationsOf(value: unknown): Toleration[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.map((t) => {
    const f = fields(t);
    const toleration: Toleration = {};
    for (const key of ['key', 'operator', 'value', 'effect'] as const) {
      const v = text(f[key]);
      if (v !== undefined) toleration[key] = v;
    }
    return toleration;
  });
}

export function trimRuntimeClass(object: KubeObject): RuntimeClassRecord {
  const record: RuntimeClassRecord = { handler: typeof object['handler'] === 'string' ? object['handler'] : '' };
  const uid = text(object.metadata?.uid);
  if (uid !== undefined) record.uid = uid;
  const scheduling = fields(object['scheduling']);
  const nodeSelector = scheduling['nodeSelector'];
  if (nodeSelector !== undefined && nodeSelector !== null) record.nodeSelector = internLabels(nodeSelector);
  const tolerations = tolerationsOf(scheduling['tolerations']);
  if (tolerations !== undefined) record.tolerations = tolerations;
  return record;
}

export function trimNamespace(object: KubeObject): Record<string, string> {
  return { ...(fields(fields(object.metadata)['labels']) as Record<string, string>) };
}

function generationOf(object: KubeObject): number {
  const generation = fields(object.metadata)['generation'];
  return typeof generation === 'number' ? generation : 0;
}

/** The uid of the Node named `name` among the object's owners. */
function nodeOwnerUidOf(object: KubeObject, name: string): string | undefined {
  const owners = object.metadata?.['ownerReferences'];
  const node = Array.isArray(owners) ? owners.map(fields).find((o) => o['kind'] === 'Node' && o['apiVersion'] === 'v1' && o['name'] === name) : undefined;
  return text(node?.['uid']);
}

/**
 * Per pod, a report holds a sandbox and a verdict: their fields of few values
 * are pooled (intern.ts). Not these: ids, names and a sandbox's creation time
 * have about as many values as there are pods, and would only churn the pool.
 * (A verdict's `since` is shared by every pod judged in the same second.)
 */
const UNIQUE_FIELDS = new Set(['id', 'podUID', 'uid', 'name', 'createdAt']);

function internReportSpec(spec: NodeSandboxReportSpec): NodeSandboxReportSpec {
  for (const sandbox of spec.sandboxes) internStrings(sandbox, UNIQUE_FIELDS);
  return spec;
}

function internReportStatus(status: NodeSandboxReportStatus): NodeSandboxReportStatus {
  for (const audit of status.audits ?? []) for (const pod of audit.pods) internStrings(pod, UNIQUE_FIELDS);
  return status;
}

export function trimReport(object: KubeObject): ReportRecord {
  const name = text(object.metadata?.name) ?? '';
  const record: ReportRecord = { name, generation: generationOf(object) };
  const nodeOwnerUid = nodeOwnerUidOf(object, name);
  if (nodeOwnerUid !== undefined) record.nodeOwnerUid = nodeOwnerUid;
  // The report schema has no defaults, so validating does not change the object: no copy needed (5,000 of them at scale).
  const spec = object['spec'];
  if (!validReportSpec(spec)) record.invalid = `spec${problem(validReportSpec)}`;
  else if (spec.nodeName !== name) record.invalid = `spec.nodeName ${spec.nodeName} is not the report's name`;
  else record.spec = internReportSpec(spec);
  const status = object['status'];
  // A status we cannot read is one we will overwrite: as if there were none.
  if (status !== undefined && validReportStatus(status)) record.status = internReportStatus(status);
  return record;
}

export function trimAudit(object: KubeObject): AuditRecord {
  const spec = structuredClone(object['spec'] ?? {});
  const name = text(object.metadata?.name) ?? '';
  const status = object['status'] as RuntimeClassAuditStatus | undefined;
  const base = { name, uid: text(object.metadata?.uid) ?? '', generation: generationOf(object), ...(status === undefined ? {} : { status }) };
  if (!validAuditSpec(spec))
    return { ...base, spec: { auditPodsWithoutRuntimeClass: false, gracePeriodSeconds: 120 }, invalid: `spec${problem(validAuditSpec)}` };
  return { ...base, spec };
}
