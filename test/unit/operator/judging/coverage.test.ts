// Handler coverage per RuntimeClass (operator/judging/coverage.ts) and what the
// audit's status says of it (operator/judging/policy.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { admits, coverage, coverageOf, driftOf, hasHandler, tolerates, type CoverageNode } from '../../../../operator/judging/coverage.ts';
import { handlersConsistentCondition, handlersCoveredCondition, policyResolvedCondition, policyStatus } from '../../../../operator/judging/policy.ts';
import { trimNode, trimRuntimeClass } from '../../../../operator/cache/trim.ts';

type Runtime = NonNullable<CoverageNode['runtime']>;
const containerd = (handlers: [string, string][]): Runtime => ({
  name: 'containerd',
  infoFormat: 'containerd',
  handlers: handlers.map(([name, runtimeType]) => ({ name, runtimeType })),
});
const crio = (handlers: [string, string, string][]): Runtime => ({
  name: 'cri-o',
  infoFormat: 'cri-o',
  handlers: handlers.map(([name, runtimeType, runtimePath]) => ({ name, runtimeType, runtimePath })),
});
const node = (name: string, over: Partial<CoverageNode> = {}): CoverageNode => ({ name, labels: {}, taints: [], ...over });

describe('tolerates and admits: the scheduler rules for a RuntimeClass', () => {
  const gpu = { key: 'gpu', value: 'true', effect: 'NoSchedule' };
  test('a toleration matches key, value and effect; Exists any value; an empty key with Exists everything; an empty effect every effect', () => {
    assert.equal(tolerates({ key: 'gpu', value: 'true', effect: 'NoSchedule' }, gpu), true);
    assert.equal(tolerates({ key: 'gpu', value: 'false' }, gpu), false);
    assert.equal(tolerates({ key: 'gpu', operator: 'Exists' }, gpu), true);
    assert.equal(tolerates({ key: 'gpu', operator: 'Exists', effect: 'NoExecute' }, gpu), false);
    assert.equal(tolerates({ operator: 'Exists' }, gpu), true);
    assert.equal(tolerates({ key: 'other', operator: 'Exists' }, gpu), false);
  });
  test('the node selector must match and every taint be tolerated', () => {
    const sandboxed = node('n1', { labels: { sandbox: 'kata' }, taints: [gpu] });
    assert.equal(admits({ handler: 'kata', nodeSelector: { sandbox: 'kata' } }, sandboxed), false, 'the gpu taint is not tolerated');
    assert.equal(admits({ handler: 'kata', nodeSelector: { sandbox: 'kata' }, tolerations: [{ key: 'gpu', operator: 'Exists' }] }, sandboxed), true);
    assert.equal(admits({ handler: 'kata', nodeSelector: { sandbox: 'gvisor' }, tolerations: [{ operator: 'Exists' }] }, sandboxed), false);
    assert.equal(admits({ handler: 'kata' }, node('n2')), true, 'no scheduling: every untainted node');
  });
});

describe('hasHandler', () => {
  test("the agent's report when it lists handlers, else node.status.runtimeHandlers, else unknown", () => {
    assert.equal(hasHandler(node('n', { runtime: containerd([['kata', 'io.containerd.kata.v2']]), runtimeHandlers: [] }), 'kata'), 'covered');
    assert.equal(hasHandler(node('n', { runtime: containerd([['runc', 'io.containerd.runc.v2']]), runtimeHandlers: ['kata'] }), 'kata'), 'uncovered');
    assert.equal(hasHandler(node('n', { runtime: { name: 'x', infoFormat: 'unknown', handlers: [] }, runtimeHandlers: ['kata'] }), 'kata'), 'covered');
    assert.equal(hasHandler(node('n', { runtimeHandlers: ['runc'] }), 'kata'), 'uncovered');
    assert.equal(hasHandler(node('n'), 'kata'), 'unknown');
  });
});

