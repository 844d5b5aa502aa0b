// NodeSandboxReport: one per node, named after it, owned by the Node object.
// The agent on that node writes `spec` (what its CRI runtime says of every
// sandbox); the operator writes `status` (its verdicts). This schema is the
// one source of truth: the TypeScript types are derived from it and the CRD
// YAML in charts/runtimeclass-audit/files/crds/ is generated from it (hack/gen-crds.ts; a test fails when
// the committed YAML differs).
import type { FromSchema } from 'json-schema-to-ts';

const dateTime = { type: 'string', format: 'date-time' } as const;
const name253 = { type: 'string', maxLength: 253 } as const;
const count = { type: 'integer', minimum: 0 } as const;
const isolationClass = { type: 'string', enum: ['host-kernel', 'gvisor', 'vm', 'unknown'] } as const;

const runtimeSchema = {
  type: 'object',
  description: "The node's CRI runtime, as it describes itself.",
  required: ['reachable', 'infoFormat', 'handlers'],
  additionalProperties: false,
  properties: {
    endpoint: { type: 'string', maxLength: 1024, description: 'The CRI endpoint the agent talks to.' },
    name: { type: 'string', maxLength: 128, description: 'Version().runtime_name, e.g. containerd or cri-o.' },
    version: { type: 'string', maxLength: 128 },
    apiVersion: { type: 'string', maxLength: 32, description: 'The CRI API version the runtime speaks, e.g. v1.' },
    reachable: { type: 'boolean', description: 'False while the agent cannot reach the runtime: sandboxes then show the last known state.' },
    unreachableSince: { ...dateTime, description: 'When the runtime stopped answering (only while unreachable).' },
    reachableSince: {
      ...dateTime,
      description:
        'Since when the runtime has answered without a break the agent saw: its first answer to this agent, then the first after each outage, such as a restart (only while reachable). A restarted runtime may have re-read its config: probes of it are redone.',
    },
    lastError: { type: 'string', maxLength: 1024, description: 'The last CRI error, while unreachable or degraded.' },
    infoFormat: {
      type: 'string',
      enum: ['containerd', 'cri-o', 'unknown'],
      description: 'How the runtime\'s verbose info was read; "unknown" means handlers and runtime types are not known, never guessed.',
    },
    defaultHandler: { type: 'string', maxLength: 253, description: 'The handler that "" resolves to, when the runtime says.' },
    handlers: {
      type: 'array',
      maxItems: 256,
      description: 'Configured handlers, sorted by name.',
      items: {
        type: 'object',
        required: ['name'],
        additionalProperties: false,
        properties: {
          name: name253,
          runtimeType: { type: 'string', maxLength: 253, description: 'e.g. io.containerd.runc.v2, io.containerd.kata.v2; CRI-O: oci or vm.' },
          runtimePath: {
            type: 'string',
            maxLength: 1024,
            description: 'The runtime binary, where the runtime says (CRI-O): the only thing CRI-O says that tells runc from runsc.',
          },
        },
      },
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    },
  },
} as const;

const evidenceSchema = {
  type: 'object',
  required: ['class'],
  additionalProperties: false,
  description: 'What the host shows the sandbox really is, read from its /proc once, when the sandbox was new.',
  properties: {
    class: {
      ...isolationClass,
      description:
        "host-kernel: the pod's processes run on the host's kernel (runc and the like); gvisor: under gVisor's own kernel (runsc); vm: in a virtual machine (a VMM process); unknown: the host did not show (see reason).",
    },
    process: { type: 'string', maxLength: 64, description: "The sandbox process's command, e.g. pause, runsc-sandbox, qemu-system-x86_64." },
    parent: { type: 'string', maxLength: 64, description: "Its parent's, e.g. containerd-shim-runc-v2, containerd-shim-runsc-v1, conmon." },
    hostProcesses: { ...count, description: "Host processes in the pod's cgroup when the evidence was gathered." },
    reason: { type: 'string', maxLength: 256, description: 'Why the class is unknown, or what stands out.' },
    confirmation: {
      type: 'string',
      enum: ['structure', 'runtime-record'],
      description:
        "For a VM, what showed it: structure (the VMM under a VM runtime's shim, and nothing else of the pod on the host), or runtime-record (that, and Kata's own record of the sandbox agreed: hypervisor, pid, the guest agent's address).",
    },
    record: { type: 'string', maxLength: 256, description: "What the VM runtime's record said, when it agreed." },
    container: {
      type: 'string',
      maxLength: 253,
      description:
        "Where the runtime gave the sandbox no process of its own (CRI-O runs no infra container for most pods): the pod's container whose process was judged instead, its first running one.",
    },
  },
} as const;

