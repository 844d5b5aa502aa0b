import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_CRI_ENDPOINTS, detectCriEndpoint } from '../../../../agent/cri/endpoint.ts';

test("auto-detection takes the first existing socket in crictl's order, then k3s's", () => {
  const only =
    (...paths: string[]) =>
    (path: string) =>
      paths.includes(path);
  assert.equal(detectCriEndpoint(DEFAULT_CRI_ENDPOINTS, only('/run/crio/crio.sock', '/run/k3s/containerd/containerd.sock')), 'unix:///run/crio/crio.sock');
  assert.equal(detectCriEndpoint(DEFAULT_CRI_ENDPOINTS, only('/run/k3s/containerd/containerd.sock')), 'unix:///run/k3s/containerd/containerd.sock');
  assert.equal(
    detectCriEndpoint(DEFAULT_CRI_ENDPOINTS, only('/run/containerd/containerd.sock', '/run/crio/crio.sock')),
    'unix:///run/containerd/containerd.sock',
  );
  assert.equal(detectCriEndpoint(DEFAULT_CRI_ENDPOINTS, only()), undefined);
});

test('a regular file where a socket should be is not a runtime', () => {
  // The real check: /etc/hostname exists but is not a socket.
  assert.equal(detectCriEndpoint(['unix:///etc/hostname']), undefined);
});
