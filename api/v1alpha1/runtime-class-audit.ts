// RuntimeClassAudit: the audit policy (spec, by the user) and its
// cluster-wide result (status, by the operator). The chart creates one named
// "cluster". Like the report, this schema is the one source of truth for the
// TypeScript types and the CRD YAML.
import type { FromSchema } from 'json-schema-to-ts';

const labelSelector = {
  type: 'object',
  description: 'A standard label selector (matchLabels / matchExpressions).',
  additionalProperties: false,
  properties: {
    matchLabels: { type: 'object', additionalProperties: { type: 'string' } },
    matchExpressions: {
      type: 'array',
      maxItems: 32,
      items: {
        type: 'object',
        required: ['key', 'operator'],
        additionalProperties: false,
        properties: {
          key: { type: 'string', maxLength: 317 },
          operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
          values: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 63 } },
        },
      },
    },
  },
} as const;

export const auditSpecSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    namespaceSelector: { ...labelSelector, description: 'Which namespaces are audited; empty or absent: all.' },
    auditPodsWithoutRuntimeClass: {
      type: 'boolean',
      default: false,
      description: "Also audit pods that name no RuntimeClass: they must run with the node runtime's default handler.",
    },
    expectedRuntimeTypes: {
      type: 'object',
      description:
        'Expected runtime type per handler, e.g. kata: io.containerd.kata.v2. A sandbox with the right handler but another runtime type is mismatched.',
      additionalProperties: { type: 'string', minLength: 1, maxLength: 253 },
      maxProperties: 128,
    },
    expectedIsolation: {
      type: 'object',
      description:
        "The isolation each handler must really have, from the host's evidence (the agent reads the sandbox's processes in /proc), e.g. kata: vm, gvisor: gvisor. A sandbox with the right handler whose evidence shows another class is mismatched (IsolationMismatch); one whose evidence is unknown or not gathered is Unverified, never mismatched.",
      additionalProperties: { type: 'string', enum: ['host-kernel', 'gvisor', 'vm'] },
      maxProperties: 128,
    },
    gracePeriodSeconds: {
      type: 'integer',
      minimum: 0,
      maximum: 86_400,
      default: 120,
      description: "How long a pod bound to a node may have no sandbox in that node's report before it counts as NoSandbox.",
    },
    flagging: {
      type: 'object',
      additionalProperties: false,
      description: 'How mismatched pods are flagged.',
      properties: {
        events: { type: 'boolean', default: true, description: 'A Warning Event on each mismatched pod.' },
        podCondition: { type: 'boolean', default: false, description: 'A pod condition; needs write access to every pod, so off by default.' },
      },
    },
  },
} as const;

const count = { type: 'integer', minimum: 0 } as const;

export const auditStatusSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    observedGeneration: { type: 'integer', minimum: 0 },
    conditions: {
      type: 'array',
      maxItems: 16,
      items: {
        type: 'object',
        required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
        additionalProperties: false,
        properties: {
          type: { type: 'string', maxLength: 316 },
          status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
          observedGeneration: { type: 'integer', minimum: 0 },
          lastTransitionTime: { type: 'string', format: 'date-time' },
          reason: { type: 'string', maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' },
          message: { type: 'string', maxLength: 32_768 },
        },
      },
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    },
    counts: {
      type: 'object',
      additionalProperties: false,
      required: ['audited', 'matched', 'mismatched', 'unverified', 'nodesReporting', 'nodes', 'orphanSandboxes', 'suspiciousSandboxes'],
      properties: {
        audited: count,
        matched: count,
        mismatched: count,
        unverified: count,
        nodesReporting: count,
        nodes: count,
        orphanSandboxes: count,
        suspiciousSandboxes: count,
      },
    },
    mismatches: {
      type: 'array',
      // A bounded sample: objects are capped at 1.5 MB; the full detail is in
      // the per-node reports, events and metrics.
      maxItems: 50,
      description: 'A bounded sample of mismatched pods.',
      items: {
        type: 'object',
        required: ['namespace', 'pod', 'node', 'expectedHandler', 'reason', 'since'],
        additionalProperties: false,
        properties: {
          namespace: { type: 'string', maxLength: 63 },
          pod: { type: 'string', maxLength: 253 },
          node: { type: 'string', maxLength: 253 },
          runtimeClassName: { type: 'string', maxLength: 253 },
          expectedHandler: { type: 'string', maxLength: 253 },
          actualHandler: { type: 'string', maxLength: 253 },
          actualRuntimeType: { type: 'string', maxLength: 253 },
          actualIsolation: { type: 'string', maxLength: 32 },
          reason: { type: 'string', enum: ['HandlerMismatch', 'RuntimeTypeMismatch', 'IsolationMismatch'] },
          since: { type: 'string', format: 'date-time' },
        },
      },
    },
  },
} as const;

export type RuntimeClassAuditSpec = FromSchema<typeof auditSpecSchema>;
export type RuntimeClassAuditStatus = FromSchema<typeof auditStatusSchema>;

export const RUNTIME_CLASS_AUDIT = {
  kind: 'RuntimeClassAudit',
  plural: 'runtimeclassaudits',
  singular: 'runtimeclassaudit',
  // `kubectl get audits` is how users read it.
  shortNames: ['audit', 'audits', 'rca'],
} as const;
