// What the host shows a sandbox really is, judged from facts read out of
// /proc (proc.ts reads them): the process the runtime names as the
// sandbox's, its parent, and the host processes in the pod's cgroup. Pure:
// the same facts give the same evidence. Nothing here enters a container,
// and nothing needs a capability: cmdline, status and cgroup of any process
// are readable without one.
//   runc and the like: the sandbox process (pause) is a host process under a
//     runc-style shim (containerd-shim-runc-v2, or conmon under CRI-O).
//   gVisor: the sandbox process is runsc's sandbox (`runsc-sandbox ... boot`),
//     the pod's own kernel; no host process runs the pod's binaries (runsc's
//     own run there, and under CRI-O its container monitor, conmon).
//   Kata and other VMs: the sandbox process is the VMM (qemu,
//     cloud-hypervisor, firecracker) under a VM runtime's shim
//     (containerd-shim-kata-v2, which CRI-O runs too), or that shim itself
//     where the VMM is built into it (runtime-rs with Dragonball); and the
//     pod's cgroup holds nothing on the host but the VMM, the shim and
//     their helpers (virtiofsd, nydusd), the rule gVisor's class has. A
//     VMM-named process anywhere else means nothing: any pod can run qemu
//     (KubeVirt's virt-launcher, an emulating CI job) or rename a binary
//     firecracker, and under a runc-style shim it runs on the host kernel.
//     Where the host has Kata's own record of the sandbox (kata-record.ts),
//     it must agree: the VM is then confirmed by the runtime's record, not
//     only by its structure. Kata with sandbox_cgroup_only=false keeps its
//     VMM outside the pod's cgroup, where /proc alone cannot tell it from a
//     reused pid: that is a VM only when the record confirms it.
// Anything else is "unknown", with the reason: evidence is never guessed.
import type { IsolationClass } from '../../api/v1alpha1/node-sandbox-report.ts';
import { recordAgreement, type KataRecord } from './kata-record.ts';

/** One host process, as /proc shows it. */
export interface ProcessFacts {
  pid: number;
  ppid: number;
  /** The kernel's name for it (status: Name, at most 15 characters). */
  name: string;
  /** The base name of its first command-line word ("runsc-sandbox", "pause"); "" for a kernel thread. */
  command: string;
}

export interface Evidence {
  class: IsolationClass;
  /** The sandbox process's command (or name), e.g. pause, runsc-sandbox, qemu-system-x86_64. */
  process?: string;
  /** Its parent's, e.g. containerd-shim-runc-v2, containerd-shim-runsc-v1, conmon. */
  parent?: string;
  /** Host processes in the pod's cgroup. */
  hostProcesses?: number;
  /** Why the class is unknown, or what stands out. */
  reason?: string;
  /** For a VM: whether only its process structure showed it, or the VM runtime's own record agreed. */
  confirmation?: 'structure' | 'runtime-record';
  /** What the runtime's record said, when it agreed. */
  record?: string;
  /** Where the runtime gave the sandbox no pid (CRI-O without an infra container): the container whose process was judged instead. */
  container?: string;
}

/** Kata's record of the sandbox, or why there is none to compare. */
export type KataRecordLookup = KataRecord | { missing: string };

export interface EvidenceInput {
  /** The CRI sandbox id (Kata names its record after it). */
  sandboxId?: string;
  /** The pid the runtime gave for the sandbox (verbose PodSandboxStatus "pid"); 0 or absent when it gave none. */
  sandboxPid: number | undefined;
  /** The sandbox process, when it is still there and in the pod's cgroup (otherwise the pid was reused). */
  sandbox: ProcessFacts | undefined;
  /** Whether the process at sandboxPid is in the pod's cgroup. */
  inPodCgroup: boolean;
  parent: ProcessFacts | undefined;
  /** Every host process in the pod's cgroup. */
  podProcesses: readonly ProcessFacts[];
  /** The sandbox process's whole command line, read when it looks like a VM's. */
  sandboxArgs?: readonly string[];
  /** Kata's record, looked up when the sandbox looks like a VM's; absent when not looked up. */
  kataRecord?: KataRecordLookup;
}

