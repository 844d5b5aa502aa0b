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

/**
 * Stops and removes every sandbox on a CRI endpoint, or only a namespace's.
 * A sandbox the runtime refuses to remove (its handler since dropped from the
 * runtime's configuration, say) does not stop the others: the refusals are
 * returned, one line each.
 */
export async function removeSandboxes(endpoint: string, namespace?: string): Promise<{ removed: number; refused: string[] }> {
  const client = new CriAdminClient(endpoint, { deadlineMs: 30_000 });
  try {
    const { items } = await client.listPodSandbox();
    const chosen = items.filter((s) => namespace === undefined || s.metadata?.namespace === namespace);
    const refused: string[] = [];
    for (const sandbox of chosen) {
      try {
        await client.stopPodSandbox(sandbox.id);
        await client.removePodSandbox(sandbox.id);
      } catch (err) {
        refused.push(`${sandbox.id.slice(0, 13)} (${sandbox.metadata?.namespace ?? '?'}/${sandbox.metadata?.name ?? '?'}): ${(err as Error).message}`);
      }
    }
    return { removed: chosen.length - refused.length, refused };
  } finally {
    client.close();
  }
}
