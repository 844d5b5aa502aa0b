// Captures what the host's /proc shows of pods' sandboxes, for the unit
// tests of isolation evidence: for each pod named, its sandbox's process
// (the pid the runtime gives), that process's parent, and every process in
// the pod's cgroup, as OUT_DIR/NAME/proc/<pid>/{status,cmdline,cgroup} (the
// files the agent reads; status cut to its Name and PPid lines), plus
// OUT_DIR/NAME/sandbox.json ({ podUID, pid }).
//   node hack/testbed/capture-proc.ts CRI_ENDPOINT OUT_DIR NAMESPACE/POD=NAME...
// hack/capture-cri.sh runs it on every testbed node.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CriRuntimeClient } from '../../agent/cri/runtime-client.ts';
import { parseSandboxDetail } from '../../agent/cri/sandbox-info.ts';
import { podOfCgroup } from '../../agent/evidence/classify.ts';

const [endpoint, outDir, ...specs] = process.argv.slice(2);
if (endpoint === undefined || outDir === undefined || specs.length === 0) throw new Error('usage: capture-proc.ts CRI_ENDPOINT OUT_DIR NAMESPACE/POD=NAME...');

const read = (pid: number, file: string): string | undefined => {
  try {
    return readFileSync(`/proc/${String(pid)}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
};

function copyProcess(dir: string, pid: number): number | undefined {
  const [status, cmdline, cgroup] = [read(pid, 'status'), read(pid, 'cmdline'), read(pid, 'cgroup')];
  if (status === undefined || cmdline === undefined || cgroup === undefined) return undefined;
  const to = join(dir, 'proc', String(pid));
  mkdirSync(to, { recursive: true });
  writeFileSync(
    join(to, 'status'),
    `${status
      .split('\n')
      .filter((l) => /^(Name|Pid|PPid):/.test(l))
      .join('\n')}\n`,
  );
  writeFileSync(join(to, 'cmdline'), cmdline);
  writeFileSync(join(to, 'cgroup'), cgroup);
  return Number(/^PPid:\s*(\d+)/m.exec(status)?.[1] ?? '0');
}

const client = new CriRuntimeClient(endpoint);
try {
  const ready = (await client.listPodSandbox()).items.filter((s) => s.state === 'SANDBOX_READY');
  for (const spec of specs) {
    const [pod, name] = spec.split('=');
    const sandbox = ready.find((s) => `${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}` === pod);
    if (sandbox === undefined || name === undefined) throw new Error(`no ready sandbox for ${spec} at ${endpoint}`);
    const podUID = sandbox.metadata?.uid ?? '';
    const { pid } = parseSandboxDetail((await client.podSandboxStatus(sandbox.id, true)).info);
    if (pid === undefined) throw new Error(`the runtime gave no pid for ${spec}`);
    const dir = join(outDir, name);
    const ppid = copyProcess(dir, pid);
    if (ppid !== undefined && ppid > 0) copyProcess(dir, ppid);
    const inPod = readdirSync('/proc').filter((e) => /^\d+$/.test(e) && podOfCgroup(read(Number(e), 'cgroup') ?? '') === podUID);
    for (const entry of inPod) copyProcess(dir, Number(entry));
    writeFileSync(join(dir, 'sandbox.json'), `${JSON.stringify({ podUID, pid }, null, 2)}\n`);
  }
} finally {
  client.close();
}
