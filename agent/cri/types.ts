// The parts of the CRI runtime/v1 messages this project reads, as
// @grpc/proto-loader hands them over (keepCase, longs and enums as strings,
// defaults filled in). Field names follow proto/runtime/v1/api.proto.

export type PodSandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

export interface PodSandbox {
  id: string;
  metadata: PodSandboxMetadata | null;
  state: PodSandboxState;
  /** Nanoseconds since the epoch, as a decimal string. */
  created_at: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The handler the kubelet asked for, verbatim: "" for the runtime's default. */
  runtime_handler: string;
}

export interface ListPodSandboxResponse {
  items: PodSandbox[];
}

export interface VersionResponse {
  version: string;
  runtime_name: string;
  runtime_version: string;
  runtime_api_version: string;
}

export interface StatusResponse {
  /** Verbose only: runtime-specific JSON documents, keyed by name ("config", ...). */
  info: Record<string, string>;
}

export interface PodSandboxStatusResponse {
  status: {
    id: string;
    metadata: PodSandboxMetadata | null;
    state: PodSandboxState;
    created_at: string;
    runtime_handler: string;
  } | null;
  /** Verbose only: runtime-specific JSON documents ("info" on containerd and CRI-O). */
  info: Record<string, string>;
}

export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export interface Container {
  id: string;
  pod_sandbox_id: string;
  metadata: { name: string; attempt: number } | null;
  state: ContainerState;
  /** Nanoseconds since the epoch, as a decimal string. */
  created_at: string;
}

export interface ListContainersResponse {
  containers: Container[];
}

export interface ContainerStatusResponse {
  /** Verbose only: runtime-specific JSON documents ("info" on containerd and CRI-O, with the container's "pid"). */
  info: Record<string, string>;
}
