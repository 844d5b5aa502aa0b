// The CRI calls that change a node, which the agent never makes: for the
// testbed's tools and tests (removing sandboxes as the kubelet's garbage
// collector would, or before the testbed stops).
import { CriRuntimeClient } from '../../agent/cri/runtime-client.ts';

export class CriAdminClient extends CriRuntimeClient {
  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.call('StopPodSandbox', { pod_sandbox_id: podSandboxId });
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.call('RemovePodSandbox', { pod_sandbox_id: podSandboxId });
  }
}
