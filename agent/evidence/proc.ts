// Reads the host's /proc for isolation evidence (classify.ts judges it).
// The chart mounts the host's /proc read-only at --proc-root; reading
// cmdline, status and cgroup of any process needs no capability. Processes
// come and go while we read: one that vanishes mid-read is simply not there.
// One walk of /proc serves every sandbox of a scan, and a scan walks only
// when the runtime has new sandboxes, so a steady node never walks it.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inBatches } from '../batches.ts';
import { classifyIsolation, looksLikeVm, parseProcess, podOfCgroup, type Evidence, type KataRecordLookup, type ProcessFacts } from './classify.ts';
import type { KataRecordSource } from './kata-host.ts';

export interface EvidenceRequest {
  sandboxId: string;
  podUID: string;
  /** The pid the runtime gave (verbose PodSandboxStatus), or its stand-in's. */
  pid: number | undefined;
  /** Where the runtime gave the sandbox no pid: the container whose process stands in for it (verbose ContainerStatus). */
  container?: string;
}

/** Gathers evidence for new sandboxes (the scanner's view of this module). */
export interface EvidenceSource {
  gather(requests: readonly EvidenceRequest[]): Promise<Map<string, Evidence>>;
}

async function readOrUndefined(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    // ENOENT or ESRCH: the process exited between the listing and this read.
    return undefined;
  }
}

const NOT_READ: KataRecordLookup = { missing: "the agent does not read Kata's records (agent.kataRecords is false)" };

export class ProcEvidence implements EvidenceSource {
  private readonly procRoot: string;
  private readonly kata: KataRecordSource | undefined;

  /** kata: where Kata's records are read, for sandboxes that look like VMs; without it, none is. */
  constructor(procRoot: string, options: { kata?: KataRecordSource } = {}) {
    this.procRoot = procRoot;
    this.kata = options.kata;
  }

  async gather(requests: readonly EvidenceRequest[]): Promise<Map<string, Evidence>> {
    const result = new Map<string, Evidence>();
    if (requests.length === 0) return result;
    const byPod = await this.podProcesses(new Set(requests.map((r) => r.podUID)));
    await inBatches(requests, 16, async (r) => {
      const evidence = await this.evidenceFor(r, byPod.get(r.podUID) ?? []);
      result.set(r.sandboxId, r.container === undefined ? evidence : { ...evidence, container: r.container });
    });
    return result;
  }

  /**
   * The walk has read every process in the pod: the sandbox's process is
   * among them, or it is gone, or it is some other process now (its pid
   * reused), which only one more read tells apart.
   */
  private async evidenceFor(r: EvidenceRequest, podProcesses: ProcessFacts[]): Promise<Evidence> {
    if (r.pid === undefined || r.pid <= 0)
      return classifyIsolation({ sandboxPid: r.pid, sandbox: undefined, inPodCgroup: false, parent: undefined, podProcesses });
    const inPod = podProcesses.find((p) => p.pid === r.pid);
    const sandbox = inPod ?? (await this.process(r.pid));
    const parent = sandbox === undefined ? undefined : await this.process(sandbox.ppid);
    const input = { sandboxId: r.sandboxId, sandboxPid: r.pid, sandbox, inPodCgroup: inPod !== undefined, parent, podProcesses };
    if (sandbox === undefined || !looksLikeVm(sandbox, parent)) return classifyIsolation(input);
    // A VM's command line (its guest-cid) and Kata's record: read only for a sandbox that looks like one.
    const [cmdline, kataRecord] = await Promise.all([
      readOrUndefined(join(this.procRoot, String(sandbox.pid), 'cmdline')),
      this.kata === undefined ? NOT_READ : this.kata.lookup(r.sandboxId),
    ]);
    return classifyIsolation({ ...input, sandboxArgs: (cmdline ?? '').split('\0').filter((a) => a !== ''), kataRecord });
  }

  private async process(pid: number): Promise<ProcessFacts | undefined> {
    const dir = join(this.procRoot, String(pid));
    const [status, cmdline] = await Promise.all([readOrUndefined(join(dir, 'status')), readOrUndefined(join(dir, 'cmdline'))]);
    return status === undefined || cmdline === undefined ? undefined : parseProcess(pid, status, cmdline);
  }

  /** One walk of /proc: the host processes in each of these pods' cgroups. */
  private async podProcesses(uids: ReadonlySet<string>): Promise<Map<string, ProcessFacts[]>> {
    const byPod = new Map<string, ProcessFacts[]>();
    const pids = (await readdir(this.procRoot)).filter((e) => /^\d+$/.test(e));
    // Bounded: a busy host has thousands of processes, and each read opens a file.
    await inBatches(pids, 64, async (entry) => {
      const cgroup = await readOrUndefined(join(this.procRoot, entry, 'cgroup'));
      const uid = cgroup === undefined ? undefined : podOfCgroup(cgroup);
      if (uid === undefined || !uids.has(uid)) return;
      const facts = await this.process(Number(entry));
      if (facts === undefined) return;
      const list = byPod.get(uid);
      if (list === undefined) byPod.set(uid, [facts]);
      else list.push(facts);
    });
    for (const list of byPod.values()) list.sort((a, b) => a.pid - b.pid);
    return byPod;
  }
}