describe('driftOf', () => {
  test('kata is a VM on two containerd nodes and runc on a third: drift, most nodes first', () => {
    const vm = containerd([['kata', 'io.containerd.kata.v2']]);
    const drift = driftOf(
      [node('a', { runtime: vm }), node('b', { runtime: vm }), node('c', { runtime: containerd([['kata', 'io.containerd.runc.v2']]) })],
      'kata',
    );
    assert.deepEqual(drift, [
      { runtime: 'containerd io.containerd.kata.v2', nodes: 2, sampleNodes: ['a', 'b'] },
      { runtime: 'containerd io.containerd.runc.v2', nodes: 1, sampleNodes: ['c'] },
    ]);
  });
  test('containerd and CRI-O side by side are no drift: their runtime types are different words', () => {
    const nodes = [node('a', { runtime: containerd([['kata', 'io.containerd.runc.v2']]) }), node('b', { runtime: crio([['kata', 'oci', '/usr/bin/runc']]) })];
    assert.deepEqual(driftOf(nodes, 'kata'), []);
  });
  test("CRI-O's runtime path tells its runc from its runsc", () => {
    const nodes = [node('a', { runtime: crio([['gvisor', 'oci', '/usr/bin/runsc']]) }), node('b', { runtime: crio([['gvisor', 'oci', '/usr/bin/runc']]) })];
    assert.deepEqual(
      driftOf(nodes, 'gvisor').map((d) => d.runtime),
      ['cri-o oci /usr/bin/runc', 'cri-o oci /usr/bin/runsc'],
    );
  });
  test('the isolation the host showed of the handler sandboxes compares across runtimes', () => {
    const nodes = [
      node('a', { runtime: containerd([['kata', 'io.containerd.kata.v2']]), isolation: new Map([['kata', new Set(['vm'] as const)]]) }),
      node('b', { runtime: crio([['kata', 'vm', '/usr/bin/kata-runtime']]), isolation: new Map([['kata', new Set(['host-kernel'] as const)]]) }),
    ];
    assert.deepEqual(
      driftOf(nodes, 'kata').map((d) => `${d.runtime}: ${d.sampleNodes.join(',')}`),
      ['isolation host-kernel: b', 'isolation vm: a'],
    );
  });
});

describe('coverageOf', () => {
  // The testbed's shape: gvisor on the containerd nodes, not on the CRI-O one.
  const nodes = [
    node('rcaudit-node', {
      runtime: containerd([
        ['gvisor', 'io.containerd.runsc.v1'],
        ['kata', 'io.containerd.runc.v2'],
      ]),
    }),
    node('rcaudit-node-2', { runtime: containerd([['gvisor', 'io.containerd.runsc.v1']]) }),
    node('rcaudit-node-3', { runtime: crio([['kata', 'oci', '/usr/bin/runc']]), runtimeHandlers: ['kata'] }),
    node('cp', { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] }),
    node('new'),
  ];
  test('admitted nodes, those lacking the handler (named), and those nothing speaks for', () => {
    assert.deepEqual(coverageOf('gvisor', { handler: 'gvisor' }, nodes), {
      name: 'gvisor',
      handler: 'gvisor',
      nodes: 4,
      covered: 2,
      uncovered: 1,
      unknown: 1,
      uncoveredNodes: ['rcaudit-node-3'],
      drift: [],
    });
  });
  test('a node selector that keeps the class to nodes with the handler covers it', () => {
    const labelled = nodes.map((n) => (n.name.startsWith('rcaudit-node') && n.name !== 'rcaudit-node-3' ? { ...n, labels: { gvisor: 'yes' } } : n));
    const c = coverageOf('gvisor', { handler: 'gvisor', nodeSelector: { gvisor: 'yes' } }, labelled);
    assert.deepEqual([c.nodes, c.covered, c.uncovered, c.unknown], [2, 2, 0, 0]);
  });
  test('the uncovered sample is bounded; names no RuntimeClass has are left to the caller', () => {
    const many = Array.from({ length: 30 }, (_, i) => node(`n${String(i).padStart(2, '0')}`, { runtimeHandlers: [] }));
    assert.equal(coverageOf('kata', { handler: 'kata' }, many).uncoveredNodes.length, 20);
    assert.deepEqual(
      coverage(['missing', 'kata'], new Map([['kata', { handler: 'kata' }]]), many).map((c) => c.name),
      ['kata'],
    );
  });
});

