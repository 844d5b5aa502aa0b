// Many pods at once, for scale tests and benchmarks: host-network pods (no
// pod IP needed, so a /24 node holds hundreds) running the pause image.
import type { Testbed, TestbedNode } from '../../hack/testbed/testbed.ts';
import { kubectl } from '../../hack/testbed/testbed.ts';

export function pausePods(testbed: Testbed, node: TestbedNode, namespace: string, names: string[]): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: names.map((name, i) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { namespace, name },
      spec: {
        nodeName: node.name,
        hostNetwork: true,
        // Every other pod asks for kata, so the report holds both kinds.
        ...(i % 2 === 0 ? { runtimeClassName: 'kata' } : {}),
        terminationGracePeriodSeconds: 1,
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        containers: [{ name: 'main', image: testbed.pauseImage, imagePullPolicy: 'Never' }],
      },
    })),
  });
}

/** Creates pods `prefix-<from>` .. `prefix-<to - 1>` and waits until all are Ready. */
export async function runPausePods(testbed: Testbed, node: TestbedNode, namespace: string, range: { prefix: string; from: number; to: number }): Promise<void> {
  const names = Array.from({ length: range.to - range.from }, (_, i) => `${range.prefix}-${String(range.from + i)}`);
  if (names.length === 0) return;
  await kubectl(testbed, ['apply', '-f', '-'], pausePods(testbed, node, namespace, names));
  await kubectl(testbed, ['wait', '-n', namespace, '--for=condition=Ready', '--timeout=600s', ...names.map((n) => `pod/${n}`)]);
}

/** What a pod runs instead of the pause program: an image already on the nodes, and its command or arguments. */
export interface PodProgram {
  image: string;
  command?: string[];
  args?: string[];
}

/** One pause pod bound to `node` (on the pod network), asking for `runtimeClassName` when given; `program` runs instead of pause. */
export function pausePod(
  testbed: Testbed,
  pod: { namespace: string; name: string; node: TestbedNode; runtimeClassName?: string | undefined; program?: PodProgram },
): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: pod.namespace, name: pod.name },
    spec: {
      nodeName: pod.node.name,
      terminationGracePeriodSeconds: 1,
      automountServiceAccountToken: false,
      ...(pod.runtimeClassName === undefined ? {} : { runtimeClassName: pod.runtimeClassName }),
      containers: [{ name: 'main', image: testbed.pauseImage, ...pod.program, imagePullPolicy: 'Never' }],
    },
  };
}

/** Creates one pause pod bound to `node`, asking for `runtimeClassName`. */
export async function applyPod(
  testbed: Testbed,
  pod: { namespace: string; name: string; node: TestbedNode; runtimeClassName?: string | undefined; program?: PodProgram },
): Promise<void> {
  await kubectl(testbed, ['apply', '-f', '-'], JSON.stringify(pausePod(testbed, pod)));
}
