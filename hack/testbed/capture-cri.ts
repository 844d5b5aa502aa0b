// Captures what a real CRI runtime answers, as the agent receives it (info
// entries are JSON strings, as on the wire), for the unit tests' fixtures:
// Version, verbose Status, ListPodSandbox, and a verbose PodSandboxStatus of
// each sandbox named. A sandbox is named as NAMESPACE/POD=SUFFIX (a pod's
// ready sandbox) or run:HANDLER=SUFFIX (a sandbox this tool runs straight
// through CRI with that handler, "default" for "", and removes afterwards;
// for a node whose kubelet path drops every handler, with its kubelet stopped).
//   node hack/testbed/capture-cri.ts CRI_ENDPOINT OUT_DIR CGROUP_ROOT SPEC...
// hack/capture-cri.sh runs the pods and this on every testbed node.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CriAdminClient } from './cri-admin.ts';

const [endpoint, outDir, cgroupRoot, ...specs] = process.argv.slice(2);
if (endpoint === undefined || outDir === undefined || cgroupRoot === undefined || specs.length === 0) {
  throw new Error('usage: capture-cri.ts CRI_ENDPOINT OUT_DIR CGROUP_ROOT (NAMESPACE/POD|run:HANDLER)=SUFFIX...');
}
function write(name: string, answer: unknown): void {
  writeFileSync(join(outDir ?? '.', name), `${JSON.stringify(answer, null, 2)}\n`);
}

const client = new CriAdminClient(endpoint, { deadlineMs: 60_000 });
const ran: string[] = [];
try {
  const wanted = new Map<string, string>();
  for (const spec of specs) {
    const [what, suffix] = spec.split('=');
    if (what === undefined || suffix === undefined) throw new Error(`not a SPEC=SUFFIX: ${spec}`);
    if (what.startsWith('run:')) {
      const handler = what.slice('run:'.length);
      const id = await client.runPodSandbox({ namespace: 'fixtures', name: `direct-${handler}`, handler: handler === 'default' ? '' : handler, cgroupRoot });
      ran.push(id);
      wanted.set(id, suffix);
    } else {
      wanted.set(what, suffix);
    }
  }
  mkdirSync(outDir, { recursive: true });
  write('version.json', await client.version());
  write('status-verbose.json', await client.status(true));
  const ready = (await client.listPodSandbox()).items.filter((s) => s.state === 'SANDBOX_READY');
  const captured = [];
  for (const [what, suffix] of wanted) {
    const sandbox = ready.find((s) => s.id === what || `${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}` === what);
    if (sandbox === undefined) throw new Error(`no ready sandbox for ${what} at ${endpoint}`);
    write(`pod-sandbox-status-verbose_${suffix}.json`, await client.podSandboxStatus(sandbox.id, true));
    captured.push(sandbox);
  }
  // Only the captured sandboxes' entries: the list is a fixture, not a node's history.
  write('list-pod-sandbox.json', { items: captured });
} finally {
  for (const id of ran) {
    await client.stopPodSandbox(id);
    await client.removePodSandbox(id);
  }
  client.close();
}
