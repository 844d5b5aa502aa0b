import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromHttpStatus, toKubeApiError } from '../../../kube/errors.ts';

/** An API server's answer: an HTTP code and a Status body, as text. */
const status = (code: number, reason: string, message: string): [number, string] => [code, JSON.stringify({ kind: 'Status', reason, message })];

test('API server answers become typed errors, by HTTP code and Status reason', () => {
  const cases: [[number, string], string][] = [
    [status(404, 'NotFound', 'nodesandboxreports "n1" not found'), 'NotFound'],
    [status(409, 'Conflict', 'the object has been modified'), 'Conflict'],
    [status(409, 'AlreadyExists', 'already exists'), 'AlreadyExists'],
    [status(410, 'Expired', 'too old resource version'), 'Gone'],
    [status(403, 'Forbidden', 'cannot update resource'), 'Forbidden'],
    [status(401, 'Unauthorized', 'Unauthorized'), 'Unauthorized'],
    [status(422, 'Invalid', 'spec.sandboxes[0].state: Unsupported value'), 'Invalid'],
    [status(429, 'TooManyRequests', 'slow down'), 'TooManyRequests'],
    [status(503, 'ServiceUnavailable', 'etcd down'), 'ServerError'],
  ];
  for (const [[code, body], reason] of cases) {
    const err = fromHttpStatus(code, body, 'update NodeSandboxReport n1');
    assert.equal(err.reason, reason, String(code));
    assert.equal(err.code, code);
    assert.match(err.message, /^update NodeSandboxReport n1: /);
    assert.equal(toKubeApiError(err, 'something else'), err, 'a typed error passes through as it is');
  }
  assert.match(fromHttpStatus(...status(404, 'NotFound', 'gone away'), 'get x').message, /NotFound \(HTTP 404\): gone away$/);
});

test('a body that is not a Status, and errors that never reached the server, still read clearly', () => {
  assert.match(fromHttpStatus(500, 'upstream connect error', 'get x').message, /ServerError \(HTTP 500\): upstream connect error/);
  const refused = toKubeApiError(new Error('connect ECONNREFUSED 10.244.0.1:6443'), 'get x');
  assert.equal(refused.reason, 'Transport');
  assert.equal(refused.code, undefined);
  assert.match(refused.message, /ECONNREFUSED/);
});
