import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RuntimeHandlers } from '../../../agent/cri/runtime-info.ts';
import type { PodSandbox } from '../../../agent/cri/types.ts';
import type { ReportedSandbox } from '../../../api/v1alpha1/node-sandbox-report.ts';
import { buildReportSpec, canonicalSpec, nanosToRfc3339, toReportedSandbox, type ReportInput } from '../../../agent/report.ts';
import { trimReport } from '../../../operator/cache/trim.ts';

const containerd: RuntimeHandlers = {
  infoFormat: 'containerd',
  defaultHandler: 'runc',
  handlers: [
    { name: 'kata', runtimeType: 'io.containerd.kata.v2' },
    { name: 'runc', runtimeType: 'io.containerd.runc.v2' },
  ],
};

function sandbox(id: string, over: Partial<PodSandbox> = {}): PodSandbox {
  return {
    id,
    metadata: { name: `pod-${id}`, uid: `uid-${id}`, namespace: 'ns', attempt: 0 },
    state: 'SANDBOX_READY',
    created_at: '1795392000123456789',
    labels: {},
    annotations: {},
    runtime_handler: '',
    ...over,
  };
}

/** toReportedSandbox, for cases that must give an entry. */
function reported(...args: Parameters<typeof toReportedSandbox>): ReportedSandbox {
  const entry = toReportedSandbox(...args);
  assert.ok(entry, 'expected a report entry');
  return entry;
}

describe('one sandbox', () => {
  test('"" resolves to the runtime default, with the sandbox\'s own runtime type first', () => {
    assert.deepEqual(toReportedSandbox(sandbox('a'), { runtimeType: 'io.containerd.runc.v2' }, containerd), {
      id: 'a',
      podUID: 'uid-a',
      namespace: 'ns',
      name: 'pod-a',
      attempt: 0,
      state: 'Ready',
      createdAt: '2026-11-23T00:00:00.123Z',
      requestedHandler: '',
      resolvedHandler: 'runc',
      runtimeType: 'io.containerd.runc.v2',
    });
  });

  test('the kuscia case keeps what was really requested: "" for a pod meant for kata', () => {
    const entry = reported(sandbox('k'), undefined, containerd);
    assert.equal(entry.requestedHandler, '');
    assert.equal(entry.resolvedHandler, 'runc');
    assert.equal(entry.runtimeType, 'io.containerd.runc.v2', "from the handler's configured type when the sandbox says nothing");
  });

  test("a named handler is kept verbatim, and the sandbox's runtime type wins over the configured one", () => {
    const entry = reported(sandbox('b', { runtime_handler: 'kata' }), { runtimeType: 'io.containerd.runc.v2' }, containerd);
    assert.equal(entry.requestedHandler, 'kata');
    assert.equal(entry.resolvedHandler, 'kata');
    assert.equal(entry.runtimeType, 'io.containerd.runc.v2');
  });

  test('CRI-O: the handler comes from the sandbox detail, since runtime_handler is never filled', () => {
    const crio: RuntimeHandlers = { infoFormat: 'cri-o', defaultHandler: 'crun', handlers: [{ name: 'kata', runtimeType: 'vm' }] };
    const entry = reported(sandbox('c'), { handler: 'kata' }, crio);
    assert.equal(entry.requestedHandler, 'kata');
    assert.equal(entry.runtimeType, 'vm');
  });

  test('an unknown runtime format leaves the resolution out instead of guessing', () => {
    const entry = reported(sandbox('u'), undefined, { infoFormat: 'unknown', handlers: [] });
    assert.equal(entry.requestedHandler, '');
    assert.equal('resolvedHandler' in entry, false);
    assert.equal('runtimeType' in entry, false);
  });

  test('odd CRI answers: no metadata or no uid is malformed; odd numbers are clamped', () => {
    assert.equal(toReportedSandbox(sandbox('m', { metadata: null }), undefined, containerd), undefined);
    assert.equal(toReportedSandbox(sandbox('m', { metadata: { name: 'x', uid: '', namespace: 'ns', attempt: 0 } }), undefined, containerd), undefined);
    const odd = reported(
      sandbox('o', { created_at: 'garbage', state: 'SANDBOX_NOTREADY', metadata: { name: 'x', uid: 'u', namespace: 'ns', attempt: -3 } }),
      undefined,
      containerd,
    );
    assert.equal(odd.createdAt, '1970-01-01T00:00:00.000Z');
    assert.equal(odd.attempt, 0);
    assert.equal(odd.state, 'NotReady');
  });

  test('timestamps beyond JavaScript dates do not throw', () => {
    assert.equal(nanosToRfc3339('999999999999999999999999999'), '1970-01-01T00:00:00.000Z');
    assert.equal(nanosToRfc3339('0'), '1970-01-01T00:00:00.000Z');
  });
});

