// gVisor under CRI-O, for real: the testbed's CRI-O node restarted with
// runsc as its `gvisor` handler (hack/testbed/node.sh start runtime NODE
// gvisor). runsc runs there only in a pod that keeps its infra container,
// which CRI-O drops for most pods (drop_infra_ctr): one that shares its
// process namespace. The agent's evidence for it is gvisor, where CRI-O's
// runtime type ("oci") cannot tell runsc from runc; a pod without an infra
// container does not start at all, and says why. (Deleting such a pod
// hangs in CRI-O until it restarts: after() says why.)
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { removeSandboxes } from '../../hack/testbed/cri-admin.ts';
import { startAgent, type Started } from '../support/processes.ts';
import { readySandbox } from '../support/reports.ts';
import { createNamespace, eventually, kubectl, loadTestbed, runtime, uniqueName } from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const node = testbed.nodes.find((n) => n.runtime === 'cri-o');

describe('gVisor under CRI-O: runsc as an OCI runtime, judged by the host', { skip: node === undefined ? 'the testbed has no CRI-O node' : false }, () => {
  const ns = uniqueName('crio-gvisor');
  let agent: Started | undefined;
  const pod = (name: string, sharedPid: boolean): object => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: ns, name },
    spec: {
      nodeName: node?.name,
      runtimeClassName: 'gvisor',
      shareProcessNamespace: sharedPid,
      terminationGracePeriodSeconds: 1,
      automountServiceAccountToken: false,
      containers: [{ name: 'main', image: testbed.pauseImage, imagePullPolicy: 'Never' }],
    },
  });

  before(async () => {
    assert.ok(node);
    await runtime('stop', node);
    await runtime('start', node, { gvisor: true });
    await createNamespace(testbed, ns);
    await kubectl(testbed, ['apply', '-f', '-'], JSON.stringify(pod('shared', true)));
    ({ agent } = await startAgent(testbed, node, node.criEndpoint));
  });

  after(async () => {
    await agent?.stop();
    if (node === undefined) return;
    // CRI-O's StopContainer of a runsc container hangs after its SIGKILL (the container's conmon is
    // long gone, so no exit is ever seen) until CRI-O restarts and asks runsc for the state: so the
    // pods are deleted, CRI-O restarted with gvisor to finish them, and then without it. The kubelet
    // removes a dead sandbox only later, in its garbage collection: one left for then could never be
    // removed by a CRI-O that no longer knows the gvisor handler, so they are removed here, while it does.
    await kubectl(testbed, ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
    await kubectl(testbed, ['wait', '-n', ns, '--for=delete', 'pod', '--all', '--timeout=10s']).catch(() => undefined);
    await runtime('stop', node);
    await runtime('start', node, { gvisor: true });
    await kubectl(testbed, ['wait', '--for=delete', `namespace/${ns}`, '--timeout=120s']).catch(() => undefined);
    const { refused } = await removeSandboxes(node.criEndpoint, ns);
    assert.deepEqual(refused, [], 'every sandbox of the test removed while CRI-O still knows the gvisor handler');
    await runtime('stop', node);
    await runtime('start', node);
    // The node's report still lists gvisor among the handlers: the next test's agent starts from a clean one.
    await kubectl(testbed, ['delete', 'nodesandboxreport', node.name, '--ignore-not-found']);
  });

  test("a pod that keeps its infra container runs under runsc, and the host's evidence says gvisor where CRI-O's runtime type says only oci", async () => {
    assert.ok(node);
    await kubectl(testbed, ['wait', '-n', ns, '--for=condition=Ready', '--timeout=120s', 'pod/shared']);
    assert.match(await kubectl(testbed, ['exec', '-n', ns, 'shared', '--', '/cat', '/proc/version']), /^Linux version \S+-gvisor /);
    const sandbox = await readySandbox(testbed, node.name, ns, 'shared');
    assert.deepEqual(
      [sandbox.resolvedHandler, sandbox.runtimeType, sandbox.evidence?.class, sandbox.evidence?.process, sandbox.evidence?.parent, sandbox.evidence?.container],
      ['gvisor', 'oci', 'gvisor', 'runsc-sandbox', 'conmon', undefined],
    );
  });

  test('a pod without one never starts: runsc finds no sandbox to join, and the kubelet says so', async () => {
    await kubectl(testbed, ['apply', '-f', '-'], JSON.stringify(pod('alone', false)));
    await eventually(async () => {
      const waiting = await kubectl(testbed, ['get', 'pod', '-n', ns, 'alone', '-o', 'jsonpath={.status.containerStatuses[0].state.waiting}']);
      assert.match(waiting, /CreateContainerError/);
      assert.match(waiting, /cannot load sandbox/);
    }, 90_000);
  });
});