const sandboxSchema = {
  type: 'object',
  required: ['id', 'podUID', 'namespace', 'name', 'attempt', 'state', 'createdAt', 'requestedHandler'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', maxLength: 128, description: 'The CRI sandbox id.' },
    podUID: { type: 'string', maxLength: 64 },
    namespace: { type: 'string', maxLength: 63 },
    name: name253,
    attempt: count,
    state: { type: 'string', enum: ['Ready', 'NotReady'] },
    createdAt: dateTime,
    requestedHandler: { type: 'string', maxLength: 253, description: 'The handler the kubelet asked for, verbatim ("" for the default).' },
    resolvedHandler: { type: 'string', maxLength: 253, description: 'requestedHandler with "" resolved to the runtime\'s default, when known.' },
    runtimeType: { type: 'string', maxLength: 253, description: 'The runtime type the sandbox really runs with, when the runtime reveals it.' },
    evidence: evidenceSchema,
  },
} as const;

export const nodeSandboxReportSpecSchema = {
  type: 'object',
  required: ['nodeName', 'runtime', 'sandboxes'],
  additionalProperties: false,
  properties: {
    nodeName: name253,
    agentVersion: { type: 'string', maxLength: 64 },
    isolationEvidence: {
      type: 'string',
      enum: ['Gathered', 'Disabled'],
      description:
        "Whether the agent gathers isolation evidence from the host's /proc (Disabled: turned off, e.g. where the host's /proc may not be mounted; no sandbox then has evidence).",
    },
    runtime: runtimeSchema,
    omitted: {
      type: 'object',
      additionalProperties: false,
      description:
        'What the agent left out to keep the report within this schema (absent when nothing was): sandboxes past the bound (dead ones first) or whose id or names are too long to report; handlers past the bound; values too long (free text cut, judged values such as runtime types left out, never cut into another). A pod whose sandbox is not listed is then SandboxNotReported, not NoSandbox.',
      properties: { sandboxes: count, handlers: count, fields: count },
    },
    sandboxes: {
      type: 'array',
      // About 300 bytes each: well inside the 1.5 MB object limit.
      maxItems: 2000,
      description: 'Every pod sandbox on the node, sorted by namespace, name, creation time and id.',
      items: sandboxSchema,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['id'],
    },
  },
} as const;

/**
 * What a pod was last verified to be (Matched or Mismatched), kept while it
 * is Unverified: an agent restart, a runtime outage or a reinstall does not
 * end a finding, so when the same finding is seen again it keeps its since.
 */
const lastVerifiedSchema = {
  type: 'object',
  required: ['verdict', 'reason', 'since'],
  additionalProperties: false,
  description: 'While the pod is Unverified: what it was last verified to be, and since when.',
  properties: {
    verdict: { type: 'string', enum: ['Matched', 'Mismatched'] },
    reason: { type: 'string', enum: ['Matched', 'HandlerMismatch', 'RuntimeTypeMismatch', 'IsolationMismatch'] },
    expectedHandler: { type: 'string', maxLength: 253 },
    expectedRuntimeType: { type: 'string', maxLength: 253 },
    expectedIsolation: isolationClass,
    actualHandler: { type: 'string', maxLength: 253 },
    actualRuntimeType: { type: 'string', maxLength: 253 },
    actualIsolation: isolationClass,
    since: dateTime,
  },
} as const;

