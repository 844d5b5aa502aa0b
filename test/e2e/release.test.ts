// Installed the way users install: hack/release.sh publishes the image and
// the chart to the testbed's registry (the CNCF distribution registry on
// loopback, which every node's runtime pulls from), and `helm install
// oci://...` takes them from there. Then an upgrade from the previous
// release, v0.2.0, built from its source archive (hack/releases/): installed
// the way 0.2.0 installed by default (the agents in the release namespace),
// finding mismatches, upgraded to this version (the agents move to a
// namespace of their own, the CRDs gain fields), rolled back; and the ways it goes wrong: a version published twice, a registry
// that does not answer, a chart version that does not exist, an image tag
// that does not exist.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
const PREVIOUS = { source: 'hack/releases/runtimeclass-audit-0.2.0.tar.gz', version: '0.2.0' };
/** Where this version puts the agents by default: "<release namespace>-agent". */
const movedAgentNs = `${system}-agent`;
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
  metadata: { name: string; namespace: string };
  spec: { nodeName: string; containers: { image: string }[] };
  status: { conditions?: { type: string; status: string }[] };
}
/** The release's agent pods, in whichever namespace they run (the upgrade moves them). */
async function agents(): Promise<AgentPod[]> {
  const out = await k(['get', 'pods', '-A', '-l', `app.kubernetes.io/instance=${release},app.kubernetes.io/component=agent`, '-o', 'json']);
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

/**
 * After the move: the agents' namespace is privileged, and the release
 * namespace, which now holds only the operator, can be restricted (a new
 * operator pod is admitted there).
 */
async function releaseNamespaceRestricted(): Promise<void> {
  const moved = JSON.parse(await k(['get', 'namespace', movedAgentNs, '-o', 'json'])) as { metadata: { labels: Record<string, string> } };
  assert.equal(moved.metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged');
  await k(['label', 'namespace', system, 'pod-security.kubernetes.io/enforce=restricted', '--overwrite']);
  await k(['rollout', 'restart', '-n', system, `deployment/${release}-runtimeclass-audit-operator`]);
  await k(['rollout', 'status', '-n', system, `deployment/${release}-runtimeclass-audit-operator`, '--timeout=120s']);
}

/** The audit CRD this version brings: evict.circuitBreaker. */
async function crdGained(): Promise<void> {
  interface Schema {
    properties?: Record<string, Schema>;
  }
  const crd = JSON.parse(await k(['get', 'crd', 'runtimeclassaudits.rcaudit.dev', '-o', 'json'])) as {
    spec: { versions: { schema: { openAPIV3Schema: Schema } }[] };
  };
  const evict = crd.spec.versions[0]?.schema.openAPIV3Schema.properties?.['spec']?.properties?.['remediation']?.properties?.['evict'];
  assert.ok(evict?.properties?.['circuitBreaker'], 'the CRD gained evict.circuitBreaker');
}

/**
 * The SBOM hack/release.sh attached to the image it published: found from
 * the image's digest (as a referrer), CycloneDX, naming the production
 * packages at the lockfile's versions and the Node.js runtime, and no
 * development-only package.
 */
async function sbomAttached(published: string): Promise<void> {
  const image = /^image (\S+)$/m.exec(published)?.[1] ?? assert.fail(`no image in ${published}`);
  assert.match(published, new RegExp(`^sbom ${registry}/runtimeclass-audit@sha256:[0-9a-f]{64}$`, 'm'));
  const oras = join(toolDir('oras'), 'oras');
  const { stdout: found } = await execFileAsync(oras, ['discover', '--plain-http', '--format', 'json', image]);
  const referrers = (JSON.parse(found) as { referrers?: { artifactType: string; reference: string }[] }).referrers ?? [];
  const sbom = referrers.find((r) => r.artifactType === 'application/vnd.cyclonedx+json') ?? assert.fail(`referrers: ${found}`);
  const dir = mkdtempSync(join(tmpdir(), 'rca-sbom-'));
  await execFileAsync(oras, ['pull', '--plain-http', '-o', dir, sbom.reference]);
  const bom = JSON.parse(readFileSync(join(dir, 'sbom.cdx.json'), 'utf8')) as {
    bomFormat: string;
    metadata: { component: { name: string; version: string } };
    components: { name: string; group?: string; version: string }[];
  };
  assert.equal(bom.bomFormat, 'CycloneDX');
  assert.deepEqual([bom.metadata.component.name, bom.metadata.component.version], ['runtimeclass-audit', VERSION]);
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
  const named = new Map(bom.components.map((c) => [c.group === undefined || c.group === '' ? c.name : `${c.group}/${c.name}`, c.version]));
  assert.equal(named.get('@kubernetes/client-node'), lock.packages['node_modules/@kubernetes/client-node']?.version);
  assert.equal(named.get('pino'), lock.packages['node_modules/pino']?.version);
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  assert.equal(named.get('node'), pkg.devDependencies['node'], 'the runtime the image carries');
  assert.equal(named.get('eslint'), undefined, 'no development-only package');
  rmSync(dir, { recursive: true, force: true });
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
    await k(['delete', 'namespace', honestNs, brokenNs, system, agentNs, movedAgentNs, `${agentNs}-badtag`, '--ignore-not-found', '--wait=false']);
  });

  test('hack/release.sh publishes one version: the image tag, the chart version and its appVersion agree; the same version again is refused unless --force', async () => {
    const first = await publish([]);
    assert.match(first.stdout, new RegExp(`^image ${registry}/runtimeclass-audit:${VERSION}@sha256:[0-9a-f]{64}$`, 'm'));
    assert.match(first.stdout, new RegExp(`^chart ${chartRef} --version ${VERSION}$`, 'm'));
    const chart = await helm(['show', 'chart', chartRef, '--version', VERSION, '--plain-http']);
    assert.match(chart, new RegExp(`^version: ${VERSION}$`, 'm'));
    assert.match(chart, new RegExp(`^appVersion: ${VERSION}$`, 'm'));
    const { stdout: tags } = await execFileAsync(join(toolDir('crane'), 'crane'), ['ls', '--insecure', `${registry}/runtimeclass-audit`]);
    // The one version, and the tag under which the registry keeps the image's referrers (the SBOM): this registry has no
    // referrers API, so oras falls back to the OCI 1.1 tag schema, sha256-<the image's digest>.
    const digest = /^image \S+@sha256:([0-9a-f]{64})$/m.exec(first.stdout)?.[1] ?? assert.fail(first.stdout);
    assert.deepEqual(tags.trim().split('\n').sort(), [VERSION, `sha256-${digest}`].sort());
    console.log(`# published ${VERSION} in ${String(first.ms)} ms: ${/published .*/.exec(first.stderr)?.[0] ?? ''}`);
    await sbomAttached(first.stdout);
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

  test('the previous release, v0.2.0, from its source archive: installed as it installed by default, upgraded to this version (the agents move to their own namespace), and rolled back; findings kept throughout', async () => {
    const previous = await publish(['--source', PREVIOUS.source]);
    assert.match(previous.stdout, new RegExp(`^image ${registry}/runtimeclass-audit:${PREVIOUS.version}@`, 'm'));
    await adoptCrds(k, release, system);
    const installStarted = Date.now();
    // 0.2.0's defaults: the agents in the release namespace, which must then be privileged (the testbed enforces no level).
    const asBefore = { ...socketValues, 'agent.interval': '1s', 'defaultAudit.enabled': false, 'image.registry': registry };
    await installPublished(release, PREVIOUS.version, asBefore, '300s');
    assert.equal((await agents()).filter((p) => p.metadata.namespace === system).length, testbed.nodes.length, "0.2.0's agents run beside the operator");
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

    // Upgrade to this version, with its defaults, watching each node's Ready agent.
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
    await helmK(['upgrade', release, chartRef, '--version', VERSION, '--plain-http', '-n', system, '--wait', '--timeout', '300s', ...valueArgs(asBefore)]);
    await eventually(async () => {
      for (const [node, image] of await readyAgentImages(nodes)) assert.equal(image, `${registry}/runtimeclass-audit:${VERSION}`, node);
      const now = await agents();
      assert.deepEqual(new Set(now.map((p) => p.metadata.namespace)), new Set([movedAgentNs]), 'every agent moved, none left behind');
    }, 120_000);
    watching.on = false;
    await watcher;
    // A move between namespaces is a new DaemonSet, not a roll: each node is without a Ready agent from the old pod's end to the new
    // one's readiness. Said, not hidden; the findings below keep their time through it.
    console.log(
      `# upgrade ${PREVIOUS.version} -> ${VERSION}: agents moved to ${movedAgentNs} in ${String(Date.now() - upgradeStarted)} ms; ${String(gaps.length)} samples (every 250 ms) of a node without a Ready agent`,
    );
    await releaseNamespaceRestricted();

    await crdGained();

    // The finding goes on: the same since, the same single event.
    await eventually(async () => {
      const after = await finding(honestNode, brokenNs, 'vault');
      assert.deepEqual([after?.verdict, after?.since], ['Mismatched', before.since]);
      const events = await podEvents(testbed, brokenNs, 'vault', 'RuntimeHandlerMismatch');
      assert.equal(events.length, 1, 'no second event');
    }, 120_000);
    const audited = JSON.parse(await k(['get', 'audit', audit, '-o', 'json'])) as { status?: { runtimeClasses?: unknown[] } };
    assert.ok((audited.status?.runtimeClasses?.length ?? 0) > 0, "the new operator fills the new status fields of the old release's audit");

    // 0.2.0's agents go back beside the operator: the namespace must let them.
    await k(['label', 'namespace', system, 'pod-security.kubernetes.io/enforce=privileged', '--overwrite']);
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
