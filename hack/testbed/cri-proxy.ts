// The testbed's "broken kubelet": a CRI pass-through proxy between a real
// kubelet and a real containerd that forwards every call byte for byte, except
// that RunPodSandbox loses its runtime_handler for pods in selected
// namespaces, just as kuscia's modified kubelet always sends "". The pod meant
// for kata then runs under the runtime's default handler with no error.
//
//   node hack/testbed/cri-proxy.ts --listen PATH --upstream PATH --blank-namespaces REGEX
//
// Messages are forwarded as raw bytes so unknown fields survive; only
// RunPodSandbox requests are decoded, and only to blank one field.
import * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { criTarget, IMAGE_SERVICE, KUBELET_MAX_MESSAGE_BYTES, loadCriDefinition, RUNTIME_SERVICE, socketPath } from '../../agent/cri/proto.ts';
import { handlerBlanker } from './handler-blanking.ts';

const RUN_POD_SANDBOX = `/${RUNTIME_SERVICE}/RunPodSandbox`;

const log = (msg: string, fields: Record<string, unknown> = {}): void => {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...fields })}\n`);
};

const identity = (b: Buffer): Buffer => b;

function main(): void {
  const { values } = parseArgs({
    options: {
      listen: { type: 'string' },
      upstream: { type: 'string' },
      'blank-namespaces': { type: 'string', default: '^$' },
    },
  });
  if (values.listen === undefined || values.upstream === undefined) {
    throw new Error('usage: cri-proxy --listen PATH --upstream PATH [--blank-namespaces REGEX]');
  }
  const blank = new RegExp(values['blank-namespaces']);
  const definition = loadCriDefinition();
  const upstream = new grpc.Client(criTarget(values.upstream), grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': KUBELET_MAX_MESSAGE_BYTES,
  });
  const server = new grpc.Server({ 'grpc.max_receive_message_length': KUBELET_MAX_MESSAGE_BYTES });
  const rewrite = makeRewrite(definition, blank);
  for (const service of [RUNTIME_SERVICE, IMAGE_SERVICE]) {
    server.addService(
      forwardingService(definition[service] as protoLoader.ServiceDefinition),
      forwardingHandlers(definition[service] as protoLoader.ServiceDefinition, upstream, rewrite),
    );
  }
  const listen = socketPath(values.listen);
  rmSync(listen, { force: true });
  server.bindAsync(`unix:${listen}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) {
      log('cannot listen', { error: err.message, listen });
      process.exit(1);
    }
    log('cri-proxy listening', { listen, upstream: values.upstream, blankNamespaces: blank.source });
  });
  const stop = (): void => {
    server.tryShutdown(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

type Rewrite = (path: string, body: Buffer) => Buffer;

function makeRewrite(definition: protoLoader.PackageDefinition, blank: RegExp): Rewrite {
  const blankHandler = handlerBlanker(definition, blank, (sandbox) => {
    log('blanking runtime_handler', { ...sandbox });
  });
  return (path, body) => (path === RUN_POD_SANDBOX ? blankHandler(body) : body);
}

function forwardingService(service: protoLoader.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  for (const [name, method] of Object.entries(service)) {
    out[name] = {
      path: method.path,
      requestStream: method.requestStream,
      responseStream: method.responseStream,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
      originalName: method.originalName,
    } as grpc.MethodDefinition<Buffer, Buffer>;
  }
  return out;
}

function forwardingHandlers(service: protoLoader.ServiceDefinition, upstream: grpc.Client, rewrite: Rewrite): grpc.UntypedServiceImplementation {
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(service)) {
    if (method.requestStream) {
      handlers[name] = (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'client streaming is not proxied' });
      };
    } else if (method.responseStream) {
      handlers[name] = (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        forwardStream(upstream, method.path, call);
      };
    } else {
      handlers[name] = (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const body = rewrite(method.path, call.request);
        const outbound = upstream.makeUnaryRequest(method.path, identity, identity, body, new grpc.Metadata(), { deadline: call.getDeadline() }, cb);
        call.on('cancelled', () => {
          outbound.cancel();
        });
      };
    }
  }
  return handlers;
}

function forwardStream(upstream: grpc.Client, path: string, call: grpc.ServerWritableStream<Buffer, Buffer>): void {
  const outbound = upstream.makeServerStreamRequest(path, identity, identity, call.request, new grpc.Metadata(), {
    deadline: call.getDeadline(),
  });
  outbound.on('data', (chunk: Buffer) => call.write(chunk));
  outbound.on('end', () => call.end());
  outbound.on('error', (err: grpc.ServiceError) => {
    if (err.code !== grpc.status.CANCELLED) call.emit('error', err);
  });
  call.on('cancelled', () => {
    outbound.cancel();
  });
}

main();
