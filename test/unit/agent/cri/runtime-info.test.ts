// Parsing what runtimes say in verbose Status / PodSandboxStatus, from
// answers captured from the real runtimes over CRI (test/fixtures/cri/,
// written by hack/capture-cri.sh on the testbed): containerd 2.4.2 and
// 1.7.35 and CRI-O 1.34.0 with pods of no RuntimeClass, runc, kata (runc
// under that name), gvisor (runsc, on containerd) and kata on a path that
// dropped the handler (on the kuscia node, whose kubelet path drops every
// handler, the honest ones were run straight through CRI); containerd
// 1.6.20 from an earlier testbed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseRuntimeHandlers } from '../../../../agent/cri/runtime-info.ts';
import { parseSandboxDetail } from '../../../../agent/cri/sandbox-info.ts';
import { requestedHandler } from '../../../../agent/report.ts';
import type { PodSandbox } from '../../../../agent/cri/types.ts';

interface CapturedStatus {
  status: { id: string };
  info: Record<string, string>;
}
const read = (runtime: string, name: string): unknown => JSON.parse(readFileSync(new URL(`../../../fixtures/cri/${runtime}/${name}`, import.meta.url), 'utf8'));
const captured = (runtime: string, name: string): CapturedStatus => read(runtime, name) as CapturedStatus;
const capturedList = (runtime: string): PodSandbox[] => (read(runtime, 'list-pod-sandbox.json') as { items: PodSandbox[] }).items;
const fixture = (name: string): CapturedStatus => captured('containerd-1.6.20', name);

const runc = 'io.containerd.runc.v2';
const runsc = 'io.containerd.runsc.v1';
/** What each captured runtime is, and what it said of each capture's sandbox: the requested handler, and the runtime type in its verbose status (CRI-O gives none). */
const RUNTIMES = [
  {
    dir: 'containerd-2.4.2',
    format: 'containerd',
    typeOf: (h: string): string => (h === 'gvisor' ? runsc : runc),
    sandboxes: { default: ['', runc], runc: ['runc', runc], kata: ['kata', runc], gvisor: ['gvisor', runsc], 'broken-kata': ['', runc] },
  },
  {
    dir: 'containerd-1.7.35',
    format: 'containerd',
    typeOf: (h: string): string => (h === 'gvisor' ? runsc : runc),
    sandboxes: { default: ['', runc], runc: ['runc', runc], kata: ['kata', runc], gvisor: ['gvisor', runsc], 'broken-kata': ['', runc] },
  },
  {
    dir: 'cri-o-1.34.0',
    format: 'cri-o',
    typeOf: (): string => 'oci',
    sandboxes: { default: ['', undefined], runc: ['runc', undefined], kata: ['kata', undefined], 'broken-kata': ['', undefined] },
  },
] as const;

describe('captured from the real runtimes', () => {
  for (const r of RUNTIMES) {
    test(`${r.dir}: default handler runc, and each handler's runtime type (and on CRI-O its binary), from verbose Status`, () => {
      const names = ['kata', 'runc', 'runc-alt', ...(r.format === 'containerd' ? ['gvisor'] : [])].sort();
      const parsed = parseRuntimeHandlers(captured(r.dir, 'status-verbose.json').info);
      assert.deepEqual(
        { ...parsed, handlers: parsed.handlers.map(({ name, runtimeType }) => ({ name, runtimeType })) },
        {
          infoFormat: r.format,
          defaultHandler: 'runc',
          handlers: names.map((name) => ({ name, runtimeType: r.typeOf(name) })),
        },
      );
      // CRI-O names each handler's binary: here the testbed's runc wrapper, for every handler alike.
      for (const h of parsed.handlers) assert.equal(h.runtimePath?.endsWith('/crio/runc-wrapper'), r.format === 'cri-o' ? true : undefined, h.name);
    });

    test(`${r.dir}: each sandbox's requested handler and runtime type, from ListPodSandbox and verbose PodSandboxStatus`, () => {
      const items = capturedList(r.dir);
      for (const [capture, [handler, runtimeType]] of Object.entries(r.sandboxes) as [string, readonly [string, string | undefined]][]) {
        const status = captured(r.dir, `pod-sandbox-status-verbose_${capture}.json`);
        const sandbox = items.find((s) => s.id === status.status.id);
        assert.ok(sandbox, `${capture}: its sandbox is in the list`);
        const detail = parseSandboxDetail(status.info);
        assert.equal(detail.problem, undefined, capture);
        // CRI-O drops the infra (pause) container of a pod that needs none (drop_infra_ctr, its
        // default), and then gives no pid; it keeps one for a handler named like kata.
        const hasInfra = r.format === 'containerd' || capture === 'kata';
        assert.equal(detail.pid !== undefined && detail.pid > 0, hasInfra, `${capture}: the sandbox's host pid`);
        assert.deepEqual({ capture, handler: requestedHandler(sandbox, detail), runtimeType: detail.runtimeType }, { capture, handler, runtimeType }, capture);
      }
    });
  }

  test("CRI-O: ListPodSandbox leaves runtime_handler empty even for a kata pod; the handler is in the runtime spec's annotations", () => {
    const items = capturedList('cri-o-1.34.0');
    assert.ok(items.length >= 4);
    assert.ok(items.every((s) => s.runtime_handler === ''));
    assert.equal(parseSandboxDetail(captured('cri-o-1.34.0', 'pod-sandbox-status-verbose_kata.json').info).handler, 'kata');
  });

  test('containerd 2.x no longer has a top-level runtimeHandler in its sandbox info; 1.7 does', () => {
    const info = (dir: string): Record<string, unknown> =>
      JSON.parse(captured(dir, 'pod-sandbox-status-verbose_gvisor.json').info['info'] ?? '{}') as Record<string, unknown>;
    assert.equal('runtimeHandler' in info('containerd-2.4.2'), false);
    assert.equal(info('containerd-1.7.35')['runtimeHandler'], 'gvisor');
  });
});