describe('the whole report', () => {
  const input = (sandboxes: PodSandbox[]): ReportInput => ({
    nodeName: 'n1',
    agentVersion: '0.1.0',
    runtime: {
      endpoint: 'unix:///run/containerd/containerd.sock',
      version: { version: '0.1.0', runtime_name: 'containerd', runtime_version: '1.6.20', runtime_api_version: 'v1' },
      handlers: containerd,
    },
    sandboxes,
    details: new Map(),
  });

  test('is the same, canonically, whatever order the runtime lists sandboxes in', () => {
    const a = sandbox('a', { metadata: { name: 'z', uid: 'u1', namespace: 'ns2', attempt: 0 } });
    const b = sandbox('b', { metadata: { name: 'a', uid: 'u2', namespace: 'ns1', attempt: 0 } });
    const one = buildReportSpec(input([a, b])).spec;
    const two = buildReportSpec(input([b, a])).spec;
    assert.equal(canonicalSpec(one), canonicalSpec(two));
    assert.deepEqual(
      one.sandboxes.map((s) => s.id),
      ['b', 'a'],
    );
  });

  test('counts malformed sandboxes and leaves them out', () => {
    const { spec, malformed } = buildReportSpec(input([sandbox('a'), sandbox('bad', { metadata: null })]));
    assert.equal(malformed, 1);
    assert.deepEqual(
      spec.sandboxes.map((s) => s.id),
      ['a'],
    );
  });

  test('says when the runtime is unreachable, and since when, keeping the last known sandboxes', () => {
    const base = input([sandbox('a')]);
    const since = new Date('2026-11-23T10:00:00Z');
    const { spec } = buildReportSpec({ ...base, runtime: { ...base.runtime, unreachable: { since, error: 'connect ENOENT' } } });
    assert.equal(spec.runtime.reachable, false);
    assert.equal(spec.runtime.unreachableSince, '2026-11-23T10:00:00.000Z');
    assert.equal(spec.runtime.lastError, 'connect ENOENT');
    assert.equal(spec.sandboxes.length, 1);
  });

  test('canonical form ignores key order and undefined, and sees every real change', () => {
    assert.equal(canonicalSpec({ b: 1, a: { d: undefined, c: [2, 1] } }), '{"a":{"c":[2,1]},"b":1}');
    const spec = buildReportSpec(input([sandbox('a')])).spec;
    const changed = buildReportSpec(input([sandbox('a', { state: 'SANDBOX_NOTREADY' })])).spec;
    assert.notEqual(canonicalSpec(spec), canonicalSpec(changed));
  });
});

describe('the report kept within the schema, saying what it left out', () => {
  const input = (over: Partial<ReportInput>): ReportInput => ({
    nodeName: 'n1',
    agentVersion: '0.2.0',
    runtime: { endpoint: 'unix:///run/containerd/containerd.sock', handlers: containerd },
    sandboxes: [],
    details: new Map(),
    ...over,
  });
  /** Whether the API server would take it: the same schema the CRD is generated from. */
  const fits = (spec: unknown): string | undefined => trimReport({ metadata: { name: 'n1' }, spec }).invalid;

  test('over 2,000 sandboxes: the Ready ones are kept before the dead, the rest counted', () => {
    const ready = Array.from({ length: 1990 }, (_, i) => sandbox(`r${String(i).padStart(4, '0')}`));
    const dead = Array.from({ length: 20 }, (_, i) => sandbox(`d${String(i).padStart(4, '0')}`, { state: 'SANDBOX_NOTREADY' }));
    const { spec, omitted } = buildReportSpec(input({ sandboxes: [...dead, ...ready] }));
    assert.equal(fits(spec), undefined);
    assert.equal(spec.sandboxes.length, 2000);
    assert.equal(spec.sandboxes.filter((s) => s.state === 'Ready').length, 1990);
    assert.deepEqual(spec.omitted, { sandboxes: 10 });
    assert.deepEqual(omitted, { sandboxes: 10, handlers: 0, fields: 0 });
  });

  test("over 256 handlers: the default and the sandboxes' handlers are kept first, the rest by name, counted", () => {
    const many: RuntimeHandlers = {
      infoFormat: 'containerd',
      defaultHandler: 'zz-default',
      handlers: [
        ...Array.from({ length: 300 }, (_, i) => ({ name: `h${String(i).padStart(3, '0')}`, runtimeType: 'io.containerd.runc.v2' })),
        { name: 'zz-default' },
      ],
    };
    const { spec } = buildReportSpec(input({ runtime: { endpoint: 'x', handlers: many }, sandboxes: [sandbox('a', { runtime_handler: 'h299' })] }));
    assert.equal(fits(spec), undefined);
    assert.equal(spec.runtime.handlers.length, 256);
    assert.ok(spec.runtime.handlers.some((h) => h.name === 'zz-default'));
    assert.ok(spec.runtime.handlers.some((h) => h.name === 'h299'));
    assert.deepEqual(spec.omitted, { handlers: 45 });
  });

  test('a version over 128 characters is cut; a runtime type too long is left out, never cut into another; counted as fields', () => {
    const longType = `io.containerd.${'x'.repeat(300)}`;
    const { spec } = buildReportSpec(
      input({
        runtime: {
          endpoint: 'x',
          version: { version: '0.1.0', runtime_name: 'containerd', runtime_version: `v${'9'.repeat(200)}`, runtime_api_version: 'v1' },
          handlers: containerd,
        },
        sandboxes: [sandbox('a')],
        details: new Map([['a', { runtimeType: longType }]]),
      }),
    );
    assert.equal(fits(spec), undefined);
    assert.equal(spec.runtime.version?.length, 128);
    assert.equal(spec.sandboxes[0]?.runtimeType, undefined);
    assert.deepEqual(spec.omitted, { fields: 2 });
  });

  test('a sandbox whose id or names are longer than the schema allows is left out, not cut: a cut id names no sandbox', () => {
    const { spec } = buildReportSpec(input({ sandboxes: [sandbox('a'), sandbox('b'.repeat(200)), sandbox('c', { runtime_handler: 'h'.repeat(300) })] }));
    assert.equal(fits(spec), undefined);
    assert.deepEqual(
      spec.sandboxes.map((s) => s.id),
      ['a'],
    );
    assert.deepEqual(spec.omitted, { sandboxes: 2 });
  });

  test('within the limits: no omitted field at all, so an ordinary report is unchanged', () => {
    const { spec, omitted } = buildReportSpec(input({ sandboxes: [sandbox('a')] }));
    assert.equal('omitted' in spec, false);
    assert.deepEqual(omitted, { sandboxes: 0, handlers: 0, fields: 0 });
  });
});
