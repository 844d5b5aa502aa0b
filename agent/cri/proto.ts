// Loads the CRI runtime/v1 proto that proto/ pins. Shared by the agent's CRI
// client and the testbed's CRI proxy so both read the wire format one way.
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';

export const CRI_PROTO_PATH = fileURLToPath(new URL('../../proto/runtime/v1/api.proto', import.meta.url));
export const RUNTIME_SERVICE = 'runtime.v1.RuntimeService';
export const IMAGE_SERVICE = 'runtime.v1.ImageService';

/** The kubelet's own limit on CRI messages; ListPodSandbox on a big node runs to megabytes. */
export const KUBELET_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

let definition: protoLoader.PackageDefinition | undefined;

/** The parsed proto; parsed once per process (every client and the proxy share it). */
export function loadCriDefinition(): protoLoader.PackageDefinition {
  definition ??= protoLoader.loadSync(CRI_PROTO_PATH, {
    // Field names exactly as in the proto (runtime_handler), so what we read
    // is what crictl and the CRI docs call it.
    keepCase: true,
    // CRI timestamps are int64 nanoseconds: beyond Number.MAX_SAFE_INTEGER.
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return definition;
}

/** "unix:///run/x.sock", "unix:/run/x.sock" or "/run/x.sock" -> grpc-js target. */
export function criTarget(endpoint: string): string {
  const path = socketPath(endpoint);
  return `unix:${path}`;
}

export function socketPath(endpoint: string): string {
  const path = endpoint.replace(/^unix:(\/\/)?/, '');
  if (!path.startsWith('/')) {
    throw new Error(`CRI endpoint ${JSON.stringify(endpoint)} is not an absolute unix socket path`);
  }
  return path;
}

/** A CRI method's (de)serializers: how grpc-js turns its messages into bytes and back. */
export function criMethod(definition: protoLoader.PackageDefinition, service: string, method: string): protoLoader.MethodDefinition<object, object> {
  const methods = definition[service] as protoLoader.ServiceDefinition | undefined;
  const found = methods?.[method];
  if (found === undefined) throw new Error(`${service}/${method} is not in the CRI proto`);
  return found;
}