describe('runtime handlers from verbose Status', () => {
  test('containerd 1.6.20 (captured): default runc, kata and runc-alt all typed io.containerd.runc.v2', () => {
    assert.deepEqual(parseRuntimeHandlers(fixture('status-verbose.json').info), {
      infoFormat: 'containerd',
      defaultHandler: 'runc',
      handlers: [
        { name: 'kata', runtimeType: 'io.containerd.runc.v2' },
        { name: 'runc', runtimeType: 'io.containerd.runc.v2' },
        { name: 'runc-alt', runtimeType: 'io.containerd.runc.v2' },
      ],
    });
  });

  test("CRI-O: a config that names no default runtime means crun, CRI-O's own default", () => {
    const config = { crio: { Runtimes: { crun: { RuntimePath: '/usr/bin/crun', RuntimeType: 'oci' } } } };
    assert.deepEqual(parseRuntimeHandlers({ config: JSON.stringify(config) }), {
      infoFormat: 'cri-o',
      defaultHandler: 'crun',
      handlers: [{ name: 'crun', runtimeType: 'oci', runtimePath: '/usr/bin/crun' }],
    });
  });

  test('anything else is "unknown" with the reason, never a guess', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{}, /no "config" entry/],
      [{ config: 'not json' }, /not a JSON object/],
      [{ config: '[1,2]' }, /not a JSON object/],
      [{ config: '{"docker":{"Runtimes":{}}}' }, /neither containerd's nor CRI-O's/],
      [{ config: '{"containerd":"odd"}' }, /neither containerd's nor CRI-O's/],
    ];
    for (const [info, why] of cases) {
      const result = parseRuntimeHandlers(info);
      assert.equal(result.infoFormat, 'unknown', JSON.stringify(info));
      assert.equal(result.defaultHandler, undefined);
      assert.deepEqual(result.handlers, []);
      assert.match(result.problem ?? '', why);
    }
  });

  test('odd fields inside a known format are skipped, not trusted', () => {
    const config = { containerd: { defaultRuntimeName: 42, runtimes: { a: null, b: { runtimeType: 7 }, c: { runtimeType: '' } } } };
    const result = parseRuntimeHandlers({ config: JSON.stringify(config) });
    assert.equal(result.infoFormat, 'containerd');
    assert.equal(result.defaultHandler, undefined);
    assert.match(result.problem ?? '', /did not name its default runtime/);
    assert.deepEqual(result.handlers, [{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
  });
});

describe('sandbox detail from verbose PodSandboxStatus', () => {
  test('containerd 1.6.20 (captured): the runtime type of a blanked-handler sandbox', () => {
    const detail = parseSandboxDetail(fixture('pod-sandbox-status-verbose_broken-payments_card-vault.json').info);
    assert.equal(detail.runtimeType, 'io.containerd.runc.v2');
    assert.ok((detail.pid ?? 0) > 0);
  });

  test('CRI-O: the handler comes from the runtime spec annotation, "" included', () => {
    const info = { runtimeSpec: { annotations: { 'io.kubernetes.cri-o.RuntimeHandler': 'kata', other: 'x' } } };
    assert.deepEqual(parseSandboxDetail({ info: JSON.stringify(info) }), { handler: 'kata' });
    const blank = { runtimeSpec: { annotations: { 'io.kubernetes.cri-o.RuntimeHandler': '' } } };
    assert.deepEqual(parseSandboxDetail({ info: JSON.stringify(blank) }), { handler: '' });
  });

  test('missing or odd info says so', () => {
    assert.match(parseSandboxDetail({}).problem ?? '', /no "info" entry/);
    assert.match(parseSandboxDetail({ info: '{' }).problem ?? '', /not JSON/);
    assert.match(parseSandboxDetail({ info: '"x"' }).problem ?? '', /not a JSON object/);
    assert.match(parseSandboxDetail({ info: '{"runtimeType":""}' }).problem ?? '', /neither a runtime type nor a handler/);
  });
});
