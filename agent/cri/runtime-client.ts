// A small client for the CRI RuntimeService over the node's unix socket:
// the read-only calls the agent makes, nothing that changes the node. Every
// call carries a deadline: a runtime that hangs must show up as an error,
// not as a scan that never ends.
import * as grpc from '@grpc/grpc-js';
import { criTarget, KUBELET_MAX_MESSAGE_BYTES, loadCriDefinition, RUNTIME_SERVICE } from './proto.ts';
import type {
  ContainerStatusResponse,
  ListContainersResponse,
  ListPodSandboxResponse,
  PodSandboxStatusResponse,
  StatusResponse,
  VersionResponse,
} from './types.ts';

export interface RuntimeClientOptions {
  /** Per-call deadline in milliseconds. */
  deadlineMs?: number;
  /** Largest answer accepted; a larger one fails the call with RESOURCE_EXHAUSTED. */
  maxMessageBytes?: number;
  /** Told of every call: its method, duration, and gRPC status code (0 = OK). */
  onCall?: (method: string, seconds: number, code: number) => void;
}

type Unary = (
  request: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response?: unknown) => void,
) => grpc.ClientUnaryCall;

export class CriRuntimeClient {
  readonly endpoint: string;
  private readonly client: grpc.Client;
  private readonly deadlineMs: number;
  private readonly onCall: NonNullable<RuntimeClientOptions['onCall']>;

  constructor(endpoint: string, options: RuntimeClientOptions = {}) {
    this.endpoint = endpoint;
    this.deadlineMs = options.deadlineMs ?? 5_000;
    this.onCall = options.onCall ?? (() => undefined);
    const pkg = grpc.loadPackageDefinition(loadCriDefinition());
    const Ctor = lookupService(pkg, RUNTIME_SERVICE);
    this.client = new Ctor(criTarget(endpoint), grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': options.maxMessageBytes ?? KUBELET_MAX_MESSAGE_BYTES,
      // No 'grpc.keepalive_time_ms': grpc-js then sends no keepalive pings,
      // which containerd would answer by closing the connection (too_many_pings).
      // A restarted runtime is found again within seconds, not grpc's default 2 minutes.
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': 2_000,
    });
  }

  version(): Promise<VersionResponse> {
    return this.call('Version', { version: 'v1' });
  }

  status(verbose: boolean): Promise<StatusResponse> {
    return this.call('Status', { verbose });
  }

  listPodSandbox(): Promise<ListPodSandboxResponse> {
    return this.call('ListPodSandbox', {});
  }

  podSandboxStatus(podSandboxId: string, verbose: boolean): Promise<PodSandboxStatusResponse> {
    return this.call('PodSandboxStatus', { pod_sandbox_id: podSandboxId, verbose });
  }

  /** Every container on the node (asked only while a sandbox without a pid of its own waits for evidence). */
  listContainers(): Promise<ListContainersResponse> {
    return this.call('ListContainers', {});
  }

  containerStatus(containerId: string, verbose: boolean): Promise<ContainerStatusResponse> {
    return this.call('ContainerStatus', { container_id: containerId, verbose });
  }

  close(): void {
    this.client.close();
  }

  /** One unary call with the deadline; the testbed's tools add write calls through it (the agent only reads). */
  protected call<T>(method: string, request: object): Promise<T> {
    const fn = (this.client as unknown as Record<string, Unary>)[method];
    if (fn === undefined) throw new Error(`CRI RuntimeService has no method ${method}`);
    const deadline = new Date(Date.now() + this.deadlineMs);
    const started = performance.now();
    return new Promise<T>((resolve, reject) => {
      fn.call(this.client, request, new grpc.Metadata(), { deadline }, (err, response) => {
        this.onCall(method, (performance.now() - started) / 1000, err ? err.code : grpc.status.OK);
        if (err) reject(err);
        else resolve(response as T);
      });
    });
  }
}

function lookupService(pkg: grpc.GrpcObject, name: string): grpc.ServiceClientConstructor {
  let node: unknown = pkg;
  for (const part of name.split('.')) node = (node as Record<string, unknown>)[part];
  if (typeof node !== 'function') throw new Error(`${name} not found in the CRI proto`);
  return node as grpc.ServiceClientConstructor;
}
