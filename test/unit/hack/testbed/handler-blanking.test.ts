import assert from 'node:assert/strict';
import { test } from 'node:test';
import { criMethod, loadCriDefinition, RUNTIME_SERVICE } from '../../../../agent/cri/proto.ts';
import { handlerBlanker, withoutField, type BlankedSandbox } from '../../../../hack/testbed/handler-blanking.ts';

const definition = loadCriDefinition();
const runPodSandbox = criMethod(definition, RUNTIME_SERVICE, 'RunPodSandbox');
type Decoded = { runtime_handler: string; config: { hostname: string; labels: Record<string, string> } };

function request(namespace: string, handler: string): Buffer {
  return runPodSandbox.requestSerialize({
    config: { metadata: { name: 'p', namespace, uid: 'u-1', attempt: 0 }, hostname: 'p', labels: { a: 'b' } },
    runtime_handler: handler,
  });
}

test('a pod in a broken namespace loses its runtime handler and nothing else', () => {
  const blanked: BlankedSandbox[] = [];
  const blank = handlerBlanker(definition, /^broken(-.*)?$/, (s) => blanked.push(s));
  const out = runPodSandbox.requestDeserialize(blank(request('broken-a', 'kata'))) as Decoded;
  assert.equal(out.runtime_handler, '');
  assert.equal(out.config.hostname, 'p');
  assert.deepEqual(out.config.labels, { a: 'b' });
  assert.deepEqual(blanked, [{ namespace: 'broken-a', name: 'p', uid: 'u-1', requested: 'kata' }]);
});

test('a pod in any other namespace is forwarded byte for byte', () => {
  const blank = handlerBlanker(definition, /^broken(-.*)?$/, () => assert.fail('must not blank'));
  for (const ns of ['default', 'honest', 'not-broken', 'brokenx']) {
    const body = request(ns, 'kata');
    assert.equal(blank(body), body, ns);
  }
});

test('withoutField drops only the named top-level field, whatever the wire types around it', () => {
  // field 1 varint 150 (08 96 01), field 2 string "hi" (12 02 68 69),
  // field 3 fixed64 (19 + 8 bytes), field 2 again, field 4 fixed32 (25 + 4 bytes).
  const message = Buffer.from('089601' + '12026869' + '19' + '0102030405060708' + '120178' + '25' + 'aabbccdd', 'hex');
  assert.equal(withoutField(message, 2).toString('hex'), '089601' + '19' + '0102030405060708' + '25' + 'aabbccdd');
  assert.equal(withoutField(message, 9).toString('hex'), message.toString('hex'));
  assert.throws(() => withoutField(Buffer.from('0a05ff', 'hex'), 1), /truncated field at byte 0/);
  assert.throws(() => withoutField(Buffer.from('08ff', 'hex'), 1), /truncated varint at byte 1/);
  assert.throws(() => withoutField(Buffer.from('0f', 'hex'), 1), /unsupported protobuf wire type 7/);
});
