// The agent against each real runtime the testbed runs (containerd 2.x,
// containerd 1.7, CRI-O; see hack/testbed/common.sh): for a pod with no
// RuntimeClass, runc, kata (runc under that name) and gvisor (runsc, on the
// containerd nodes), on the node's honest and broken paths, the report
// says the handler each sandbox was asked for, the handler that resolves to
// (the default from the runtime's own Status), the runtime type, and the
// host's evidence of its isolation (from /proc: gVisor's kernel or the
// host's). On the
// kuscia node, whose kubelet path drops every handler, the runtime's honest
// answers come from sandboxes run straight through CRI with its kubelet
// stopped (a kubelet kills sandboxes of pods it does not know).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { NodeSandboxReportSpec, ReportedSandbox } from '../../api/v1alpha1/node-sandbox-report.ts';
import { pausePod } from '../support/pods.ts';
import { startAgent, type Started } from '../support/processes.ts';
import { readySandbox, storedReport } from '../support/reports.ts';
import {
  applyObjects,
  createNamespace,
  criClient,
  eventually,
  kubectl,
  kubelet,
  loadTestbed,
  uniqueName,
  type TestbedNode,
} from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();

const reportOf = async (node: TestbedNode): Promise<NodeSandboxReportSpec> => (await storedReport(testbed, node.name)).spec;
const reported = (node: TestbedNode, namespace: string, pod: string): Promise<ReportedSandbox> => readySandbox(testbed, node.name, namespace, pod);

/**
 * What the host shows of a sandbox that really runs `handler`: gVisor's own
 * kernel, or the host's. CRI-O gives no sandbox pid where it dropped the
 * pod's infra container (every pod here but those of a handler named like
 * kata): the pod's first running container stands in, and a sandbox with no
 * container (one run straight through CRI) has no evidence yet.
 */
function isolationOn(node: TestbedNode, requested: string, resolved: string, pod: { containers: boolean }): string | undefined {
  if (standsIn(node, requested) && !pod.containers) return undefined;
  return resolved === 'gvisor' ? 'gvisor' : 'host-kernel';
}

/** Whether a container's process stands in for the sandbox's: CRI-O, a handler not named like kata. */
const standsIn = (node: TestbedNode, requested: string): boolean => node.runtime === 'cri-o' && !requested.includes('kata');

/** What the runtime says a sandbox of `handler` runs with: containerd names its shim; CRI-O says "oci" for every OCI runtime. */
function runtimeTypeOn(node: TestbedNode, handler: string): string {
  if (node.runtime === 'cri-o') return 'oci';
  return handler === 'gvisor' ? 'io.containerd.runsc.v1' : 'io.containerd.runc.v2';
}

interface Case {
  namespace: string;
  pod: string;
  runtimeClassName?: string;
}