const podVerdictSchema = {
  type: 'object',
  required: ['uid', 'namespace', 'name', 'verdict', 'reason', 'since'],
  additionalProperties: false,
  properties: {
    uid: { type: 'string', maxLength: 64 },
    namespace: { type: 'string', maxLength: 63 },
    name: name253,
    runtimeClassName: name253,
    verdict: { type: 'string', enum: ['Matched', 'Mismatched', 'Unverified'] },
    reason: {
      type: 'string',
      enum: [
        'Matched',
        'HandlerMismatch',
        'RuntimeTypeMismatch',
        'IsolationMismatch',
        'NoSandbox',
        'SandboxNotReported',
        'AwaitingSandbox',
        'NoReport',
        'AgentNotReady',
        'RuntimeUnreachable',
        'RuntimeClassNotFound',
        'UnsupportedRuntime',
        'EvidenceUnknown',
        'EvidenceDisabled',
        'RuntimeClassNotAllowed',
      ],
    },
    expectedHandler: { type: 'string', maxLength: 253, description: "The handler the pod's RuntimeClass named when the operator first saw the pod." },
    expectedRuntimeType: { type: 'string', maxLength: 253 },
    actualHandler: { type: 'string', maxLength: 253, description: 'The sandbox\'s handler, "" resolved to the runtime\'s default.' },
    actualRuntimeType: { type: 'string', maxLength: 253 },
    expectedIsolation: { ...isolationClass, description: 'The isolation the audit asks of this handler (spec.expectedIsolation).' },
    actualIsolation: { ...isolationClass, description: "The class of the sandbox's isolation evidence." },
    sandboxId: { type: 'string', maxLength: 128 },
    since: {
      ...dateTime,
      description:
        'When this finding began. A Matched or Mismatched finding lasts until the pod is gone, its verdict changes, or its expected or actual handler or runtime type changes; an Unverified spell in between does not end it.',
    },
    lastVerified: lastVerifiedSchema,
  },
} as const;

const nodeCounts = {
  type: 'object',
  additionalProperties: false,
  required: ['audited', 'matched', 'mismatched', 'unverified', 'orphanSandboxes', 'suspiciousSandboxes'],
  properties: {
    audited: count,
    matched: count,
    mismatched: count,
    unverified: count,
    orphanSandboxes: { ...count, description: 'Running sandboxes that belong to no pod.' },
    suspiciousSandboxes: { ...count, description: 'Sandboxes naming a pod bound to another node (ignored).' },
  },
} as const;

export const nodeSandboxReportStatusSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Written by the operator only: its verdicts for the pods on this node, per audit.',
  properties: {
    observedGeneration: { ...count, description: 'The report generation (spec) these verdicts were made from.' },
    counts: {
      type: 'object',
      additionalProperties: false,
      required: ['sandboxes', 'audited', 'matched', 'mismatched', 'unverified'],
      description: 'The node at a glance (kubectl get nsr): its sandboxes, and its audited pods by their gravest verdict over all audits.',
      properties: {
        sandboxes: count,
        audited: count,
        matched: count,
        mismatched: count,
        unverified: count,
      },
    },
    audits: {
      type: 'array',
      maxItems: 16,
      items: {
        type: 'object',
        required: ['name', 'counts', 'pods'],
        additionalProperties: false,
        properties: {
          name: { ...name253, description: 'The RuntimeClassAudit whose policy gave these verdicts.' },
          counts: nodeCounts,
          pods: { type: 'array', maxItems: 2000, items: podVerdictSchema },
        },
      },
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    },
  },
} as const;

export type RuntimeDescription = FromSchema<typeof runtimeSchema>;
export type ReportedSandbox = FromSchema<typeof sandboxSchema>;
export type IsolationEvidence = FromSchema<typeof evidenceSchema>;
/** host-kernel, gvisor, vm or unknown: what the host's evidence shows a sandbox to be. */
export type IsolationClass = IsolationEvidence['class'];
export type NodeSandboxReportSpec = FromSchema<typeof nodeSandboxReportSpecSchema>;
export type NodeSandboxReportStatus = FromSchema<typeof nodeSandboxReportStatusSchema>;
export type PodVerdictEntry = FromSchema<typeof podVerdictSchema>;
export type LastVerified = FromSchema<typeof lastVerifiedSchema>;
export type NodeAuditEntry = NonNullable<NodeSandboxReportStatus['audits']>[number];

export const NODE_SANDBOX_REPORT = {
  kind: 'NodeSandboxReport',
  plural: 'nodesandboxreports',
  singular: 'nodesandboxreport',
  shortNames: ['nsr'],
} as const;
