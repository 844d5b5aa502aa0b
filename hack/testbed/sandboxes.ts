// Lists a node's pod sandboxes as its runtime itself sees them: the handler
// each one was asked for and the runtime type it really got (containerd
// names it; CRI-O does not, per sandbox). The demo's "ground truth" view,
// like `crictl pods` plus `crictl inspectp`.
//   node hack/testbed/sandboxes.ts CRI_ENDPOINT [NAMESPACE]
import { CriRuntimeClient } from '../../agent/cri/runtime-client.ts';
import { parseSandboxDetail } from '../../agent/cri/sandbox-info.ts';
import { requestedHandler } from '../../agent/report.ts';

const [endpoint, namespace] = process.argv.slice(2);
if (endpoint === undefined) throw new Error('usage: sandboxes.ts CRI_ENDPOINT [NAMESPACE]');
const client = new CriRuntimeClient(endpoint);
try {
  const { items } = await client.listPodSandbox();
  const rows = [['NAMESPACE', 'POD', 'STATE', 'HANDLER', 'RUNTIME TYPE']];
  for (const sandbox of items.filter((s) => s.state === 'SANDBOX_READY' && (namespace === undefined || s.metadata?.namespace === namespace))) {
    const { info } = await client.podSandboxStatus(sandbox.id, true);
    const detail = parseSandboxDetail(info);
    const handler = requestedHandler(sandbox, detail);
    rows.push([
      sandbox.metadata?.namespace ?? '?',
      sandbox.metadata?.name ?? '?',
      sandbox.state,
      handler === '' ? '"" (default)' : handler,
      detail.runtimeType ?? '-',
    ]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  for (const row of rows)
    process.stdout.write(
      `${row
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd()}\n`,
    );
} finally {
  client.close();
}
