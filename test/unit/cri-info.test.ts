// Parsing what runtimes say in verbose Status / PodSandboxStatus.
// containerd 1.6.20: captured from the testbed's real containerd
// (test/fixtures/cri/containerd-1.6.20). containerd 1.7, 2.x and CRI-O: built from
// the shapes their source and CRI-O's own tests document (marked below);
// no such runtime runs on these machines.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseRuntimeHandlers } from '../../agent/cri/runtime-info.ts';
import { parseSandboxDetail } from '../../agent/cri/sandbox-info.ts';

const fixture = (name: string): { info: Record<string, string> } =>
  JSON.parse(readFileSync(new URL(`../fixtures/cri/containerd-1.6.20/${name}`, import.meta.url), 'utf8')) as { info: Record<string, string> };

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

  test('containerd 1.7 (built from its CRI config JSON tags): as 1.6, plus sandboxMode', () => {
    const config = { containerd: { defaultRuntimeName: 'kata', runtimes: { runc: { runtimeType: 'io.containerd.runc.v2', sandboxMode: 'podsandbox' }, kata: { runtimeType: 'io.containerd.kata.v2', sandboxMode: 'podsandbox' } } } };
    assert.deepEqual(parseRuntimeHandlers({ config: JSON.stringify(config) }), {
      infoFormat: 'containerd',
      defaultHandler: 'kata',
      handlers: [{ name: 'kata', runtimeType: 'io.containerd.kata.v2' }, { name: 'runc', runtimeType: 'io.containerd.runc.v2' }],
    });
  });

  test('containerd 2.x (built from its CRI config JSON tags): same keys, real kata shim', () => {
    const config = { containerd: { defaultRuntimeName: 'runc', runtimes: { runc: { runtimeType: 'io.containerd.runc.v2', sandboxer: 'podsandbox' }, kata: { runtimeType: 'io.containerd.kata.v2' } } } };
    assert.deepEqual(parseRuntimeHandlers({ config: JSON.stringify(config) }), {
      infoFormat: 'containerd',
      defaultHandler: 'runc',
      handlers: [{ name: 'kata', runtimeType: 'io.containerd.kata.v2' }, { name: 'runc', runtimeType: 'io.containerd.runc.v2' }],
    });
  });

  test('CRI-O (built from its documented crictl info shape): Go field names, crun when no default is named', () => {
    const config = { crio: { DefaultRuntime: 'runc', Runtimes: { runc: { RuntimePath: '/usr/bin/runc', RuntimeType: 'oci' }, kata: { RuntimeType: 'vm' } } } };
    assert.deepEqual(parseRuntimeHandlers({ config: JSON.stringify(config) }), {
      infoFormat: 'cri-o',
      defaultHandler: 'runc',
      handlers: [{ name: 'kata', runtimeType: 'vm' }, { name: 'runc', runtimeType: 'oci' }],
    });
    assert.equal(parseRuntimeHandlers({ config: JSON.stringify({ crio: { Runtimes: {} } }) }).defaultHandler, 'crun');
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
    assert.deepEqual(parseSandboxDetail(fixture('pod-sandbox-status-verbose_broken-payments_card-vault.json').info), {
      runtimeType: 'io.containerd.runc.v2',
    });
  });

  test('containerd 2.x (built): no top-level runtimeHandler key any more, the runtime type is still there', () => {
    const info = { pid: 42, runtimeType: 'io.containerd.kata.v2', runtimeOptions: null, config: {}, runtimeSpec: {} };
    assert.deepEqual(parseSandboxDetail({ info: JSON.stringify(info) }), { runtimeType: 'io.containerd.kata.v2' });
  });

  test('CRI-O (built from its documented format): the handler comes from the runtime spec annotation', () => {
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
