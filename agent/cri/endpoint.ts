// Where a node's CRI socket is, when the operator of the chart did not say:
// crictl's default order, plus k3s/RKE2's containerd.
import { statSync } from 'node:fs';

export const DEFAULT_CRI_ENDPOINTS = [
  'unix:///run/containerd/containerd.sock',
  'unix:///run/crio/crio.sock',
  'unix:///var/run/cri-dockerd.sock',
  'unix:///run/k3s/containerd/containerd.sock',
] as const;

const isSocket = (path: string): boolean => {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
};

/** The first candidate whose socket exists, or undefined when none does (yet). */
export function detectCriEndpoint(
  candidates: readonly string[] = DEFAULT_CRI_ENDPOINTS,
  socketExists: (path: string) => boolean = isSocket,
): string | undefined {
  return candidates.find((endpoint) => socketExists(endpoint.replace(/^unix:\/\//, '')));
}