const RUNC_STYLE_SHIMS = new Set(['containerd-shim-runc-v2', 'containerd-shim-runc-v1', 'containerd-shim', 'conmon']);
const VMM = /^(qemu-system-.+|qemu-kvm|cloud-hypervisor|firecracker|stratovirt)$/;
/** A VM runtime's shim: Kata's, Go runtime and runtime-rs alike (CRI-O runs the same shim v2 binary). */
const VM_SHIM = /^containerd-shim-kata(-[a-z0-9]+)?-v2$/;
/** What a VM sandbox may run on the host beside its VMM and shim: the shared-filesystem daemons. */
const VM_HELPERS = /^(virtiofsd|nydusd)$/;
const isGvisor = (p: ProcessFacts): boolean => p.command.startsWith('runsc');
const isVmm = (p: ProcessFacts): boolean => VMM.test(p.command) || VMM.test(p.name);
const label = (p: ProcessFacts): string => p.command || p.name;
const isVmShim = (p: ProcessFacts): boolean => VM_SHIM.test(label(p));
const isVmHost = (p: ProcessFacts): boolean => isVmm(p) || isVmShim(p) || VM_HELPERS.test(label(p));
/** A VM runtime's structure: the sandbox process is a VMM its shim started, or the shim itself. */
const isVmShaped = (sandbox: ProcessFacts, parent: ProcessFacts | undefined): boolean =>
  isVmShim(sandbox) || (isVmm(sandbox) && parent !== undefined && isVmShim(parent));
/** Whether the facts are worth Kata's record: a VM's structure, never a name alone (a runc pod's planted file is never read). */
export const looksLikeVm = isVmShaped;

/** Why there is no process to judge, or undefined when there is one. */
function missingProcess(input: EvidenceInput): Evidence | undefined {
  const { sandboxPid, sandbox } = input;
  if (sandboxPid === undefined || sandboxPid <= 0)
    return {
      class: 'unknown',
      reason: "the runtime gave no pid for the sandbox (CRI-O gives none where it dropped the pod's infra container), nor for any running container of it",
    };
  if (sandbox === undefined) return { class: 'unknown', reason: `process ${String(sandboxPid)} is gone` };
  if (!input.inPodCgroup) {
    if (isVmShaped(sandbox, input.parent) && input.podProcesses.every(isVmHost)) return vmOutsidePod(input, sandbox);
    return {
      class: 'unknown',
      process: label(sandbox),
      reason: `process ${String(sandboxPid)} is not in the pod's cgroup (its pid was reused, or the runtime keeps it elsewhere)`,
    };
  }
  return undefined;
}

export function classifyIsolation(input: EvidenceInput): Evidence {
  const missing = missingProcess(input);
  if (missing !== undefined || input.sandbox === undefined) return missing ?? { class: 'unknown' };
  const evidence = judge(input.sandbox, input.parent, input.podProcesses);
  return evidence.class === 'vm' ? confirmed(evidence, input, input.sandbox) : evidence;
}

/** Kata's record, compared with the process /proc shows; its outcome, or why there was none. */
function recordOutcome(input: EvidenceInput, sandbox: ProcessFacts): ReturnType<typeof recordAgreement> | { outcome: 'missing'; reason: string } {
  const lookup = input.kataRecord;
  if (lookup === undefined) return { outcome: 'missing', reason: "Kata's records were not read" };
  if ('missing' in lookup) return { outcome: 'missing', reason: lookup.missing };
  return recordAgreement(lookup, input.sandboxId ?? '', { pid: sandbox.pid, command: label(sandbox), args: input.sandboxArgs ?? [] });
}

/** A VM by its structure, confirmed by Kata's record where the host has one; contradicted by it, not a VM at all. */
function confirmed(structure: Evidence, input: EvidenceInput, sandbox: ProcessFacts): Evidence {
  const outcome = recordOutcome(input, sandbox);
  switch (outcome.outcome) {
    case 'agrees':
      return { ...structure, confirmation: 'runtime-record', record: outcome.summary };
    case 'contradicts':
      return { ...structure, class: 'unknown', reason: outcome.reason };
    case 'unconfirmed':
    case 'missing':
      return { ...structure, confirmation: 'structure', reason: `not confirmed by the VM runtime's record: ${outcome.reason}` };
  }
}

/**
 * A VMM under a VM shim, outside the pod's cgroup, and nothing but the VM's
 * own processes in it: Kata with sandbox_cgroup_only=false, which moves the
 * VMM to an overhead cgroup and leaves only its vCPU threads in the pod's.
 * /proc cannot tell that from a pid reused by another VM, so only Kata's
 * record of this very sandbox makes it evidence.
 */
function vmOutsidePod(input: EvidenceInput, sandbox: ProcessFacts): Evidence {
  const facts = { process: label(sandbox), ...(input.parent === undefined ? {} : { parent: label(input.parent) }), hostProcesses: input.podProcesses.length };
  const outcome = recordOutcome(input, sandbox);
  const outside = "the VMM runs outside the pod's cgroup (Kata with sandbox_cgroup_only=false)";
  if (outcome.outcome === 'agrees') return { class: 'vm', ...facts, confirmation: 'runtime-record', record: outcome.summary, reason: outside };
  return { class: 'unknown', ...facts, reason: `${outside}, which only Kata's record can confirm: ${outcome.reason}` };
}

