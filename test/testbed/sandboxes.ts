// Lists a node's pod sandboxes as containerd itself sees them: the handler
// each one was asked for and the runtime type it really got. The demo's
// "ground truth" view, like `crictl pods` plus `crictl inspectp`.
//   node test/testbed/sandboxes.ts CRI_ENDPOINT
import { CriRuntimeClient } from '../../agent/cri/runtime-client.ts';
import { parseSandboxDetail } from '../../agent/cri/sandbox-info.ts';

const endpoint = process.argv[2];
if (endpoint === undefined) throw new Error('usage: sandboxes.ts CRI_ENDPOINT');
const client = new CriRuntimeClient(endpoint);
try {
  const { items } = await client.listPodSandbox();
  const rows = [['NAMESPACE', 'POD', 'STATE', 'HANDLER', 'RUNTIME TYPE']];
  for (const sandbox of items.filter((s) => s.state === 'SANDBOX_READY')) {
    const { info } = await client.podSandboxStatus(sandbox.id, true);
    const runtimeType = parseSandboxDetail(info).runtimeType ?? '?';
    rows.push([
      sandbox.metadata?.namespace ?? '?',
      sandbox.metadata?.name ?? '?',
      sandbox.state,
      sandbox.runtime_handler === '' ? '"" (default)' : sandbox.runtime_handler,
      runtimeType,
    ]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  for (const row of rows) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}\n`);
} finally {
  client.close();
}
