// The testbed holds both handler paths on one real node: in ordinary
// namespaces the kubelet's RunPodSandbox reaches containerd intact; in
// "broken-*" namespaces the handler is blanked on the way, as kuscia's kubelet
// does. Ask containerd itself (CRI, bypassing the kubelet's path) what each
// pod's sandbox really got.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PodSandbox } from '../../agent/cri/types.ts';
import { createNamespace, criClient, firstNode, kubectl, loadTestbed, uniqueName } from '../support/testbed.ts';

const testbed = loadTestbed();
const node = firstNode(testbed);
const honestNs = uniqueName('honest');
const brokenNs = uniqueName('broken');

function podManifest(namespace: string, name: string, runtimeClassName?: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name },
    spec: {
      ...(runtimeClassName === undefined ? {} : { runtimeClassName }),
      nodeName: node.name,
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: testbed.pauseImage, imagePullPolicy: 'Never' }],
    },
  });
}

async function runPod(namespace: string, name: string, runtimeClassName?: string): Promise<string> {
  await kubectl(testbed, ['apply', '-f', '-'], podManifest(namespace, name, runtimeClassName));
  await kubectl(testbed, ['wait', '-n', namespace, `pod/${name}`, '--for=condition=Ready', '--timeout=90s']);
  return (await kubectl(testbed, ['get', '-n', namespace, `pod/${name}`, '-o', 'jsonpath={.metadata.uid}'])).trim();
}

async function sandboxOf(uid: string): Promise<{ sandbox: PodSandbox; runtimeType: unknown }> {
  const cri = criClient(node);
  try {
    const { items } = await cri.listPodSandbox();
    const sandbox = items.find((s) => s.metadata?.uid === uid && s.state === 'SANDBOX_READY');
    assert.ok(sandbox, `no ready sandbox for pod uid ${uid} among ${String(items.length)}`);
    const status = await cri.podSandboxStatus(sandbox.id, true);
    const info = JSON.parse(status.info['info'] ?? '{}') as { runtimeType?: unknown };
    return { sandbox, runtimeType: info.runtimeType };
  } finally {
    cri.close();
  }
}

describe(`handler paths on node ${node.name} (Kubernetes ${testbed.kubernetesVersion})`, () => {
  before(async () => {
    await createNamespace(testbed, honestNs);
    await createNamespace(testbed, brokenNs);
  });
  after(async () => {
    await kubectl(testbed, ['delete', 'namespace', honestNs, brokenNs, '--wait=false']);
  });

  test('honest path: a kata pod gets handler "kata" (configured as runc on this node)', async () => {
    const uid = await runPod(honestNs, 'meant-for-kata', 'kata');
    const { sandbox, runtimeType } = await sandboxOf(uid);
    assert.equal(sandbox.runtime_handler, 'kata');
    assert.equal(sandbox.metadata?.namespace, honestNs);
    assert.equal(runtimeType, 'io.containerd.runc.v2');
  });

  test('honest path: runc-alt and no RuntimeClass reach containerd as sent', async () => {
    const altUid = await runPod(honestNs, 'meant-for-runc-alt', 'runc-alt');
    const plainUid = await runPod(honestNs, 'no-class');
    assert.equal((await sandboxOf(altUid)).sandbox.runtime_handler, 'runc-alt');
    // containerd stores the requested handler verbatim: "" for the default, not "runc".
    assert.equal((await sandboxOf(plainUid)).sandbox.runtime_handler, '');
  });

  test('broken path: a kata pod silently runs with handler "" (the default runtime)', async () => {
    const uid = await runPod(brokenNs, 'meant-for-kata', 'kata');
    const { sandbox, runtimeType } = await sandboxOf(uid);
    assert.equal(sandbox.runtime_handler, '');
    assert.equal(runtimeType, 'io.containerd.runc.v2');
    const phase = await kubectl(testbed, ['get', '-n', brokenNs, 'pod/meant-for-kata', '-o', 'jsonpath={.spec.runtimeClassName}/{.status.phase}']);
    assert.equal(phase, 'kata/Running', 'the API still says kata and Running: nothing shows the loss');
  });
});

describe('pod networking', () => {
  test('a pod reaches the API server through the kubernetes Service (kube-proxy)', async () => {
    const ns = uniqueName('net');
    await createNamespace(testbed, ns);
    try {
      const serviceIp = (await kubectl(testbed, ['get', 'service', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
      await kubectl(testbed, ['apply', '-f', '-'], JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { namespace: ns, name: 'probe' },
        spec: {
          nodeName: node.name,
          restartPolicy: 'Never',
          containers: [{ name: 'probe', image: testbed.pauseImage, imagePullPolicy: 'Never', command: ['/tcp-probe', serviceIp, '443'] }],
        },
      }));
      await kubectl(testbed, ['wait', '-n', ns, 'pod/probe', '--for=jsonpath={.status.phase}=Succeeded', '--timeout=60s']);
      const logs = await kubectl(testbed, ['logs', '-n', ns, 'probe']);
      assert.match(logs, new RegExp(`connected to ${serviceIp.replaceAll('.', '\\.')}:443`));
    } finally {
      await kubectl(testbed, ['delete', 'namespace', ns, '--wait=false']);
    }
  });
});
