// Retries after an API server outage: how the watches' backoff grows and
// ends, and that an outage is logged once each way, not once per retry.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiOutageLog } from '../../../observability/api-outage.ts';
import { nextFailures } from '../../../kube/reflector.ts';
import { recordingLog } from '../../support/log.ts';

describe('nextFailures', () => {
  test('an API server that is down keeps adding failures, however long each attempt takes (the 1.02 s retry loop)', () => {
    let failures = 0;
    for (let i = 0; i < 6; i++) failures = nextFailures(failures, { failed: true, quick: false, progressed: false });
    assert.equal(failures, 6);
  });
  test('a watch the server accepted and that lasted ends the run; one that later failed starts a new run at 1', () => {
    assert.equal(nextFailures(6, { failed: false, quick: false, progressed: true }), 0);
    assert.equal(nextFailures(6, { failed: true, quick: false, progressed: true }), 1);
  });
  test('a round that ends at once, or that got no answer before the watchdog cut it, adds up', () => {
    assert.equal(nextFailures(3, { failed: false, quick: true, progressed: true }), 4);
    assert.equal(nextFailures(3, { failed: false, quick: false, progressed: false }), 4);
  });
});

describe('ApiOutageLog', () => {
  test('one warning when requests start failing, one line when every resource works again, nothing per retry', () => {
    const { log, lines } = recordingLog();
    let clock = 0;
    const outages = new ApiOutageLog(log, () => clock);
    for (let retry = 0; retry < 50; retry++) for (const r of ['pods', 'nodes', 'nodesandboxreports']) outages.failed(r, new Error('fetch failed'), 'backoff');
    assert.deepEqual(
      lines.map((l) => l.msg),
      ['API server requests failing; retrying with backoff'],
      'the outage began, once',
    );
    clock = 41_000;
    outages.recovered('pods');
    outages.recovered('nodes');
    assert.equal(lines.length, 1, 'reports still fail: the outage is not over');
    outages.recovered('nodesandboxreports');
    assert.deepEqual(
      lines.map((l) => l.msg),
      ['API server requests failing; retrying with backoff', 'API server requests work again'],
    );
    assert.equal(lines[1]?.['seconds'], 41);
    outages.recovered('pods');
    assert.equal(lines.length, 2, 'a resource healthy all along says nothing');
  });
});
