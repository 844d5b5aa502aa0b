// Stops and removes every pod sandbox on a CRI endpoint, so that down.sh
// leaves no shim or pause process behind when it stops containerd.
//   node hack/testbed/remove-sandboxes.ts unix:///path/to/containerd.sock
import { CriAdminClient } from './cri-admin.ts';

const endpoint = process.argv[2];
if (endpoint === undefined) throw new Error('usage: remove-sandboxes.ts CRI_ENDPOINT');
const client = new CriAdminClient(endpoint, { deadlineMs: 30_000 });
try {
  const { items } = await client.listPodSandbox();
  for (const sandbox of items) {
    await client.stopPodSandbox(sandbox.id);
    await client.removePodSandbox(sandbox.id);
  }
  process.stdout.write(`removed ${String(items.length)} sandboxes\n`);
} finally {
  client.close();
}
