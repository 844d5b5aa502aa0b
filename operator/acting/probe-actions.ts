// What the probe reconciler writes: probe pods, their shadow RuntimeClasses
// and the nodes' probe labels. Each request names itself for errors and
// metrics; a pod or class that is already gone is no failure.
import { KubeApiError } from '../../kube/errors.ts';
import { MERGE_PATCH, type KubeRequester } from '../../kube/rest.ts';
import type { Toleration } from '../judging/coverage.ts';

/** The labels of every object the probes make (pods, shadow RuntimeClasses): what the withdrawal of the proofs finds them by. */
export const PROBE_OBJECT_LABELS = { 'app.kubernetes.io/managed-by': 'runtimeclass-audit', 'app.kubernetes.io/component': 'probe' } as const;

export interface ProbePodSpec {
  namespace: string;
  node: string;
  runtimeClass: string;
  /** The shadow RuntimeClass the pod names (same handler, no scheduling). */
  shadow: string;
  image: string;
  deadlineSeconds: number;
  /** The class's own tolerations: a NoExecute taint it tolerates must not evict its probe. */
  tolerations: readonly Toleration[];
}

/**
 * A probe pod: bound to its node, the class's handler through its shadow
 * RuntimeClass, Pod Security "restricted", no service account token, no
 * restarts, tiny, and gone by its deadline. The pause program does nothing;
 * only its sandbox matters.
 */
export function probePod(spec: ProbePodSpec): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${spec.runtimeClass.slice(0, 40)}-`,
      namespace: spec.namespace,
      labels: { ...PROBE_OBJECT_LABELS, 'rcaudit.dev/probe-of': spec.runtimeClass },
    },
    spec: {
      nodeName: spec.node,
      runtimeClassName: spec.shadow,
      restartPolicy: 'Never',
      activeDeadlineSeconds: spec.deadlineSeconds,
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      tolerations: spec.tolerations,
      securityContext: { runAsNonRoot: true, runAsUser: 65_535, runAsGroup: 65_535, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'probe',
          image: spec.image,
          imagePullPolicy: 'IfNotPresent',
          resources: { requests: { cpu: '1m', memory: '8Mi' }, limits: { cpu: '50m', memory: '32Mi' } },
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
        },
      ],
    },
  };
}

/** The shadow RuntimeClass of a class: its handler, nothing else. */
export function shadowClass(name: string, handler: string): object {
  return { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name, labels: PROBE_OBJECT_LABELS }, handler };
}

const gone = (err: unknown): boolean => err instanceof KubeApiError && err.reason === 'NotFound';
const exists = (err: unknown): boolean => err instanceof KubeApiError && err.reason === 'AlreadyExists';

export class ProbeActions {
  private readonly api: KubeRequester;

  constructor(api: KubeRequester) {
    this.api = api;
  }

  async createPod(spec: ProbePodSpec): Promise<string> {
    const created = await this.api.request<{ metadata?: { name?: string } }>('POST', `/api/v1/namespaces/${spec.namespace}/pods`, {
      what: `create probe Pod of ${spec.runtimeClass} on ${spec.node}`,
      body: probePod(spec),
    });
    return created.metadata?.name ?? '';
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    try {
      await this.api.request('DELETE', `/api/v1/namespaces/${namespace}/pods/${name}`, {
        what: `delete probe Pod ${namespace}/${name}`,
        body: { gracePeriodSeconds: 0 },
      });
    } catch (err) {
      if (!gone(err)) throw err;
    }
  }

  /** Creates it; one made a moment ago that the watch has not brought yet is no failure. */
  async createShadow(name: string, handler: string): Promise<void> {
    try {
      await this.api.request('POST', '/apis/node.k8s.io/v1/runtimeclasses', { what: `create RuntimeClass ${name}`, body: shadowClass(name, handler) });
    } catch (err) {
      if (!exists(err)) throw err;
    }
  }

  async deleteShadow(name: string): Promise<void> {
    try {
      await this.api.request('DELETE', `/apis/node.k8s.io/v1/runtimeclasses/${name}`, { what: `delete RuntimeClass ${name}` });
    } catch (err) {
      if (!gone(err)) throw err;
    }
  }

  /** Sets and removes (null) the node's probe labels. */
  async patchLabels(node: string, labels: Readonly<Record<string, string | null>>): Promise<void> {
    await this.api.request('PATCH', `/api/v1/nodes/${node}`, { what: `label Node ${node}`, contentType: MERGE_PATCH, body: { metadata: { labels } } });
  }
}
