// Builds the CustomResourceDefinitions from the schemas in api/v1alpha1, so
// the CRD YAML can never say something the TypeScript types do not.
import { stringify } from 'yaml';
import { GROUP, VERSION } from './v1alpha1/group.ts';
import { NODE_SANDBOX_REPORT, nodeSandboxReportSpecSchema, nodeSandboxReportStatusSchema } from './v1alpha1/node-sandbox-report.ts';
import { auditSpecSchema, auditStatusSchema, RUNTIME_CLASS_AUDIT } from './v1alpha1/runtime-class-audit.ts';

interface Names {
  kind: string;
  plural: string;
  singular: string;
  shortNames: readonly string[];
}

interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'boolean' | 'date';
  jsonPath: string;
  priority?: number;
  description?: string;
}

/**
 * Our schemas say `additionalProperties: false` so the derived TypeScript
 * types are closed; a structural CRD schema may not say it, and needs not:
 * the API server prunes unknown fields, which is the same promise.
 */
export function toStructural(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toStructural);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'additionalProperties' && value === false) continue;
    out[key] = toStructural(value);
  }
  return out;
}

interface CrdParts {
  names: Names;
  spec: object;
  status: object;
  columns: PrinterColumn[];
  /** False where an empty spec is a whole object (every field defaulted). */
  specRequired: boolean;
}

function clusterScopedCrd({ names, spec, status, columns, specRequired }: CrdParts): object {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${names.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Cluster',
      names: { kind: names.kind, listKind: `${names.kind}List`, plural: names.plural, singular: names.singular, shortNames: [...names.shortNames] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [...columns, { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              ...(specRequired ? { required: ['spec'] } : {}),
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: toStructural(spec),
                status: toStructural(status),
              },
            },
          },
        },
      ],
    },
  };
}

export function nodeSandboxReportCrd(): object {
  return clusterScopedCrd({
    names: NODE_SANDBOX_REPORT,
    spec: nodeSandboxReportSpecSchema,
    status: nodeSandboxReportStatusSchema,
    columns: [
      { name: 'Runtime', type: 'string', jsonPath: '.spec.runtime.name' },
      { name: 'Version', type: 'string', jsonPath: '.spec.runtime.version' },
      { name: 'Reachable', type: 'boolean', jsonPath: '.spec.runtime.reachable' },
      { name: 'Sandboxes', type: 'integer', jsonPath: '.status.counts.sandboxes', description: 'Sandboxes the runtime reports' },
      { name: 'Matched', type: 'integer', jsonPath: '.status.counts.matched', description: 'Audited pods whose sandbox runs as expected' },
      {
        name: 'Mismatched',
        type: 'integer',
        jsonPath: '.status.counts.mismatched',
        description: 'Audited pods whose sandbox runs with another handler or runtime type',
      },
      { name: 'Unverified', type: 'integer', jsonPath: '.status.counts.unverified', description: 'Audited pods that could not be verified' },
      { name: 'Default', type: 'string', jsonPath: '.spec.runtime.defaultHandler', priority: 1, description: 'The handler "" resolves to' },
      { name: 'Unreachable Since', type: 'date', jsonPath: '.spec.runtime.unreachableSince', priority: 1 },
      { name: 'Agent', type: 'string', jsonPath: '.spec.agentVersion', priority: 1, description: "The agent's version" },
      { name: 'Endpoint', type: 'string', jsonPath: '.spec.runtime.endpoint', priority: 1, description: 'The CRI endpoint' },
    ],
    specRequired: true,
  });
}

export function runtimeClassAuditCrd(): object {
  const ready = '.status.conditions[?(@.type=="Ready")].status';
  const compliant = '.status.conditions[?(@.type=="Compliant")].status';
  return clusterScopedCrd({
    names: RUNTIME_CLASS_AUDIT,
    spec: { ...auditSpecSchema, description: 'The audit policy.' },
    status: { ...auditStatusSchema, description: 'Written by the operator only: the cluster-wide result.' },
    columns: [
      { name: 'Audited', type: 'integer', jsonPath: '.status.counts.audited', description: 'Pods audited' },
      {
        name: 'Mismatched',
        type: 'integer',
        jsonPath: '.status.counts.mismatched',
        description: 'Pods whose sandbox runs with another handler or runtime type',
      },
      { name: 'Unverified', type: 'integer', jsonPath: '.status.counts.unverified', description: 'Pods that could not be verified' },
      { name: 'Nodes', type: 'integer', jsonPath: '.status.counts.nodesReporting', description: 'Nodes with a current report' },
      { name: 'Ready', type: 'string', jsonPath: ready },
      { name: 'Matched', type: 'integer', jsonPath: '.status.counts.matched', priority: 1, description: 'Pods whose sandbox runs as expected' },
      { name: 'Nodes Total', type: 'integer', jsonPath: '.status.counts.nodes', priority: 1, description: 'Node objects' },
      { name: 'Orphans', type: 'integer', jsonPath: '.status.counts.orphanSandboxes', priority: 1, description: 'Running sandboxes of no pod' },
      {
        name: 'Suspicious',
        type: 'integer',
        jsonPath: '.status.counts.suspiciousSandboxes',
        priority: 1,
        description: 'Sandboxes naming a pod bound to another node',
      },
      { name: 'Compliant', type: 'string', jsonPath: compliant, priority: 1 },
      {
        name: 'Uncovered',
        type: 'integer',
        jsonPath: '.status.counts.uncoveredRuntimeClasses',
        priority: 1,
        description: 'RuntimeClasses some node they admit has no handler for',
      },
      {
        name: 'Drifting',
        type: 'integer',
        jsonPath: '.status.counts.driftingRuntimeClasses',
        priority: 1,
        description: 'RuntimeClasses whose handler is not the same runtime on every node',
      },
    ],
    // `spec: {}` is a whole policy: every field has a default.
    specRequired: false,
  });
}

/** Every CRD, as the YAML files in charts/runtimeclass-audit/files/crds/ hold them. */
export function crdFiles(): Map<string, string> {
  const header = '# Generated from api/v1alpha1 by hack/gen-crds.ts. Do not edit.\n';
  return new Map([
    [`${GROUP}_${NODE_SANDBOX_REPORT.plural}.yaml`, header + stringify(nodeSandboxReportCrd(), { lineWidth: 0 })],
    [`${GROUP}_${RUNTIME_CLASS_AUDIT.plural}.yaml`, header + stringify(runtimeClassAuditCrd(), { lineWidth: 0 })],
  ]);
}
