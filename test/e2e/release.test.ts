// Installed the way users install: hack/release.sh publishes the image and
// the chart to the testbed's registry (the CNCF distribution registry on
// loopback, which every node's runtime pulls from), and `helm install
// oci://...` takes them from there. Then an upgrade from the previous
// release, v0.1.0, built from its source archive (hack/releases/): installed, finding mismatches,
// upgraded to this version (whose CRDs gained fields and columns), rolled
// back; and the ways it goes wrong: a version published twice, a registry
// that does not answer, a chart version that does not exist, an image tag
// that does not exist.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { PodVerdictEntry } from '../../api/v1alpha1/node-sandbox-report.ts';
import { adoptCrds, helm, installNames, type Published, publishToTestbed, testbedValues, toolDir, valueArgs } from '../support/chart.ts';
import { podEvents, reportStatus, scopedAudit } from '../support/operator.ts';
import { applyPod } from '../support/pods.ts';
import { createNamespace, eventually, kubectl, loadTestbed, testbedNode, type TestbedNode } from '../../hack/testbed/testbed.ts';
import { REPO_ROOT } from '../../hack/versions.ts';

const execFileAsync = promisify(execFile);
const testbed = loadTestbed();
const honestNode = testbedNode(testbed, 0);
const { id, system, agentNs, honestNs, brokenNs, audit } = installNames('rel');
// A path of its own in the registry: a run never meets an earlier run's versions.
const registry = `${testbed.registry}/${id}`;
const chartRef = `oci://${registry}/charts/runtimeclass-audit`;
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const PREVIOUS = { source: 'hack/releases/runtimeclass-audit-0.1.0.tar.gz', version: '0.1.0' };
const release = 'rcaudit-rel';

const k = (args: string[], input?: string): Promise<string> => kubectl(testbed, args, input);
const helmK = (args: string[]): Promise<string> => helm(args, { KUBECONFIG: testbed.kubeconfig });

/** Runs hack/release.sh against `to` (a path in the testbed's registry, or a registry of its own). */
async function publish(args: string[], to = id): Promise<Published> {
  if (!to.includes(':')) return publishToTestbed(testbed, to, args);
  return publishToTestbed({ ...testbed, registry: to.slice(0, to.indexOf('/')) }, to.slice(to.indexOf('/') + 1), args);
}

/** The testbed's values (CRI sockets) without its loaded-image settings: these installs pull from the registry. */
const socketValues = Object.fromEntries(Object.entries(testbedValues(testbed)).filter(([key]) => !key.startsWith('image.')));
const common = { ...socketValues, 'agent.namespace': { name: agentNs, create: true }, 'agent.interval': '1s', 'defaultAudit.enabled': false };

/** `helm install` of the published chart at `version` into the test's system namespace, waiting up to `timeout`. */
const installPublished = (name: string, version: string, values: Record<string, unknown>, timeout: string): Promise<string> =>
  helmK([
    'install',
    name,
    chartRef,
    '--version',
    version,
    '--plain-http',
    '-n',
    system,
    '--create-namespace',
    '--wait',
    '--timeout',
    timeout,
    ...valueArgs(values),
  ]);

interface AgentPod {
  metadata: { name: string };
  spec: { nodeName: string; containers: { image: string }[] };
  status: { conditions?: { type: string; status: string }[] };
}
async function agents(): Promise<AgentPod[]> {
  const out = await k(['get', 'pods', '-n', agentNs, '-l', `app.kubernetes.io/instance=${release},app.kubernetes.io/component=agent`, '-o', 'json']);
  return (JSON.parse(out) as { items: AgentPod[] }).items;
}
const isReady = (p: AgentPod): boolean => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** Each node's Ready agent's image, or undefined where none is Ready. */
async function readyAgentImages(nodes: readonly TestbedNode[]): Promise<Map<string, string | undefined>> {
  const pods = await agents();
  return new Map(nodes.map((n) => [n.name, pods.find((p) => p.spec.nodeName === n.name && isReady(p))?.spec.containers[0]?.image]));
}

async function finding(node: TestbedNode, namespace: string, name: string): Promise<PodVerdictEntry | undefined> {
  return (await reportStatus(testbed, node.name))?.audits?.find((a) => a.name === audit)?.pods.find((p) => p.namespace === namespace && p.name === name);
}

