// The testbed holds the honest and the broken handler paths on real nodes:
// on the first node the kubelet's RunPodSandbox reaches containerd intact,
// except in "broken-*" namespaces, where the handler is blanked on the way;
// on the second node every pod's handler is blanked, as kuscia's kubelet
// does. Ask containerd itself (CRI, bypassing the kubelet's path) what each
// pod's sandbox really got.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseSandboxDetail } from '../../agent/cri/sandbox-info.ts';
import type { PodSandbox } from '../../agent/cri/types.ts';
import { createNamespace, criClient, kubectl, loadTestbed, testbedNode, uniqueName, type TestbedNode } from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const honestNode = testbedNode(testbed, 0);
const brokenNode = testbedNode(testbed, 1);
const honestNs = uniqueName('honest');
const brokenNs = uniqueName('broken');

interface PodSpec {
  namespace: string;
  name: string;
  node: TestbedNode;
  runtimeClassName?: string;
}

function podManifest(pod: PodSpec): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: pod.namespace, name: pod.name },
    spec: {
      ...(pod.runtimeClassName === undefined ? {} : { runtimeClassName: pod.runtimeClassName }),
      nodeName: pod.node.name,
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: testbed.pauseImage, imagePullPolicy: 'Never' }],
    },
  });
}

/** Runs the pod, waits until Ready, and returns what containerd on its node says of its sandbox. */
async function runPod(pod: PodSpec): Promise<{ sandbox: PodSandbox; runtimeType: string | undefined }> {
  await kubectl(testbed, ['apply', '-f', '-'], podManifest(pod));
  await kubectl(testbed, ['wait', '-n', pod.namespace, `pod/${pod.name}`, '--for=condition=Ready', '--timeout=90s']);
  const uid = (await kubectl(testbed, ['get', '-n', pod.namespace, `pod/${pod.name}`, '-o', 'jsonpath={.metadata.uid}'])).trim();
  const cri = criClient(pod.node);
  try {
    const { items } = await cri.listPodSandbox();
    const sandbox = items.find((s) => s.metadata?.uid === uid && s.state === 'SANDBOX_READY');
    assert.ok(sandbox, `no ready sandbox for pod uid ${uid} among ${String(items.length)} on ${pod.node.name}`);
    const { info } = await cri.podSandboxStatus(sandbox.id, true);
    return { sandbox, runtimeType: parseSandboxDetail(info).runtimeType };
  } finally {
    cri.close();
  }
}

describe(`handler paths (Kubernetes ${testbed.kubernetesVersion})`, () => {
  before(async () => {
    await createNamespace(testbed, honestNs);
    await createNamespace(testbed, brokenNs);
  });
  after(async () => {
    await kubectl(testbed, ['delete', 'namespace', honestNs, brokenNs, '--wait=false']);
  });

  test('honest path: a kata pod gets handler "kata" (configured as runc on this node)', async () => {
    const { sandbox, runtimeType } = await runPod({ namespace: honestNs, name: 'meant-for-kata', node: honestNode, runtimeClassName: 'kata' });
    assert.equal(sandbox.runtime_handler, 'kata');
    assert.equal(sandbox.metadata?.namespace, honestNs);
    assert.equal(runtimeType, 'io.containerd.runc.v2');
  });

  test('honest path: runc-alt and no RuntimeClass reach containerd as sent', async () => {
    const alt = await runPod({ namespace: honestNs, name: 'meant-for-runc-alt', node: honestNode, runtimeClassName: 'runc-alt' });
    const plain = await runPod({ namespace: honestNs, name: 'no-class', node: honestNode });
    assert.equal(alt.sandbox.runtime_handler, 'runc-alt');
    // containerd stores the requested handler verbatim: "" for the default, not "runc".
    assert.equal(plain.sandbox.runtime_handler, '');
  });

  test('broken namespace: a kata pod silently runs with handler "" (the default runtime)', async () => {
    const { sandbox, runtimeType } = await runPod({ namespace: brokenNs, name: 'meant-for-kata', node: honestNode, runtimeClassName: 'kata' });
    assert.equal(sandbox.runtime_handler, '');
    assert.equal(runtimeType, 'io.containerd.runc.v2');
    const seen = await kubectl(testbed, ['get', '-n', brokenNs, 'pod/meant-for-kata', '-o', 'jsonpath={.spec.runtimeClassName}/{.status.phase}']);
    assert.equal(seen, 'kata/Running', 'the API still says kata and Running: nothing shows the loss');
  });

  test(`broken node: on ${brokenNode.name} a kata pod in an ordinary namespace gets handler ""`, async () => {
    const { sandbox } = await runPod({ namespace: honestNs, name: 'kata-on-broken-node', node: brokenNode, runtimeClassName: 'kata' });
    assert.equal(sandbox.runtime_handler, '');
    assert.equal(sandbox.metadata?.namespace, honestNs);
  });
});

describe('pod networking', () => {
  for (const node of testbed.nodes) {
    test(`a pod on ${node.name} reaches the API server through the kubernetes Service (kube-proxy)`, async () => {
      const ns = uniqueName('net');
      await createNamespace(testbed, ns);
      try {
        const serviceIp = (await kubectl(testbed, ['get', 'service', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
        await kubectl(
          testbed,
          ['apply', '-f', '-'],
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { namespace: ns, name: 'probe' },
            spec: {
              nodeName: node.name,
              restartPolicy: 'Never',
              containers: [{ name: 'probe', image: testbed.pauseImage, imagePullPolicy: 'Never', command: ['/tcp-probe', serviceIp, '443'] }],
            },
          }),
        );
        await kubectl(testbed, ['wait', '-n', ns, 'pod/probe', '--for=jsonpath={.status.phase}=Succeeded', '--timeout=60s']);
        const logs = await kubectl(testbed, ['logs', '-n', ns, 'probe']);
        assert.match(logs, new RegExp(`connected to ${serviceIp.replaceAll('.', '\\.')}:443`));
      } finally {
        await kubectl(testbed, ['delete', 'namespace', ns, '--wait=false']);
      }
    });
  }
});
