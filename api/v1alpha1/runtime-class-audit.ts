// RuntimeClassAudit: the audit policy (spec, by the user) and its
// cluster-wide result (status, by the operator). The chart creates one named
// "cluster". Like the report, this schema is the one source of truth for the
// TypeScript types and the CRD YAML.
import type { FromSchema } from 'json-schema-to-ts';
import { LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN } from '../names.ts';

const KEY_RULE = 'an optional DNS prefix and /, then at most 63 letters, digits, -, _ or ., beginning and ending with a letter or digit';
const VALUE_RULE = 'empty, or at most 63 letters, digits, -, _ or ., beginning and ending with a letter or digit';

/**
 * A label selector as Kubernetes checks one (metav1.LabelSelector): label
 * keys and values by their rules, In and NotIn with values, Exists and
 * DoesNotExist without. The CEL rules are the API server's to enforce; the
 * patterns are raw CEL strings (RE2), which JavaScript reads the same.
 */
const labelSelector = {
  type: 'object',
  description: 'A standard label selector (matchLabels / matchExpressions).',
  additionalProperties: false,
  properties: {
    matchLabels: {
      type: 'object',
      maxProperties: 64,
      additionalProperties: { type: 'string', maxLength: 63 },
      'x-kubernetes-validations': [
        { rule: `self.all(k, size(k) <= 317 && k.matches(r'${LABEL_KEY_PATTERN}'))`, message: `each key must be a label key: ${KEY_RULE}` },
        { rule: `self.all(k, self[k].matches(r'${LABEL_VALUE_PATTERN}'))`, message: `each value must be a label value: ${VALUE_RULE}` },
      ],
    },
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
        'x-kubernetes-validations': [
          {
            rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
            message: 'In and NotIn need at least one value; Exists and DoesNotExist take none',
          },
          { rule: `self.key.matches(r'${LABEL_KEY_PATTERN}')`, message: `key must be a label key: ${KEY_RULE}` },
          { rule: `!has(self.values) || self.values.all(v, v.matches(r'${LABEL_VALUE_PATTERN}'))`, message: `each value must be a label value: ${VALUE_RULE}` },
        ],
      },
    },
  },
} as const;

