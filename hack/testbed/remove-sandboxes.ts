// Stops and removes every pod sandbox on a CRI endpoint, so that down.sh
// leaves no shim or pause process behind when it stops containerd.
//   node hack/testbed/remove-sandboxes.ts unix:///path/to/containerd.sock
// A sandbox the runtime refuses to remove is listed, and the exit status is 1
// (down.sh then kills what is left).
import { removeSandboxes } from './cri-admin.ts';

const endpoint = process.argv[2];
if (endpoint === undefined) throw new Error('usage: remove-sandboxes.ts CRI_ENDPOINT');
const { removed, refused } = await removeSandboxes(endpoint);
process.stdout.write(`removed ${String(removed)} sandboxes\n`);
for (const line of refused) process.stderr.write(`could not remove ${line}\n`);
if (refused.length > 0) process.exitCode = 1;