for (const node of testbed.nodes) {
  describe(`agent against ${node.runtime} ${node.runtimeVersion} on ${node.name}`, () => {
    const honestNs = uniqueName('runtimes');
    const brokenNs = uniqueName('broken-runtimes');
    const classes = ['runc', 'kata', ...(node.gvisor ? ['gvisor'] : [])];
    const cases: Case[] = [
      { namespace: honestNs, pod: 'no-class' },
      ...classes.map((c) => ({ namespace: honestNs, pod: c, runtimeClassName: c })),
      ...classes.map((c) => ({ namespace: brokenNs, pod: c, runtimeClassName: c })),
    ];
    let agent: Started | undefined;

    before(async () => {
      await kubectl(testbed, ['apply', '-f', 'charts/runtimeclass-audit/files/crds/']);
      await createNamespace(testbed, honestNs);
      await createNamespace(testbed, brokenNs);
      await applyObjects(
        testbed,
        cases.map((c) => pausePod(testbed, { namespace: c.namespace, name: c.pod, node, runtimeClassName: c.runtimeClassName })),
      );
      for (const ns of [honestNs, brokenNs]) await kubectl(testbed, ['wait', '-n', ns, 'pod', '--all', '--for=condition=Ready', '--timeout=120s']);
      ({ agent } = await startAgent(testbed, node, node.criEndpoint));
    });
    after(async () => {
      await agent?.stop();
      await kubectl(testbed, ['delete', 'namespace', honestNs, brokenNs, '--wait=false']);
    });

    test("describes the runtime: its name and version, its default handler and each handler's runtime type (and binary, on CRI-O)", async () => {
      const handlers = [...classes, 'runc-alt'].sort().map((name) => ({ name, runtimeType: runtimeTypeOn(node, name) }));
      // Until this test's agent has written: an earlier test's report may still say what its runtime had then.
      const { runtime } = await eventually(async () => {
        const spec = await reportOf(node);
        assert.equal(spec.runtime.reachable, true);
        assert.deepEqual(
          spec.runtime.handlers.map(({ name, runtimeType }) => ({ name, runtimeType })),
          handlers,
        );
        return spec;
      }, 30_000);
      assert.equal(runtime.name, node.runtime);
      assert.equal(runtime.version?.replace(/^v/, ''), node.runtimeVersion);
      assert.equal(runtime.infoFormat, node.runtime);
      assert.equal(runtime.defaultHandler, 'runc');
      // CRI-O's runtime type cannot tell runc from runsc; the binary it names can.
      for (const h of runtime.handlers) assert.equal(h.runtimePath?.endsWith('/crio/runc-wrapper'), node.runtime === 'cri-o' ? true : undefined, h.name);
    });

    test("reports each pod's requested handler, the handler it resolves to, its runtime type and the host's evidence of its isolation", async () => {
      const blanked = new RegExp(node.brokenNamespaces);
      for (const c of cases) {
        const sandbox = await reported(node, c.namespace, c.pod);
        // The node's CRI proxy blanks the handler of pods in the namespaces it matches, like a kubelet that drops it.
        const requested = blanked.test(c.namespace) ? '' : (c.runtimeClassName ?? '');
        const resolved = requested === '' ? 'runc' : requested;
        assert.deepEqual(
          {
            pod: `${c.namespace}/${c.pod}`,
            requested: sandbox.requestedHandler,
            resolved: sandbox.resolvedHandler,
            type: sandbox.runtimeType,
            isolation: sandbox.evidence?.class,
            judged: sandbox.evidence?.container ?? 'the sandbox',
          },
          {
            pod: `${c.namespace}/${c.pod}`,
            requested,
            resolved,
            type: runtimeTypeOn(node, resolved),
            isolation: isolationOn(node, requested, resolved, { containers: true }),
            judged: standsIn(node, requested) ? 'main' : 'the sandbox',
          },
        );
      }
    });

    if (new RegExp(node.brokenNamespaces).test(honestNs)) {
      test('with no kubelet between: sandboxes run straight through CRI with each handler are reported as the runtime ran them', async () => {
        const direct = uniqueName('direct');
        const cri = criClient(node);
        const ran: string[] = [];
        await kubelet('stop', node);
        try {
          for (const handler of ['', ...classes]) {
            ran.push(await cri.runPodSandbox({ namespace: direct, name: handler === '' ? 'no-class' : handler, handler, cgroupRoot: node.cgroupRoot }));
          }
          for (const handler of ['', ...classes]) {
            const sandbox = await reported(node, direct, handler === '' ? 'no-class' : handler);
            const resolved = handler === '' ? 'runc' : handler;
            assert.deepEqual(
              { requested: sandbox.requestedHandler, resolved: sandbox.resolvedHandler, type: sandbox.runtimeType, isolation: sandbox.evidence?.class },
              { requested: handler, resolved, type: runtimeTypeOn(node, resolved), isolation: isolationOn(node, handler, resolved, { containers: false }) },
            );
          }
        } finally {
          for (const id of ran) {
            await cri.stopPodSandbox(id);
            await cri.removePodSandbox(id);
          }
          cri.close();
          await kubelet('start', node);
        }
      });
    }

    if (node.runtime === 'cri-o') {
      test("CRI-O: the handler comes from the sandbox's runtime spec, as ListPodSandbox leaves runtime_handler empty", async () => {
        const cri = criClient(node);
        try {
          const { items } = await cri.listPodSandbox();
          const kata = items.find((s) => s.metadata?.namespace === honestNs && s.metadata.name === 'kata' && s.state === 'SANDBOX_READY');
          assert.ok(kata, "the kata pod's sandbox");
          assert.equal(kata.runtime_handler, '');
        } finally {
          cri.close();
        }
        assert.equal((await reported(node, honestNs, 'kata')).requestedHandler, 'kata');
      });
    }
  });
}
