import assert from 'node:assert/strict';
import { test } from 'node:test';
import type * as protoLoader from '@grpc/proto-loader';
import { criMethod, criTarget, loadCriDefinition, RUNTIME_SERVICE } from '../../../../agent/cri/proto.ts';

const definition = loadCriDefinition();

test('criTarget accepts the endpoint spellings crictl and the kubelet use', () => {
  assert.equal(criTarget('unix:///run/containerd/containerd.sock'), 'unix:/run/containerd/containerd.sock');
  assert.equal(criTarget('unix:/run/crio/crio.sock'), 'unix:/run/crio/crio.sock');
  assert.equal(criTarget('/run/k3s/containerd/containerd.sock'), 'unix:/run/k3s/containerd/containerd.sock');
  assert.throws(() => criTarget('tcp://10.0.0.1:1234'), /not an absolute unix socket path/);
  assert.throws(() => criTarget('relative.sock'), /not an absolute unix socket path/);
});

test('the RuntimeService has every method the agent and testbed call', () => {
  const service = definition[RUNTIME_SERVICE] as protoLoader.ServiceDefinition;
  for (const method of ['Version', 'Status', 'ListPodSandbox', 'PodSandboxStatus', 'RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox']) {
    assert.ok(method in service, `${method} missing`);
  }
  assert.equal(service['GetContainerEvents']?.responseStream, true);
});

test('nanosecond timestamps survive decoding as exact decimal strings', () => {
  // 2026-11-23T00:00:00.123456789Z in ns: far beyond Number.MAX_SAFE_INTEGER.
  const createdAt = '1795392000123456789';
  // Through the same (de)serializers grpc-js uses for the agent's calls.
  const list = criMethod(definition, RUNTIME_SERVICE, 'ListPodSandbox');
  const wire = list.responseSerialize({ items: [{ id: 'abc', created_at: createdAt, runtime_handler: 'kata' }] });
  const decoded = list.responseDeserialize(wire) as { items: Record<string, unknown>[] };
  const [sandbox] = decoded.items;
  assert.ok(sandbox);
  assert.equal(sandbox['created_at'], createdAt);
  assert.equal(sandbox['runtime_handler'], 'kata');
});
