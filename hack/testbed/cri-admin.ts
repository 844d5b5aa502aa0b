// The CRI calls that change a node, which the agent never makes: for the
// testbed's tools and tests (sandboxes run straight through CRI where no
// kubelet may drop their handler, and removed as the kubelet's garbage
// collector would, or before the testbed stops).
import { randomUUID } from 'node:crypto';
import { CriRuntimeClient } from '../../agent/cri/runtime-client.ts';

export interface DirectSandbox {
  namespace: string;
  name: string;
  /** The handler to ask for; "" is the runtime's default. */
  handler: string;
  /** The node's cgroup root (e.g. /rcaudit/rcaudit-node-2): the sandbox goes in a cgroup under it, which testbed:down removes. */
  cgroupRoot: string;
}

export class CriAdminClient extends CriRuntimeClient {
  /** Runs a sandbox on the pod network the way a kubelet would, with this handler; returns its id. */
  async runPodSandbox(sandbox: DirectSandbox): Promise<string> {
    const uid = randomUUID();
    const { pod_sandbox_id: id } = await this.call<{ pod_sandbox_id: string }>('RunPodSandbox', {
      runtime_handler: sandbox.handler,
      config: {
        metadata: { name: sandbox.name, uid, namespace: sandbox.namespace, attempt: 0 },
        hostname: sandbox.name,
        labels: { 'io.kubernetes.pod.name': sandbox.name, 'io.kubernetes.pod.namespace': sandbox.namespace, 'io.kubernetes.pod.uid': uid },
        linux: { cgroup_parent: `${sandbox.cgroupRoot}/direct/pod${uid}` },
      },
    });
    return id;
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.call('StopPodSandbox', { pod_sandbox_id: podSandboxId });
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.call('RemovePodSandbox', { pod_sandbox_id: podSandboxId });
  }
}