/** A RuntimeClass's name: a DNS subdomain. */
const runtimeClassName = { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' } as const;

/** The label a node whose kubelet drops handlers gets (remediation.labelNodes). */
export const HANDLERS_DROPPED_LABEL = 'rcaudit.dev/handlers-dropped';

// Not "Off": YAML 1.1, which Helm and kubectl read, takes an unquoted Off for false.
const remediationMode = {
  type: 'string',
  enum: ['Disabled', 'DryRun', 'Enabled'],
  default: 'Disabled',
  description: 'Disabled: nothing. DryRun: only the Events saying what would be done. Enabled: done, each action with an Event.',
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
    requiredRuntimeClasses: {
      type: 'array',
      minItems: 1,
      maxItems: 32,
      items: runtimeClassName,
      'x-kubernetes-list-type': 'set',
      description:
        'The RuntimeClasses allowed in the namespaces this audit covers. A pod that names none of them, or names no RuntimeClass at all, is Mismatched with reason RuntimeClassNotAllowed; the audit then covers pods without a RuntimeClass whatever auditPodsWithoutRuntimeClass says. A name no RuntimeClass has is reported in the PolicyResolved condition.',
    },
    remediation: {
      type: 'object',
      additionalProperties: false,
      description:
        'What the operator does about what this audit finds, beyond flagging. Off unless asked for, and each action needs the chart value remediation.enabled, which grants its RBAC.',
      properties: {
        evict: {
          type: 'object',
          additionalProperties: false,
          description:
            'Evicts pods whose sandbox has been Mismatched (handler, runtime type or isolation) longer than afterSeconds, through the Eviction API so PodDisruptionBudgets hold. A pod whose RuntimeClass is not allowed is not evicted: its replacement would ask for the same.',
          properties: {
            mode: remediationMode,
            afterSeconds: { type: 'integer', minimum: 0, maximum: 604_800, default: 300, description: 'How long a pod must have been Mismatched first.' },
            maxPerMinute: {
              type: 'integer',
              minimum: 1,
              maximum: 600,
              default: 1,
              description:
                "At most this many evictions (or, in DryRun, would-be evictions) a minute over the whole cluster, for this audit; the operator's --max-evictions-per-minute caps all audits together.",
            },
            defaultHandlerPods: {
              type: 'string',
              enum: ['Spared', 'EvictedTooIUnderstandThisCanEvictAnyPod'],
              default: 'Spared',
              description:
                "Spared: only a pod that asked for a RuntimeClass whose handler is not the node runtime's default is ever evicted, so an audit that flags pods on the default handler (a typo in expectedIsolation, say) flags them and evicts none. The other value, spelt out so no one sets it by accident, evicts those too.",
            },
            circuitBreaker: {
              type: 'object',
              additionalProperties: false,
              description:
                "Halts this audit's evictions when they would exceed a small share of the pods it audits, or touch more than a few nodes, within windowSeconds: at that scale an eviction is more likely a policy error (a typo in expectedIsolation, a selector that takes in too much) than a cure. The operator then evicts nothing more for this audit, says why in the Remediating condition (reason Halted), an Event on the audit and rcaudit_remediation_halted, and waits for a person: any change to the audit's spec resumes it.",
              properties: {
                percentOfAuditedPods: {
                  type: 'integer',
                  minimum: 1,
                  maximum: 100,
                  default: 10,
                  description:
                    'At most this share of the pods the audit audits (status.counts.audited) is evicted within the window; never fewer than one pod.',
                },
                nodes: { type: 'integer', minimum: 1, maximum: 1000, default: 3, description: 'At most this many nodes see evictions within the window.' },
                windowSeconds: { type: 'integer', minimum: 60, maximum: 604_800, default: 3600, description: 'The window the two limits count over.' },
              },
            },
          },
        },
        labelNodes: {
          type: 'object',
          additionalProperties: false,
          description: `Labels a node ${HANDLERS_DROPPED_LABEL}=true when its kubelet is seen dropping handlers: every current sandbox that should have had a non-default handler got "", over at least minPods pods. The label is removed when a sandbox on the node is seen to get the non-default handler it asked for.`,
          properties: {
            mode: remediationMode,
            minPods: { type: 'integer', minimum: 1, maximum: 10_000, default: 3, description: 'How many pods must show it.' },
          },
        },
      },
    },
    probes: {
      type: 'object',
      additionalProperties: false,
      required: ['runtimeClasses'],
      description:
        "Proof before placement: the operator runs a small probe pod of each of these RuntimeClasses on every node its scheduling admits, judges its sandbox by this audit's expectations, and labels each node that honours the class runtimeclass.rcaudit.dev/<class>=proven. A RuntimeClass whose scheduling.nodeSelector asks for that label places its pods only on proven nodes. Needs the chart value probes.enabled.",
      properties: {
        runtimeClasses: {
          type: 'array',
          minItems: 1,
          maxItems: 16,
          // A label's name part: at most 63 characters.
          items: { ...runtimeClassName, maxLength: 63 },
          'x-kubernetes-list-type': 'set',
          description: 'The RuntimeClasses to prove, by name (at most 63 characters: the name is part of the label).',
        },
        intervalSeconds: {
          type: 'integer',
          minimum: 3600,
          maximum: 2_592_000,
          default: 86_400,
          description:
            'Each node is probed again at least this often, besides whenever its answer could change (its kubelet, runtime or handlers change, the class is re-created, a workload of the class is Mismatched there).',
        },
        retrySeconds: {
          type: 'integer',
          minimum: 30,
          maximum: 86_400,
          default: 600,
          description:
            'A node that failed a class, or whose probe could not tell, is probed again this long after: a node mended (its kubelet path fixed, its handler installed) is proven again without waiting for the interval.',
        },
        deadlineSeconds: {
          type: 'integer',
          minimum: 30,
          maximum: 3600,
          default: 180,
          description: 'A probe not judged within this time (its image did not pull, its sandbox never started) is a probe error, never proof.',
        },
      },
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
        uncoveredRuntimeClasses: { ...count, description: 'RuntimeClasses some node they admit has no handler for (see runtimeClasses).' },
        driftingRuntimeClasses: { ...count, description: 'RuntimeClasses whose handler is not the same runtime on every node (see runtimeClasses).' },
      },
    },
    runtimeClasses: {
      type: 'array',
      maxItems: 64,
      description:
        "Handler coverage of the RuntimeClasses this audit requires (all of them when it requires none): the nodes each one's scheduling admits, and which of those can really run its handler.",
      items: {
        type: 'object',
        required: ['name', 'handler', 'nodes', 'covered', 'uncovered', 'unknown'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', maxLength: 253 },
          handler: { type: 'string', maxLength: 253 },
          nodes: { ...count, description: 'Nodes its scheduling (node selector, and tolerations against NoSchedule and NoExecute taints) admits.' },
          covered: { ...count, description: 'Of those, nodes whose runtime has the handler.' },
          uncovered: { ...count, description: "Of those, nodes whose runtime has no such handler (the agent's report, else node.status.runtimeHandlers)." },
          unknown: { ...count, description: 'Of those, nodes nothing speaks for: no current report that lists handlers, and no node.status.runtimeHandlers.' },
          uncoveredNodes: { type: 'array', maxItems: 20, items: { type: 'string', maxLength: 253 }, description: 'A sample of the uncovered nodes.' },
          drift: {
            type: 'array',
            maxItems: 16,
            description:
              'Only when the handler is not the same runtime everywhere: what it is on the nodes, one entry each (a runtime type within one runtime, or the isolation the host shows of its sandboxes), most nodes first.',
            items: {
              type: 'object',
              required: ['runtime', 'nodes'],
              additionalProperties: false,
              properties: {
                runtime: { type: 'string', maxLength: 600, description: 'e.g. containerd io.containerd.kata.v2, cri-o vm, or isolation host-kernel.' },
                nodes: count,
                sampleNodes: { type: 'array', maxItems: 5, items: { type: 'string', maxLength: 253 } },
              },
            },
          },
        },
      },
    },
    probes: {
      type: 'array',
      maxItems: 16,
      description:
        'Proof before placement, per RuntimeClass in spec.probes: the nodes its scheduling admits, by the outcome of their probes, and a sample of those that did not prove it.',
      items: {
        type: 'object',
        required: ['runtimeClass', 'exists', 'nodes', 'proven', 'failed', 'errors', 'notProbed'],
        additionalProperties: false,
        properties: {
          runtimeClass: { type: 'string', maxLength: 63 },
          exists: { type: 'boolean', description: 'False while no RuntimeClass of that name exists: nothing is probed.' },
          label: { type: 'string', maxLength: 128, description: 'The label a proven node carries, with the value proven.' },
          nodes: { ...count, description: 'Nodes its scheduling admits (its own proof label left out).' },
          proven: { ...count, description: 'Of those, nodes whose last probe proved it: they carry the label.' },
          failed: { ...count, description: 'Nodes that ran the probe, and it was not what the class promises.' },
          errors: { ...count, description: 'Nodes whose probe could not tell (it never ran, or ran out of time).' },
          notProbed: { ...count, description: 'Nodes not probed yet, or not since their kubelet, runtime, handlers or the class changed.' },
          failures: {
            type: 'array',
            maxItems: 20,
            description: 'A sample of the nodes that failed or could not tell, and why.',
            items: {
              type: 'object',
              required: ['node', 'outcome', 'reason'],
              additionalProperties: false,
              properties: {
                node: { type: 'string', maxLength: 253 },
                outcome: { type: 'string', enum: ['Failed', 'Error'] },
                reason: { type: 'string', maxLength: 64 },
                message: { type: 'string', maxLength: 512 },
              },
            },
          },
        },
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
          expectedHandler: {
            type: 'string',
            maxLength: 253,
            description: 'Empty for RuntimeClassNotAllowed: the audit asks for a RuntimeClass, not a handler.',
          },
          actualHandler: { type: 'string', maxLength: 253 },
          actualRuntimeType: { type: 'string', maxLength: 253 },
          actualIsolation: { type: 'string', maxLength: 32 },
          reason: { type: 'string', enum: ['HandlerMismatch', 'RuntimeTypeMismatch', 'IsolationMismatch', 'RuntimeClassNotAllowed'] },
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
