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
      { name: 'Default', type: 'string', jsonPath: '.spec.runtime.defaultHandler', description: 'The default handler' },
    ],
    specRequired: true,
  });
}

export function runtimeClassAuditCrd(): object {
  const ready = '.status.conditions[?(@.type=="Ready")].status';
  return clusterScopedCrd({
    names: RUNTIME_CLASS_AUDIT,
    spec: { ...auditSpecSchema, description: 'The audit policy.' },
    status: { ...auditStatusSchema, description: 'Written by the operator only: the cluster-wide result.' },
    columns: [
      { name: 'Audited', type: 'integer', jsonPath: '.status.counts.audited', description: 'Pods audited' },
      { name: 'Mismatched', type: 'integer', jsonPath: '.status.counts.mismatched', description: 'Pods whose sandbox runs with another handler or runtime type' },
      { name: 'Unverified', type: 'integer', jsonPath: '.status.counts.unverified', description: 'Pods that could not be verified' },
      { name: 'Nodes', type: 'integer', jsonPath: '.status.counts.nodesReporting', description: 'Nodes with a current report' },
      { name: 'Ready', type: 'string', jsonPath: ready },
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
