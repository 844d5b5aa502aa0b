// Kata Containers' own record of a sandbox, and whether it agrees with what
// /proc shows (classify.ts asks, for a sandbox whose structure is a VM's).
// Pure: kata-host.ts reads the files and asks the socket. The layouts, from
// Kata's sources (kata-containers/kata-containers):
//   Go runtime: /run/vc/sbs/<sandbox id>/persist.json, a JSON SandboxState
//     (src/runtime/virtcontainers/persist/fs/fs.go, persist/api/sandbox.go):
//     HypervisorState.Type ("qemu", "clh", "firecracker", "dragonball",
//     "stratovirt", "remote"...; virtcontainers/hypervisor.go) and
//     HypervisorState.Pid (the VMM's; qemu.go Save()), and AgentState.URL.
//   runtime-rs: /run/kata/<sandbox id>/state.json (crates/persist/src/lib.rs),
//     a SandboxState whose hypervisor is { hypervisor_type, pid? } (the pid
//     is in older releases only; crates/hypervisor/src/hypervisor_persist.rs).
//   Both: a management socket beside the state, shim-monitor.sock, whose
//     GET /agent-url answers the guest agent's address
//     (src/runtime/pkg/containerd-shim-v2/shim_management.go): vsock://<cid>:<port>
//     for QEMU's vhost-vsock (the VMM's command line says guest-cid=<cid>),
//     hvsock://<path>:<port> for a hybrid vsock, a unix socket the VMM
//     serves under a path named after the sandbox (cloud-hypervisor:
//     /run/vc/vm/<id>/clh.sock; firecracker: /run/vc/firecracker/<id>/root/kata.hvsock;
//     Dragonball: under /run/kata/<id>/).
// The record is written by the runtime as root; it is evidence a workload
// cannot write, but a root user on the node can (docs/design.md, threat model).

/** Where the record was found: Kata's Go runtime or runtime-rs. */
export type KataRuntime = 'go' | 'rs';

export interface KataState {
  /** The hypervisor the runtime says it runs the sandbox in. */
  hypervisorType?: string;
  /** The VMM's pid, where the record keeps one. */
  pid?: number;
}

export interface KataRecord extends KataState {
  runtime: KataRuntime;
  /** The guest agent's address as the management socket answered it, or why it did not. */
  agentUrl: { url: string } | { error: string };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const positive = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined);

function state(hypervisorType: unknown, pid: unknown): KataState {
  const type = text(hypervisorType);
  const vmmPid = positive(pid);
  return { ...(type === undefined ? {} : { hypervisorType: type }), ...(vmmPid === undefined ? {} : { pid: vmmPid }) };
}

/** The object under `key` of a parsed JSON document, if it is one. */
function objectAt(json: string, key: string): Record<string, unknown> | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return undefined;
  }
  const inner = isObject(doc) ? doc[key] : undefined;
  return isObject(inner) ? inner : undefined;
}

/** The Go runtime's persist.json; undefined when it is not one (torn, or not JSON). */
export function parseGoRuntimeState(json: string): KataState | undefined {
  const hypervisor = objectAt(json, 'HypervisorState');
  return hypervisor === undefined ? undefined : state(hypervisor['Type'], hypervisor['Pid']);
}

/** runtime-rs's state.json; undefined when it is not one. */
export function parseRuntimeRsState(json: string): KataState | undefined {
  const hypervisor = objectAt(json, 'hypervisor');
  return hypervisor === undefined ? undefined : state(hypervisor['hypervisor_type'], hypervisor['pid']);
}

/** What /proc shows of the sandbox's process, for comparing with the record. */
export interface VmProcess {
  pid: number;
  /** Its command's base name (qemu-system-x86_64, cloud-hypervisor, containerd-shim-kata-v2). */
  command: string;
  /** Its whole command line. */
  args: readonly string[];
}

/**
 * agrees: the record describes this VM. contradicts: it describes another
 * (a stale directory, a reused pid), or no local VM. unconfirmed: the
 * record could not be had whole (its socket did not answer).
 */
export type Agreement = { outcome: 'agrees'; summary: string } | { outcome: 'contradicts' | 'unconfirmed'; reason: string };

