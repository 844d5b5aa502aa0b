// The CRDs on the real API server: they install, `kubectl get audits` lists
// the counts that matter, and the schemas reject bad objects.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, kubectl, loadTestbed, uniqueName } from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const auditName = uniqueName('audit');
const reportName = uniqueName('no-such-node');

async function rejected(manifest: object): Promise<string> {
  try {
    await kubectl(testbed, ['apply', '--dry-run=server', '-f', '-'], JSON.stringify(manifest));
  } catch (err) {
    return (err as { stderr?: string }).stderr ?? String(err);
  }
  assert.fail(`accepted: ${JSON.stringify(manifest)}`);
}

const report = (sandbox: object): object => ({
  apiVersion: 'rcaudit.dev/v1alpha1',
  kind: 'NodeSandboxReport',
  metadata: { name: reportName },
  spec: {
    nodeName: reportName,
    runtime: { reachable: true, infoFormat: 'containerd', handlers: [] },
    sandboxes: [
      { id: 'x', podUID: 'u', namespace: 'ns', name: 'p', attempt: 0, state: 'Ready', createdAt: '2026-11-23T00:00:00Z', requestedHandler: '', ...sandbox },
    ],
  },
});

describe('CRDs', () => {
  before(async () => {
    await kubectl(testbed, ['apply', '-f', 'charts/runtimeclass-audit/files/crds/']);
    await eventually(() => kubectl(testbed, ['get', 'audits']), 30_000);
  });
  after(async () => {
    await kubectl(testbed, ['delete', 'runtimeclassaudit', auditName, '--ignore-not-found']);
  });

  test('kubectl get audits lists audits with their counts and Ready', async () => {
    await kubectl(
      testbed,
      ['apply', '-f', '-'],
      JSON.stringify({ apiVersion: 'rcaudit.dev/v1alpha1', kind: 'RuntimeClassAudit', metadata: { name: auditName }, spec: {} }),
    );
    const header = (await kubectl(testbed, ['get', 'audits'])).split('\n')[0] ?? '';
    assert.deepEqual(header.trim().split(/\s+/), ['NAME', 'AUDITED', 'MISMATCHED', 'UNVERIFIED', 'NODES', 'READY', 'AGE']);
    const stored = JSON.parse(await kubectl(testbed, ['get', 'audit', auditName, '-o', 'json'])) as { spec: Record<string, unknown> };
    assert.deepEqual(stored.spec, { auditPodsWithoutRuntimeClass: false, gracePeriodSeconds: 120 }, 'defaults applied by the API server');
  });

  test('the audit schema rejects bad policies with a clear message', async () => {
    const audit = (spec: object): object => ({ apiVersion: 'rcaudit.dev/v1alpha1', kind: 'RuntimeClassAudit', metadata: { name: auditName }, spec });
    assert.match(await rejected(audit({ gracePeriodSeconds: -1 })), /gracePeriodSeconds.*should be greater than or equal to 0/);
    assert.match(await rejected(audit({ expectedRuntimeTypes: { kata: '' } })), /expectedRuntimeTypes\.kata.*at least 1 chars long/);
    assert.match(await rejected(audit({ namespaceSelector: { matchExpressions: [{ key: 'a', operator: 'Near' }] } })), /operator.*Unsupported value: "Near"/);
  });

  test('policy and remediation: bad names, a negative duration, a rate of 0 and an unknown mode are refused by the schema', async () => {
    const audit = (spec: object): object => ({ apiVersion: 'rcaudit.dev/v1alpha1', kind: 'RuntimeClassAudit', metadata: { name: auditName }, spec });
    assert.match(await rejected(audit({ requiredRuntimeClasses: [] })), /requiredRuntimeClasses.*should have at least 1 items/);
    assert.match(await rejected(audit({ requiredRuntimeClasses: ['Not_A_Name'] })), /requiredRuntimeClasses\[0\].*should match/);
    assert.match(await rejected(audit({ requiredRuntimeClasses: ['kata', 'kata'] })), /requiredRuntimeClasses\[1\].*Duplicate value: "kata"/);
    assert.match(
      await rejected(audit({ remediation: { evict: { afterSeconds: -60 } } })),
      /remediation\.evict\.afterSeconds.*should be greater than or equal to 0/,
    );
    assert.match(
      await rejected(audit({ remediation: { evict: { maxPerMinute: 0 } } })),
      /remediation\.evict\.maxPerMinute.*should be greater than or equal to 1/,
    );
    assert.match(await rejected(audit({ remediation: { labelNodes: { mode: 'Off' } } })), /remediation\.labelNodes\.mode.*Unsupported value: "Off"/);
    assert.match(
      await rejected(audit({ remediation: { labelNodes: { minPods: 0 } } })),
      /remediation\.labelNodes\.minPods.*should be greater than or equal to 1/,
    );
  });

  test('remediation defaults come from the schema: Disabled, 300 s, 1 a minute, 3 pods', async () => {
    const name = `${auditName}-defaults`;
    const manifest = {
      apiVersion: 'rcaudit.dev/v1alpha1',
      kind: 'RuntimeClassAudit',
      metadata: { name },
      spec: { remediation: { evict: {}, labelNodes: {} } },
    };
    const stored = JSON.parse(await kubectl(testbed, ['apply', '--dry-run=server', '-o', 'json', '-f', '-'], JSON.stringify(manifest))) as {
      spec: { remediation: unknown };
    };
    assert.deepEqual(stored.spec.remediation, {
      evict: { mode: 'Disabled', afterSeconds: 300, maxPerMinute: 1 },
      labelNodes: { mode: 'Disabled', minPods: 3 },
    });
  });

  test('the report schema rejects garbage; unknown fields are refused (strict) or pruned, never stored', async () => {
    assert.match(await rejected(report({ state: 'Bogus' })), /state.*Unsupported value: "Bogus"/);
    assert.match(await rejected(report({ createdAt: 'yesterday' })), /createdAt.*date-time/);
    assert.match(await rejected(report({ attempt: -1 })), /attempt.*greater than or equal to 0/);
    // kubectl asks for strict field validation: refused, with the field named.
    assert.match(await rejected(report({ surprise: 'x' })), /unknown field "spec\.sandboxes\[0\]\.surprise"/);
    // A client that does not ask (fieldValidation Ignore): pruned by the structural schema.
    const out = await kubectl(testbed, ['create', '--dry-run=server', '--validate=false', '-o', 'json', '-f', '-'], JSON.stringify(report({ surprise: 'x' })));
    const [stored] = (JSON.parse(out) as { spec: { sandboxes: Record<string, unknown>[] } }).spec.sandboxes;
    assert.ok(stored);
    assert.equal(stored['requestedHandler'], '');
    assert.equal('surprise' in stored, false);
  });
});
