// Whether a replica may take the Lease: judged by its own clock, from when it
// last saw the holder renew, never by another machine's timestamps.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mayAcquire, type Observation } from '../../../../operator/machinery/leader-election.ts';

const seen = (holderIdentity: string, observedAt: number, leaseDurationSeconds = 15): Observation => ({
  // The holder's renewTime says 1970: a skewed clock elsewhere must not matter.
  spec: { holderIdentity, leaseDurationSeconds, renewTime: '1970-01-01T00:00:00.000000Z' },
  observedAt,
});

describe('mayAcquire', () => {
  const cases: [string, Observation | undefined, number, boolean][] = [
    ['no lease yet', undefined, 0, true],
    ['released (no holder)', seen('', 1000), 1000, true],
    ['we hold it', seen('me', 1000), 1000, true],
    ['another holds it, renewed as we saw a moment ago', seen('other', 10_000), 20_000, false],
    ['another holds it, silent for a whole lease duration as we saw it', seen('other', 10_000), 25_000, true],
    ['the lease says its own duration', seen('other', 10_000, 4), 14_000, true],
  ];
  for (const [name, observed, now, want] of cases) {
    test(name, () => {
      assert.equal(mayAcquire(observed, 'me', now, 15_000), want);
    });
  }
});
