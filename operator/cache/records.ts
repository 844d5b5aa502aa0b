// What the cache keeps of each object it watches (trim.ts makes them): only
// what verdicts, counts, coverage and flagging need, so 150,000 pods fit in
// memory. Types only.
import type { NodeSandboxReportSpec, NodeSandboxReportStatus } from '../../api/v1alpha1/node-sandbox-report.ts';
import type { RuntimeClassAuditSpec, RuntimeClassAuditStatus } from '../../api/v1alpha1/runtime-class-audit.ts';
import type { Taint } from '../judging/coverage.ts';

export interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  nodeName?: string;
  runtimeClassName?: string;
  mirrorOf?: string;
  /** When the pod was bound (its PodScheduled condition), else created; ms since the epoch. */
  boundAt?: number;
  /** Succeeded or Failed: no sandbox runs for it any more. */
  terminated: boolean;
  /** Set only for the agent's own pods: whether the pod is Ready. */
  agentReady?: boolean;
  /** The operator's own pod condition, when set: so it is written only when it changes. */
  verified?: { status: string; reason: string };
  /** Set only for the operator's probe pods (those in its probe namespace): never audited as workloads. */
  probe?: ProbePodFacts;
}

/** What a probe pod shows besides its sandbox: why its container waits, if it does (an image that will not pull). */
export interface ProbePodFacts {
  waiting?: string;
}

export interface ReportRecord {
  name: string;
  generation: number;
  /** The uid of the Node that owns the report (the agent sets it), if any. */
  nodeOwnerUid?: string;
  spec?: NodeSandboxReportSpec;
  /** Why the spec is not usable, when it is not. */
  invalid?: string;
  status?: NodeSandboxReportStatus;
}

export interface AuditRecord {
  name: string;
  /** For the Events written about the audit (its circuit breaker). */
  uid: string;
  generation: number;
  /** With the schema's defaults filled in. */
  spec: RuntimeClassAuditSpec;
  invalid?: string;
  status?: RuntimeClassAuditStatus;
}

/**
 * What is kept of a Node: its uid, which a report's owner must name, and
 * what handler coverage needs (labels, the taints that keep pods off, the
 * handlers the kubelet says its runtime has). Not its conditions or
 * heartbeats: a Node that only heartbeats is unchanged here.
 */
export interface NodeRecord {
  uid: string;
  labels: Record<string, string>;
  taints: Taint[];
  /** node.status.runtimeHandlers' names; absent where the kubelet does not fill it. */
  runtimeHandlers?: string[];
  /** node.status.nodeInfo.kubeletVersion: a new kubelet may pass handlers differently, so a proof is redone. */
  kubeletVersion?: string;
}