describe('the audit status of a policy', () => {
  const gvisorGap = { name: 'gvisor', handler: 'gvisor', nodes: 3, covered: 2, uncovered: 1, unknown: 0, uncoveredNodes: ['rcaudit-node-3'], drift: [] };
  const kataDrift = {
    name: 'kata',
    handler: 'kata',
    nodes: 3,
    covered: 3,
    uncovered: 0,
    unknown: 0,
    uncoveredNodes: [],
    drift: [
      { runtime: 'containerd io.containerd.kata.v2', nodes: 2, sampleNodes: ['a', 'b'] },
      { runtime: 'containerd io.containerd.runc.v2', nodes: 1, sampleNodes: ['c'] },
    ],
  };
  test('PolicyResolved names required RuntimeClasses that do not exist', () => {
    assert.deepEqual(policyResolvedCondition(['gvisor', 'gvisr'], ['gvisr']), {
      type: 'PolicyResolved',
      status: 'False',
      reason: 'RuntimeClassNotFound',
      message: 'requiredRuntimeClasses names RuntimeClasses that do not exist: gvisr; a pod cannot run with them',
    });
    assert.equal(policyResolvedCondition(['gvisor'], []).status, 'True');
    assert.equal(policyResolvedCondition(undefined, []).reason, 'NoRequiredRuntimeClasses');
  });
  test('HandlersCovered and HandlersConsistent say which class, which handler, and where', () => {
    assert.deepEqual(handlersCoveredCondition([gvisorGap, kataDrift]), {
      type: 'HandlersCovered',
      status: 'False',
      reason: 'HandlerMissing',
      message: 'gvisor (handler gvisor): 1 of 3 nodes lack it, e.g. rcaudit-node-3',
    });
    assert.deepEqual(handlersConsistentCondition([gvisorGap, kataDrift]), {
      type: 'HandlersConsistent',
      status: 'False',
      reason: 'HandlerDrift',
      message: 'kata (handler kata) is containerd io.containerd.kata.v2 on 2, containerd io.containerd.runc.v2 on 1',
    });
    assert.equal(handlersCoveredCondition([kataDrift]).status, 'True');
    assert.equal(handlersConsistentCondition([gvisorGap]).status, 'True');
  });
  test('counts for kubectl get audits -o wide, and entries without empty lists', () => {
    const status = policyStatus({ auditPodsWithoutRuntimeClass: false, gracePeriodSeconds: 120 }, { coverage: [gvisorGap, kataDrift], missing: [] }, false);
    assert.deepEqual(status.counts, { uncoveredRuntimeClasses: 1, driftingRuntimeClasses: 1 });
    assert.equal('drift' in (status.runtimeClasses[0] ?? {}), false);
    assert.equal('uncoveredNodes' in (status.runtimeClasses[1] ?? {}), false);
  });
});

describe('what is kept of Nodes and RuntimeClasses', () => {
  test('a Node: labels, the taints that keep pods off but the lifecycle ones, and runtimeHandlers without the default ""', () => {
    const kept = trimNode({
      metadata: { name: 'n1', uid: 'u1', labels: { zone: 'a' } },
      spec: {
        taints: [
          { key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' },
          { key: 'dedicated', value: 'db', effect: 'NoExecute' },
          { key: 'soft', effect: 'PreferNoSchedule' },
        ],
      },
      status: { runtimeHandlers: [{ name: '' }, { name: 'gvisor' }], conditions: [{ type: 'Ready', status: 'True' }] },
    });
    assert.deepEqual(kept, { uid: 'u1', labels: { zone: 'a' }, taints: [{ key: 'dedicated', value: 'db', effect: 'NoExecute' }], runtimeHandlers: ['gvisor'] });
    assert.equal('runtimeHandlers' in trimNode({ metadata: { name: 'n2', uid: 'u2' }, status: {} }), false, 'a kubelet that does not fill it says nothing');
  });
  test('a RuntimeClass: its handler and scheduling', () => {
    assert.deepEqual(
      trimRuntimeClass({
        metadata: { name: 'gvisor' },
        handler: 'runsc',
        scheduling: { nodeSelector: { sandbox: 'gvisor' }, tolerations: [{ key: 'sandbox', operator: 'Exists', effect: 'NoSchedule' }] },
      }),
      { handler: 'runsc', nodeSelector: { sandbox: 'gvisor' }, tolerations: [{ key: 'sandbox', operator: 'Exists', effect: 'NoSchedule' }] },
    );
  });
});
