// The API client's requests as the real API server reads them. A body is
// sent framed on every verb: on a DELETE, Node's http sends a body it is not
// told the length of unframed, which the API server ignores (the probes'
// grace period of 0 with it) and reads as the next request on the
// connection, so that request got a 400 in place of its answer: every probe
// label patch after a probe pod's deletion failed once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { kubeconfigConnection } from '../../kube/connection.ts';
import { KubeApiError } from '../../kube/errors.ts';
import { KubeRest, MERGE_PATCH } from '../../kube/rest.ts';
import { createNamespace, kubectl, loadTestbed, uniqueName } from '../../hack/testbed/testbed.ts';

const testbed = loadTestbed();
const ns = uniqueName('rest');
const path = `/api/v1/namespaces/${ns}/configmaps/kept`;

before(async () => {
  await createNamespace(testbed, ns);
});

after(async () => {
  await kubectl(testbed, ['delete', 'namespace', ns, '--wait=false']);
});

test("a DELETE's options reach the API server, and the next request on its connection gets its own answer", async () => {
  await kubectl(testbed, ['create', 'configmap', 'kept', '-n', ns, '--from-literal=a=b']);
  const uid = (await kubectl(testbed, ['get', 'configmap', 'kept', '-n', ns, '-o', 'jsonpath={.metadata.uid}'])).trim();
  const rest = new KubeRest(await kubeconfigConnection(testbed.kubeconfig), { timeoutMs: 10_000 });
  // A precondition on another object's uid: the API server must refuse the delete (unread, it deleted).
  await assert.rejects(
    rest.request('DELETE', path, { what: 'delete ConfigMap kept', body: { preconditions: { uid: '00000000-0000-0000-0000-000000000000' } } }),
    (err: unknown) => err instanceof KubeApiError && err.reason === 'Conflict',
  );
  // The same connection, at once: the patch is answered as itself.
  const patched = await rest.request<{ metadata: { uid: string }; data: Record<string, string> }>('PATCH', path, {
    what: 'patch ConfigMap kept',
    contentType: MERGE_PATCH,
    body: { data: { a: 'c' } },
  });
  assert.equal(patched.metadata.uid, uid);
  assert.deepEqual(patched.data, { a: 'c' });
  await rest.request('DELETE', path, { what: 'delete ConfigMap kept', body: { preconditions: { uid } } });
  assert.equal((await kubectl(testbed, ['get', 'configmap', 'kept', '-n', ns, '--ignore-not-found', '-o', 'name'])).trim(), '');
});