describe('released through a registry: publish, install from it, upgrade from the previous release', { timeout: 1_200_000 }, () => {
  before(async () => {
    await createNamespace(testbed, honestNs);
    await createNamespace(testbed, brokenNs);
    await k(['label', 'namespace', honestNs, brokenNs, `rcaudit-test=${id}`]);
  });

  after(async () => {
    await helmK(['uninstall', release, '-n', system, '--ignore-not-found', '--wait', '--timeout', '120s']).catch(() => undefined);
    await helmK(['uninstall', `${release}-badtag`, '-n', system, '--ignore-not-found', '--wait', '--timeout', '120s']).catch(() => undefined);
    await k(['delete', 'runtimeclassaudit', audit, '--ignore-not-found']).catch(() => undefined);
    await k(['delete', 'namespace', honestNs, brokenNs, system, agentNs, `${agentNs}-badtag`, '--ignore-not-found', '--wait=false']);
  });

  test('hack/release.sh publishes one version: the image tag, the chart version and its appVersion agree; the same version again is refused unless --force', async () => {
    const first = await publish([]);
    assert.match(first.stdout, new RegExp(`^image ${registry}/runtimeclass-audit:${VERSION}@sha256:[0-9a-f]{64}$`, 'm'));
    assert.match(first.stdout, new RegExp(`^chart ${chartRef} --version ${VERSION}$`, 'm'));
    const chart = await helm(['show', 'chart', chartRef, '--version', VERSION, '--plain-http']);
    assert.match(chart, new RegExp(`^version: ${VERSION}$`, 'm'));
    assert.match(chart, new RegExp(`^appVersion: ${VERSION}$`, 'm'));
    const { stdout: tags } = await execFileAsync(join(toolDir('crane'), 'crane'), ['ls', '--insecure', `${registry}/runtimeclass-audit`]);
    assert.deepEqual(tags.trim().split('\n'), [VERSION]);
    console.log(`# published ${VERSION} in ${String(first.ms)} ms: ${/published .*/.exec(first.stderr)?.[0] ?? ''}`);
    await assert.rejects(publish([]), new RegExp(`version ${VERSION} is published already .*: not publishing over it \\(--force to\\)`));
    const forced = await publish(['--force']);
    assert.match(forced.stdout, /^image /m);
  });

  test('a registry that does not answer: a clear message, and nothing built or published', async () => {
    await assert.rejects(
      publish([], '127.0.0.1:1/nowhere'),
      /the registry 127\.0\.0\.1:1 does not answer at http:\/\/127\.0\.0\.1:1\/v2\/ .*nothing was published/,
    );
  });

  test("a chart version the registry does not have: Helm's own error, shown as it is", async () => {
    await assert.rejects(helmK(['install', 'never', chartRef, '--version', '9.9.9', '--plain-http', '-n', system, '--dry-run=client']), /9\.9\.9.*not found/);
  });

  test('the previous release, v0.1.0, from its source archive: installed from the registry, upgraded to this version with its CRD changes, and rolled back; findings kept throughout', async () => {
    const previous = await publish(['--source', PREVIOUS.source]);
    assert.match(previous.stdout, new RegExp(`^image ${registry}/runtimeclass-audit:${PREVIOUS.version}@`, 'm'));
    // 0.1.0 predates image.registry: its repository names the registry itself.
    await adoptCrds(k, release, system);
    const installStarted = Date.now();
    await installPublished(release, PREVIOUS.version, { ...common, 'image.repository': `${registry}/runtimeclass-audit` }, '300s');
    console.log(`# helm install ${PREVIOUS.version} from the registry, --wait: ${String(Date.now() - installStarted)} ms`);
    await k(['apply', '-f', '-'], JSON.stringify(scopedAudit(audit, id)));
    await applyPod(testbed, { namespace: brokenNs, name: 'vault', node: honestNode, runtimeClassName: 'kata' });
    await applyPod(testbed, { namespace: honestNs, name: 'vault', node: honestNode, runtimeClassName: 'kata' });
    await k(['wait', '-n', brokenNs, '--for=condition=Ready', '--timeout=120s', 'pod/vault']);
    const before = await eventually(async () => {
      const mismatch = await finding(honestNode, brokenNs, 'vault');
      assert.equal(mismatch?.verdict, 'Mismatched');
      assert.equal((await podEvents(testbed, brokenNs, 'vault', 'RuntimeHandlerMismatch')).length, 1);
      return mismatch;
    }, 120_000);

    // Upgrade to this version, watching that no node is ever without a Ready agent.
    const nodes = testbed.nodes;
    const gaps: string[] = [];
    const watching = { on: true };
    const watcher = (async () => {
      while (watching.on) {
        for (const [node, image] of await readyAgentImages(nodes).catch(() => new Map<string, string | undefined>())) {
          if (image === undefined) gaps.push(`${node} at ${new Date().toISOString()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
    const upgradeStarted = Date.now();
    await helmK([
      'upgrade',
      release,
      chartRef,
      '--version',
      VERSION,
      '--plain-http',
      '-n',
      system,
      '--wait',
      '--timeout',
      '300s',
      ...valueArgs({ ...common, 'image.registry': registry }),
    ]);
    await eventually(async () => {
      for (const [node, image] of await readyAgentImages(nodes)) assert.equal(image, `${registry}/runtimeclass-audit:${VERSION}`, node);
    }, 120_000);
    watching.on = false;
    await watcher;
    console.log(`# upgrade ${PREVIOUS.version} -> ${VERSION}: agents rolled in ${String(Date.now() - upgradeStarted)} ms`);
    assert.deepEqual(gaps, [], 'a node without a Ready agent during the upgrade');

    const crd = JSON.parse(await k(['get', 'crd', 'runtimeclassaudits.rcaudit.dev', '-o', 'json'])) as {
      spec: {
        versions: {
          schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, unknown> } } } };
          additionalPrinterColumns: { name: string }[];
        }[];
      };
    };
    const [served] = crd.spec.versions;
    assert.ok(served?.schema.openAPIV3Schema.properties.spec.properties['requiredRuntimeClasses'], 'the CRD gained requiredRuntimeClasses');
    assert.ok(
      served.additionalPrinterColumns.some((c) => c.name === 'Uncovered'),
      'and the Uncovered column',
    );

    // The finding goes on: the same since, the same single event.
    await eventually(async () => {
      const after = await finding(honestNode, brokenNs, 'vault');
      assert.deepEqual([after?.verdict, after?.since], ['Mismatched', before.since]);
      const events = await podEvents(testbed, brokenNs, 'vault', 'RuntimeHandlerMismatch');
      assert.equal(events.length, 1, 'no second event');
    }, 120_000);
    const audited = JSON.parse(await k(['get', 'audit', audit, '-o', 'json'])) as { status?: { runtimeClasses?: unknown[] } };
    assert.ok((audited.status?.runtimeClasses?.length ?? 0) > 0, "the new operator fills the new status fields of the old release's audit");

    await helmK(['rollback', release, '1', '-n', system, '--wait', '--timeout', '300s']);
    await eventually(async () => {
      for (const [node, image] of await readyAgentImages(nodes)) assert.equal(image, `${registry}/runtimeclass-audit:${PREVIOUS.version}`, node);
      const back = await finding(honestNode, brokenNs, 'vault');
      assert.deepEqual([back?.verdict, back?.since], ['Mismatched', before.since]);
    }, 180_000);

    await helmK(['uninstall', release, '-n', system, '--wait', '--timeout', '120s']);
    assert.equal(
      (await k(['get', 'crd', 'runtimeclassaudits.rcaudit.dev', '-o', 'name'])).trim(),
      'customresourcedefinition.apiextensions.k8s.io/runtimeclassaudits.rcaudit.dev',
    );
    assert.equal((await k(['get', 'audit', audit, '-o', 'name'])).trim(), `runtimeclassaudit.rcaudit.dev/${audit}`, 'uninstall keeps the audits');
  });

  test('an image tag that does not exist fails visibly: helm --wait fails, and the agents say why', async () => {
    const badAgents = `${agentNs}-badtag`;
    await assert.rejects(
      // The CRDs are the first release's to keep.
      installPublished(
        `${release}-badtag`,
        VERSION,
        {
          ...common,
          'agent.namespace': { name: badAgents, create: true },
          'crds.install': false,
          'image.registry': registry,
          'image.tag': 'no-such-tag',
        },
        '45s',
      ),
      /context deadline exceeded|timed out waiting/,
    );
    const pods = JSON.parse(await k(['get', 'pods', '-n', badAgents, '-o', 'json'])) as {
      items: { status: { containerStatuses?: { ready: boolean; state: { waiting?: { reason: string } } }[] } }[];
    };
    assert.ok(pods.items.length > 0);
    for (const p of pods.items) {
      const status = p.status.containerStatuses?.[0] ?? assert.fail('no container status');
      assert.equal(status.ready, false);
      assert.match(status.state.waiting?.reason ?? '', /^(ErrImagePull|ImagePullBackOff)$/);
    }
    const notes = await helmK(['get', 'notes', `${release}-badtag`, '-n', system]);
    assert.match(notes, /ErrImagePull or ImagePullBackOff cannot pull/);
    assert.match(notes, new RegExp(`${registry}/runtimeclass-audit:no-such-tag`));
  });
});
