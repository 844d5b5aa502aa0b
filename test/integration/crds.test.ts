// The CRDs on the real API server: they install, `kubectl get audits` lists
// the counts that matter, and the schemas reject bad objects.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RuntimeHandlers } from '../../agent/cri/runtime-info.ts';
import type { PodSandbox } from '../../agent/cri/types.ts';
import { buildReportSpec } from '../../agent/report.ts';
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

  test('remediation defaults come from the schema: Disabled, 300 s, 1 a minute, default-handler pods spared, 3 pods', async () => {
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
      evict: { mode: 'Disabled', afterSeconds: 300, maxPerMinute: 1, defaultHandlerPods: 'Spared' },
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

  test("a node past the schema: the agent's report is taken whole, saying what it left out, where the raw one is refused", async () => {
    const name = uniqueName('big-node');
    const many = (n: number, state: PodSandbox['state']): PodSandbox[] =>
      Array.from({ length: n }, (_, i) => ({
        id: `${state === 'SANDBOX_READY' ? 'r' : 'd'}${String(i).padStart(60, '0')}`,
        metadata: { name: `pod-${String(i)}`, uid: `uid-${state}-${String(i)}`, namespace: 'big', attempt: 0 },
        state,
        created_at: '1795392000123456789',
        labels: {},
        annotations: {},
        runtime_handler: '',
      }));
    const handlers: RuntimeHandlers = {
      infoFormat: 'containerd',
      defaultHandler: 'runc',
      handlers: [{ name: 'runc', runtimeType: 'io.containerd.runc.v2' }, ...Array.from({ length: 300 }, (_, i) => ({ name: `h${String(i)}` }))],
    };
    const { spec, omitted } = buildReportSpec({
      nodeName: name,
      agentVersion: '0.2.0',
      runtime: {
        endpoint: 'unix:///run/containerd/containerd.sock',
        handlers,
        version: { version: '0.1.0', runtime_name: 'containerd', runtime_version: 'v'.repeat(300), runtime_api_version: 'v1' },
      },
      sandboxes: [...many(30, 'SANDBOX_NOTREADY'), ...many(1990, 'SANDBOX_READY')],
      details: new Map(),
    });
    assert.deepEqual(omitted, { sandboxes: 20, handlers: 45, fields: 1 });
    const object = (s: unknown): string => JSON.stringify({ apiVersion: 'rcaudit.dev/v1alpha1', kind: 'NodeSandboxReport', metadata: { name }, spec: s });
    // As the agent built it before: every sandbox and handler, the version whole.
    const raw = { ...spec, sandboxes: [...spec.sandboxes, ...spec.sandboxes.slice(0, 20).map((s) => ({ ...s, id: `x${s.id}` }))], omitted: undefined };
    // (create, not apply: apply's last-applied annotation would itself be too long at this size.)
    await assert.rejects(kubectl(testbed, ['create', '--dry-run=server', '-f', '-'], object(raw)), (err: { stderr?: string }) => {
      assert.match(err.stderr ?? '', /sandboxes: Too many: 2020: must have at most 2000 items/);
      return true;
    });
    try {
      await kubectl(testbed, ['create', '-f', '-'], object(spec));
      const stored = JSON.parse(await kubectl(testbed, ['get', 'nodesandboxreport', name, '-o', 'json'])) as { spec: typeof spec };
      assert.equal(stored.spec.sandboxes.length, 2000);
      assert.equal(stored.spec.runtime.handlers.length, 256);
      assert.deepEqual(stored.spec.omitted, { sandboxes: 20, handlers: 45, fields: 1 });
    } finally {
      await kubectl(testbed, ['delete', 'nodesandboxreport', name, '--ignore-not-found']);
    }
  });
});
