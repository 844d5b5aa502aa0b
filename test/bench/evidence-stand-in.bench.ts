// Evidence on the testbed's CRI-O node, where most pods have no infra
// container and so no sandbox pid: their first running container stands in
// (one ListContainers for all of them, one verbose ContainerStatus each).
// Prints, at 20 and 60 pods (every other one asks for kata, for which CRI-O
// keeps an infra container), the first scan's CRI calls and time, and the
// steady scans' calls (must be 1) and time: the stand-in costs nothing once
// every sandbox has its evidence.
//   node test/bench/evidence-stand-in.bench.ts
import { CriRuntimeClient } from '../../agent/cri/runtime-client.ts';
import { ProcEvidence } from '../../agent/evidence/proc.ts';
import { SandboxScanner } from '../../agent/scanner.ts';
import { runPausePods } from '../support/pods.ts';
import { benchLog, percentile } from '../support/stats.ts';
import { createNamespace, kubectl, loadTestbed, uniqueName } from '../../hack/testbed/testbed.ts';

const SIZES = [20, 60];
const SCANS = 100;
const testbed = loadTestbed();
const node = testbed.nodes.find((n) => n.runtime === 'cri-o');
if (node === undefined) throw new Error('the testbed has no CRI-O node');
const ns = uniqueName('bench-stand-in');

async function measure(size: number): Promise<void> {
  let calls = 0;
  const cri = new CriRuntimeClient(node?.criEndpoint ?? '', {
    onCall: () => {
      calls++;
    },
  });
  try {
    const scanner = new SandboxScanner(cri, { evidence: new ProcEvidence('/proc') });
    const t = performance.now();
    const first = await scanner.scan();
    const firstMs = performance.now() - t;
    const judged = [...first.evidence.values()];
    const standIns = judged.filter((e) => e.container !== undefined).length;
    const before = calls;
    const ms: number[] = [];
    for (let i = 0; i < SCANS; i++) {
      const s = performance.now();
      await scanner.scan();
      ms.push(performance.now() - s);
    }
    ms.sort((a, b) => a - b);
    benchLog(
      `${String(size)} pods on ${node?.name ?? ''} (${String(first.sandboxes.length)} sandboxes; ${String(standIns)} judged by a container, ` +
        `${String(judged.length - standIns)} by their own pid): first scan ${String(first.rpcs)} CRI calls in ${firstMs.toFixed(0)} ms; ` +
        `steady ${((calls - before) / SCANS).toFixed(2)} calls a scan, median ${percentile(ms, 50).toFixed(2)} ms, p99 ${percentile(ms, 99).toFixed(2)} ms`,
    );
  } finally {
    cri.close();
  }
}

await createNamespace(testbed, ns);
try {
  let have = 0;
  for (const size of SIZES) {
    await runPausePods(testbed, node, ns, { prefix: 'p', from: have, to: size });
    have = size;
    await measure(size);
  }
} finally {
  await kubectl(testbed, ['delete', 'namespace', ns, '--wait=false']);
}
