// The reflector against the real API server, through a relay that resets
// the watch's connection in the middle: the watch resumes from the last
// resourceVersion it saw, not from where it started, so nothing is
// replayed, and an API server that compacted meanwhile does not force a
// full re-list.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { kubeconfigConnection } from '../../kube/connection.ts';
import { Reflector, type KubeObject, type RestartReason } from '../../kube/reflector.ts';
import { KubeRest } from '../../kube/rest.ts';
import { startFreezableProxy, type FreezableProxy } from '../support/freezable-proxy.ts';
import { createNamespace, eventually, kubectl, loadTestbed, uniqueName } from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const ns = uniqueName('reflector');
const dir = mkdtempSync(join(tmpdir(), 'rca-reflector-'));
let proxy: FreezableProxy | undefined;
let reflector: Reflector<string> | undefined;

before(async () => {
  await createNamespace(testbed, ns);
  proxy = await startFreezableProxy(testbed.kubeconfig, join(dir, 'kubeconfig'));
});

after(async () => {
  await reflector?.stop();
  await proxy?.close();
  rmSync(dir, { recursive: true, force: true });
  await kubectl(testbed, ['delete', 'namespace', ns, '--wait=false']);
});

/** Waits until `check` stops throwing. */
const holds = (check: () => void, timeoutMs: number): Promise<void> => eventually(() => Promise.resolve().then(check), timeoutMs);

const configMap = (name: string): string => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { a: name } });

test('a watch cut by a transport error resumes from the last resourceVersion it saw', async () => {
  const relay = proxy;
  assert.ok(relay !== undefined);
  const rest = new KubeRest(await kubeconfigConnection(relay.kubeconfig), { timeoutMs: 10_000 });
  // A spy on the real client: where each watch starts.
  const watchedFrom: string[] = [];
  const watch = rest.watch.bind(rest);
  rest.watch = (path, query, event, done) => {
    watchedFrom.push(String(query['resourceVersion']));
    return watch(path, query, event, done);
  };
  const restarts: RestartReason[] = [];
  reflector = new Reflector<string>(rest, {
    path: `/api/v1/namespaces/${ns}/configmaps`,
    resource: 'configmaps',
    keyOf: (o: KubeObject) => o.metadata?.name,
    trim: (o: KubeObject) => o.metadata?.resourceVersion ?? '',
    onChange: () => undefined,
    onRestart: (reason) => restarts.push(reason),
    backoff: { baseMs: 100, maxMs: 200 },
  });
  await reflector.start();
  const store = reflector.store;
  await holds(() => {
    assert.equal(watchedFrom.length, 1);
  }, 10_000);
  const listedAt = watchedFrom[0];
  for (const name of ['a', 'b']) await kubectl(testbed, ['create', '-f', '-'], configMap(name));
  await holds(() => {
    assert.equal(store.size >= 2 && store.has('b'), true);
  }, 10_000);
  const lastSeen = store.get('b');

  relay.reset();
  await holds(() => {
    assert.equal(watchedFrom.length, 2);
  }, 20_000);
  assert.deepEqual(restarts, ['error'], 'the reset ended the watch with an error, not a clean close');
  assert.notEqual(lastSeen, listedAt);
  assert.equal(watchedFrom[1], lastSeen, `resumed from the last event seen (${String(lastSeen)}), not from the list's ${String(listedAt)}`);
  // And it still follows the namespace.
  await kubectl(testbed, ['create', '-f', '-'], configMap('c'));
  await holds(() => {
    assert.ok(store.has('c'));
  }, 10_000);
});
