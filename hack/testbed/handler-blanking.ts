// What the testbed's CRI proxy does to RunPodSandbox requests, kept apart from
// its sockets so it can be tested on bytes alone.
import type * as protoLoader from '@grpc/proto-loader';
import { criMethod, RUNTIME_SERVICE } from '../../agent/cri/proto.ts';

export interface BlankedSandbox {
  namespace: string;
  name: string;
  uid: string;
  requested: string;
}

interface RunPodSandboxRequest {
  config: { metadata: { name: string; namespace: string; uid: string } | null } | null;
  runtime_handler: string;
}

/** RunPodSandboxRequest.runtime_handler's field number in api.proto. */
const RUNTIME_HANDLER_FIELD = 2;

/**
 * Returns a function that takes an encoded RunPodSandboxRequest and gives back
 * the bytes to forward: unchanged, or with runtime_handler blanked when the
 * pod's namespace matches `namespaces` (what kuscia's kubelet does to every pod).
 */
export function handlerBlanker(
  definition: protoLoader.PackageDefinition,
  namespaces: RegExp,
  onBlank: (sandbox: BlankedSandbox) => void = () => undefined,
): (body: Buffer) => Buffer {
  const method = criMethod(definition, RUNTIME_SERVICE, 'RunPodSandbox');
  return (body) => {
    const request = method.requestDeserialize(body) as RunPodSandboxRequest;
    const pod = request.config?.metadata;
    if (pod === null || pod === undefined || !namespaces.test(pod.namespace)) return body;
    onBlank({ namespace: pod.namespace, name: pod.name, uid: pod.uid, requested: request.runtime_handler });
    return withoutField(body, RUNTIME_HANDLER_FIELD);
  };
}

/**
 * Drops every top-level occurrence of one field from an encoded protobuf
 * message (an absent proto3 string reads as ""). Editing the wire bytes rather
 * than decoding and re-encoding keeps every other byte, unknown fields too.
 */
export function withoutField(message: Buffer, fieldNumber: number): Buffer {
  const kept: Buffer[] = [];
  let offset = 0;
  while (offset < message.length) {
    const start = offset;
    const key = readVarint(message, offset);
    offset = skipValue(message, key.next, Number(key.value & 7n));
    if (offset > message.length) throw new Error(`truncated field at byte ${String(start)}`);
    if (Number(key.value >> 3n) !== fieldNumber) kept.push(message.subarray(start, offset));
  }
  return Buffer.concat(kept);
}

function skipValue(message: Buffer, offset: number, wireType: number): number {
  switch (wireType) {
    case 0:
      return readVarint(message, offset).next;
    case 1:
      return offset + 8;
    case 2: {
      const length = readVarint(message, offset);
      return length.next + Number(length.value);
    }
    case 5:
      return offset + 4;
    default:
      throw new Error(`unsupported protobuf wire type ${String(wireType)} at byte ${String(offset)}`);
  }
}

function readVarint(message: Buffer, offset: number): { value: bigint; next: number } {
  let value = 0n;
  for (let shift = 0n, i = offset; i < message.length; shift += 7n, i++) {
    const byte = message[i] ?? 0;
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return { value, next: i + 1 };
  }
  throw new Error(`truncated varint at byte ${String(offset)}`);
}