/** Which sandbox process each hypervisor type is: a VMM binary, or (Dragonball) the shim that hosts it. */
const PROCESS_OF: Readonly<Record<string, RegExp>> = {
  qemu: /^(qemu-system-.+|qemu-kvm)$/,
  clh: /^cloud-hypervisor$/,
  firecracker: /^firecracker$/,
  stratovirt: /^stratovirt$/,
  dragonball: /^containerd-shim-kata(-[a-z0-9]+)?-v2$/,
};

/** guest-cid=<n> anywhere in a -device argument (QEMU's vhost-vsock-pci). */
function guestCids(args: readonly string[]): Set<string> {
  const cids = new Set<string>();
  for (const arg of args) for (const m of arg.matchAll(/(?:^|,)guest-cid=(\d+)/g)) if (m[1] !== undefined) cids.add(m[1]);
  return cids;
}

/** Whether the agent's address is this VM's: its vsock cid is on the VMM's command line, or its hybrid vsock lives under the sandbox's own path. */
function agentUrlAgrees(url: string, sandboxId: string, vmm: VmProcess): Agreement {
  const vsock = /^vsock:\/\/(\d+):\d+$/.exec(url);
  if (vsock?.[1] !== undefined) {
    const cids = guestCids(vmm.args);
    return cids.has(vsock[1])
      ? { outcome: 'agrees', summary: `agent at vsock cid ${vsock[1]}, the VMM's guest-cid` }
      : {
          outcome: 'contradicts',
          reason: `Kata's agent is at vsock cid ${vsock[1]}, but the VMM's command line has ${cids.size === 0 ? 'no guest-cid' : `guest-cid ${[...cids].join(', ')}`}`,
        };
  }
  const hvsock = /^hvsock:\/\/(\/[^:]+):\d+$/.exec(url) ?? /^hvsock:\/\/(\/[^:]+)$/.exec(url);
  if (hvsock?.[1] !== undefined) {
    return hvsock[1].split('/').includes(sandboxId)
      ? { outcome: 'agrees', summary: `agent at hybrid vsock ${hvsock[1]}` }
      : { outcome: 'contradicts', reason: `Kata's agent is at hybrid vsock ${hvsock[1]}, not under this sandbox's path` };
  }
  return { outcome: 'contradicts', reason: `Kata's agent address ${url.slice(0, 80)} is not a local VM's (vsock or hybrid vsock)` };
}

/** Why the record's hypervisor type is not this process, or undefined when it is (or the record names none). */
function hypervisorFits(type: string | undefined, command: string): string | undefined {
  if (type === undefined) return undefined;
  const fits = PROCESS_OF[type];
  if (fits === undefined) return `says hypervisor ${type.slice(0, 32)}, which runs no VM on this host`;
  return fits.test(command) ? undefined : `says hypervisor ${type}, but the sandbox process is ${command}`;
}

/**
 * Whether Kata's record of `sandboxId` describes the VM /proc shows: the
 * hypervisor type fits the process, the pid (where kept) is the process's,
 * and the agent the management socket names is this VM's. A record that
 * disagrees is not this sandbox's (a stale directory, a reused pid), and
 * says so.
 */
export function recordAgreement(record: KataRecord, sandboxId: string, vmm: VmProcess): Agreement {
  const where = record.runtime === 'go' ? '/run/vc/sbs' : '/run/kata';
  const type = record.hypervisorType;
  const typeFits = hypervisorFits(type, vmm.command);
  if (typeFits !== undefined) return { outcome: 'contradicts', reason: `Kata's record (${where}) ${typeFits}` };
  if (record.pid !== undefined && record.pid !== vmm.pid) {
    return {
      outcome: 'contradicts',
      reason: `Kata's record (${where}) names pid ${String(record.pid)}, not the sandbox process ${String(vmm.pid)}: a stale record`,
    };
  }
  if ('error' in record.agentUrl) return { outcome: 'unconfirmed', reason: `Kata's management socket did not answer: ${record.agentUrl.error.slice(0, 120)}` };
  const agent = agentUrlAgrees(record.agentUrl.url, sandboxId, vmm);
  if (agent.outcome !== 'agrees') return agent;
  const pid = record.pid === undefined ? '' : ` pid ${String(record.pid)}`;
  return { outcome: 'agrees', summary: `kata ${record.runtime === 'go' ? 'runtime' : 'runtime-rs'}: ${type ?? 'hypervisor'}${pid}, ${agent.summary}` };
}
