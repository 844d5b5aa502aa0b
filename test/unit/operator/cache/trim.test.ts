// What the operator keeps of each object, and how it treats objects it cannot use.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resourceOf } from '../../../../kube/rest.ts';
import { jitteredBackoff } from '../../../../kube/backoff.ts';
import { trimAudit, trimPod, trimReport } from '../../../../operator/cache/trim.ts';

const agents = { namespace: 'rcaudit', matchLabels: { app: 'agent' } };

function podObject(over: { metadata?: object; spec?: object; status?: object } = {}): Record<string, unknown> {
  return {
    metadata: {
      uid: 'u1',
      namespace: 'ns',
      name: 'p',
      creationTimestamp: '2026-11-23T10:00:00Z',
      labels: { app: 'web' },
      managedFields: [{ big: 'x' }],
      ...over.metadata,
    },
    spec: { nodeName: 'n1', runtimeClassName: 'kata', containers: [{ name: 'c', image: 'i', env: [{ name: 'A', value: 'B' }] }], ...over.spec },
    status: { phase: 'Running', conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-11-23T10:00:05Z' }], ...over.status },
  };
}

describe('trimPod', () => {
  test('keeps only what a verdict needs', () => {
    assert.deepEqual(trimPod(podObject(), agents), {
      uid: 'u1',
      namespace: 'ns',
      name: 'p',
      nodeName: 'n1',
      runtimeClassName: 'kata',
      boundAt: Date.parse('2026-11-23T10:00:05Z'),
      terminated: false,
    });
  });
  test("a static pod's mirror names the static pod's uid; an unscheduled pod has no node; bound time falls back to creation", () => {
    const mirror = trimPod(podObject({ metadata: { annotations: { 'kubernetes.io/config.mirror': 'static-uid' } }, status: { conditions: [] } }), agents);
    assert.equal(mirror.mirrorOf, 'static-uid');
    assert.equal(mirror.boundAt, Date.parse('2026-11-23T10:00:00Z'));
    const { nodeName } = trimPod(podObject({ spec: { nodeName: '' } }), agents);
    assert.equal(nodeName, undefined);
  });
  test('succeeded and failed pods are terminated', () => {
    assert.equal(trimPod(podObject({ status: { phase: 'Succeeded' } }), agents).terminated, true);
    assert.equal(trimPod(podObject({ status: { phase: 'Failed' } }), agents).terminated, true);
  });
  test("only the agent's pods carry readiness", () => {
    const ready = { conditions: [{ type: 'Ready', status: 'True' }] };
    assert.equal(trimPod(podObject({ metadata: { namespace: 'rcaudit', labels: { app: 'agent' } }, status: ready }), agents).agentReady, true);
    assert.equal(trimPod(podObject({ metadata: { namespace: 'rcaudit', labels: { app: 'agent' } } }), agents).agentReady, false);
    assert.equal(trimPod(podObject({ metadata: { namespace: 'other', labels: { app: 'agent' } }, status: ready }), agents).agentReady, undefined);
    assert.equal(trimPod(podObject({ metadata: { namespace: 'rcaudit', labels: { app: 'agent' } }, status: ready }), undefined).agentReady, undefined);
  });
  test("the operator's own pod condition is kept, so it is written only when it changes", () => {
    const status = { conditions: [{ type: 'rcaudit.dev/RuntimeHandlerVerified', status: 'False', reason: 'HandlerMismatch' }] };
    assert.deepEqual(trimPod(podObject({ status }), agents).verified, { status: 'False', reason: 'HandlerMismatch' });
  });
});

const goodSpec = { nodeName: 'n1', runtime: { reachable: true, infoFormat: 'containerd', handlers: [] }, sandboxes: [] };

describe('trimReport', () => {
  test('a valid report keeps its spec, generation and status', () => {
    const status = { observedGeneration: 2, audits: [] };
    assert.deepEqual(trimReport({ metadata: { name: 'n1', generation: 2 }, spec: goodSpec, status }), { name: 'n1', generation: 2, spec: goodSpec, status });
  });
  test('a spec the schema refuses is named invalid, with the place and the problem', () => {
    const bad = trimReport({ metadata: { name: 'n1' }, spec: { ...goodSpec, sandboxes: [{ id: 'x' }] } });
    assert.equal(bad.spec, undefined);
    assert.match(bad.invalid ?? '', /^spec\/sandboxes\/0 must have required property/);
    assert.match(trimReport({ metadata: { name: 'n1' } }).invalid ?? '', /^spec\(root\) must be object/);
  });
  test('a report that speaks for another node is invalid', () => {
    assert.equal(trimReport({ metadata: { name: 'n2' }, spec: goodSpec }).invalid, "spec.nodeName n1 is not the report's name");
  });
  test('a status the operator cannot read is treated as none (it will be rewritten)', () => {
    assert.equal(trimReport({ metadata: { name: 'n1' }, spec: goodSpec, status: { audits: 'garbage' } }).status, undefined);
  });
});

describe('trimAudit', () => {
  test("the schema's defaults are filled in, as the API server does", () => {
    assert.deepEqual(trimAudit({ metadata: { name: 'a', generation: 1 }, spec: {} }).spec, { auditPodsWithoutRuntimeClass: false, gracePeriodSeconds: 120 });
    assert.deepEqual(trimAudit({ metadata: { name: 'a' } }).spec, { auditPodsWithoutRuntimeClass: false, gracePeriodSeconds: 120 });
  });
  test('an invalid policy is named, not used', () => {
    assert.match(trimAudit({ metadata: { name: 'a' }, spec: { gracePeriodSeconds: -1 } }).invalid ?? '', /^spec\/gracePeriodSeconds must be >= 0/);
  });
});

describe('API paths and retry delays', () => {
  test('the resource of a path, for metrics', () => {
    assert.equal(resourceOf('/api/v1/pods'), 'pods');
    assert.equal(resourceOf('/api/v1/namespaces/ns/events/e1'), 'events');
    assert.equal(resourceOf('/api/v1/namespaces/ns/pods/p/status'), 'pods/status');
    assert.equal(resourceOf('/apis/rcaudit.dev/v1alpha1/nodesandboxreports/n1/status'), 'nodesandboxreports/status');
    assert.equal(resourceOf('/apis/coordination.k8s.io/v1/namespaces/x/leases/l'), 'leases');
  });
  test('jittered backoff doubles from the base to the cap, stretched by up to 100%, never past the cap', () => {
    assert.equal(
      jitteredBackoff(1, 800, 30_000, () => 0),
      800,
    );
    assert.equal(
      jitteredBackoff(3, 800, 30_000, () => 0),
      3200,
    );
    assert.equal(
      jitteredBackoff(50, 800, 30_000, () => 0),
      30_000,
    );
    assert.equal(
      jitteredBackoff(2, 800, 30_000, () => 0.5),
      2400,
    );
    assert.equal(
      jitteredBackoff(6, 800, 30_000, () => 0.99),
      30_000,
      '25.6 s stretched would pass 30 s',
    );
    assert.equal(
      jitteredBackoff(50, 800, 30_000, () => 0.99),
      30_000,
    );
  });
});