function judge(sandbox: ProcessFacts, parent: ProcessFacts | undefined, podProcesses: readonly ProcessFacts[]): Evidence {
  const facts = { process: label(sandbox), ...(parent === undefined ? {} : { parent: label(parent) }), hostProcesses: podProcesses.length };
  if (isVmm(sandbox) || isVmShim(sandbox)) return judgeVm(sandbox, parent, podProcesses, facts);
  if (isGvisor(sandbox)) {
    const runsc = runscFamily(podProcesses);
    const monitors = runtimeMonitors(podProcesses);
    const others = podProcesses.filter((p) => !runsc.has(p.pid) && !monitors.has(p.pid));
    return others.length === 0
      ? { class: 'gvisor', ...facts }
      : {
          class: 'unknown',
          ...facts,
          reason: `a runsc sandbox, but host processes other than runsc run in the pod's cgroup: ${others.map(label).slice(0, 3).join(', ')}`,
        };
  }
  if (parent !== undefined && RUNC_STYLE_SHIMS.has(label(parent))) return { class: 'host-kernel', ...facts };
  return {
    class: 'unknown',
    ...facts,
    reason: `sandbox process ${label(sandbox)} under ${parent === undefined ? 'no parent' : label(parent)} is not one this agent recognizes`,
  };
}

/**
 * A sandbox process that is a VMM, or a VM runtime's shim: a VM when a VM
 * shim started the VMM (or is it), and nothing but the VM's own host
 * processes run in the pod's cgroup. A VMM under a runc-style shim is a
 * pod's process on the host kernel.
 */
function judgeVm(sandbox: ProcessFacts, parent: ProcessFacts | undefined, podProcesses: readonly ProcessFacts[], facts: Omit<Evidence, 'class'>): Evidence {
  if (!isVmShaped(sandbox, parent)) {
    const under = parent === undefined ? 'no parent' : label(parent);
    if (parent !== undefined && RUNC_STYLE_SHIMS.has(under))
      return { class: 'host-kernel', ...facts, reason: `${label(sandbox)} runs under ${under}: a process on the host kernel, not a VM` };
    return { class: 'unknown', ...facts, reason: `a VMM-named sandbox process under ${under}, not a VM runtime's shim` };
  }
  const others = podProcesses.filter((p) => !isVmHost(p));
  if (others.length === 0) return { class: 'vm', ...facts };
  return {
    class: 'unknown',
    ...facts,
    reason: `a VM runtime's sandbox, but host processes other than the VMM, its shim and helpers run in the pod's cgroup: ${others.map(label).slice(0, 3).join(', ')}`,
  };
}

/**
 * CRI-O's container monitors: conmon, which CRI-O starts (and which
 * daemonizes) in the pod's cgroup to hold a container's pipes; the pod's
 * code never runs as it. One whose parent is in the pod is no monitor but a
 * pod's process named conmon.
 */
function runtimeMonitors(processes: readonly ProcessFacts[]): Set<number> {
  const inPod = new Set(processes.map((p) => p.pid));
  return new Set(processes.filter((p) => label(p) === 'conmon' && !inPod.has(p.ppid)).map((p) => p.pid));
}

/**
 * runsc's own processes: its sandbox and gofers, and every process they
 * fork (systrap's stub processes and theirs, whose command lines read empty).
 */
function runscFamily(processes: readonly ProcessFacts[]): Set<number> {
  const family = new Set(processes.filter(isGvisor).map((p) => p.pid));
  for (let grew = true; grew;) {
    grew = false;
    for (const p of processes) {
      if (!family.has(p.pid) && family.has(p.ppid)) {
        family.add(p.pid);
        grew = true;
      }
    }
  }
  return family;
}

/**
 * "pod<uid>": a dashed uid (underscored under systemd), or a static pod's,
 * which the kubelet makes from its manifest's hash (32 hex digits, no
 * dashes) and gives the runtime as the sandbox's uid too.
 */
const POD_IN_CGROUP = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32}(?![0-9a-f]))/;

/** The uid of the pod a /proc/<pid>/cgroup text places the process in (cgroupfs "pod<uid>", systemd "pod<uid_with_underscores>"; a static pod's hash), if any. */
export function podOfCgroup(cgroup: string): string | undefined {
  return POD_IN_CGROUP.exec(cgroup)?.[1]?.replaceAll('_', '-');
}

/** status: Name and PPid, and cmdline's first word, as ProcessFacts. */
export function parseProcess(pid: number, status: string, cmdline: string): ProcessFacts | undefined {
  const name = /^Name:\s*(.*)$/m.exec(status)?.[1];
  const ppid = /^PPid:\s*(\d+)$/m.exec(status)?.[1];
  if (name === undefined || ppid === undefined) return undefined;
  const argv0 = cmdline.split('\0')[0] ?? '';
  return { pid, ppid: Number(ppid), name, command: argv0.slice(argv0.lastIndexOf('/') + 1) };
}
