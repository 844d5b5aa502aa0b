// Isolation evidence from the host's /proc, read from what the testbed's
// real hosts showed (test/fixtures/proc/<runtime>-<version>/<pod>/proc,
// written by hack/capture-cri.sh): a gVisor sandbox, runc under the name
// kata on containerd 2.x and CRI-O, a gvisor pod whose handler was
// dropped on the way, and gVisor under CRI-O (captured by hand from a pod
// sharing its process namespace: the README's testbed section says how).
// Then what goes wrong on a live host: a process that vanishes mid-read, a
// pid reused by another pod's process, no pid at all, a /proc that cannot
// be read.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { classifyIsolation, parseProcess, podOfCgroup, type ProcessFacts } from '../../../../agent/evidence/classify.ts';
import { ProcEvidence, type EvidenceSource } from '../../../../agent/evidence/proc.ts';
import { SandboxScanner } from '../../../../agent/scanner.ts';

const FIXTURES = new URL('../../../fixtures/proc/', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'rca-evidence-'));
after(() => {
  rmSync(work, { recursive: true, force: true });
});

interface Captured {
  root: string;
  podUID: string;
  pid: number;
}
function captured(runtime: string, pod: string): Captured {
  const dir = join(FIXTURES, runtime, pod);
  const { podUID, pid } = JSON.parse(readFileSync(join(dir, 'sandbox.json'), 'utf8')) as { podUID: string; pid: number };
  return { root: join(dir, 'proc'), podUID, pid };
}
/** A ready sandbox as ListPodSandbox gives it, of pod `uid`. */
function readySandbox(id: string, uid: string): object {
  return {
    id,
    metadata: { name: id, uid, namespace: 'ns', attempt: 0 },
    state: 'SANDBOX_READY',
    created_at: '1',
    labels: {},
    annotations: {},
    runtime_handler: '',
  };
}
/** A writable copy of a capture, to break. */
function copyOf(c: Captured): Captured {
  const root = mkdtempSync(join(work, 'proc-'));
  cpSync(c.root, root, { recursive: true });
  return { ...c, root };
}
/** The evidence for a captured sandbox, as if the runtime had given `pid` (by default, the pid it gave). */
async function evidenceOf(c: Captured, pid: { given: number | undefined } = { given: c.pid }): Promise<ReturnType<typeof classifyIsolation>> {
  const found = await new ProcEvidence(c.root).gather([{ sandboxId: 'sb', podUID: c.podUID, pid: pid.given }]);
  const evidence = found.get('sb');
  assert.ok(evidence);
  return evidence;
}

describe('isolation evidence from the captured /proc of real sandboxes', () => {
  test("gVisor on containerd 2.4.2: runsc's sandbox under containerd-shim-runsc-v1, and only runsc (sandbox, gofers, systrap's stubs) in the pod's cgroup", async () => {
    const evidence = await evidenceOf(captured('containerd-2.4.2', 'gvisor'));
    assert.equal(evidence.class, 'gvisor', JSON.stringify(evidence));
    assert.equal(evidence.process, 'runsc-sandbox');
    assert.equal(evidence.parent, 'containerd-shim-runsc-v1');
    assert.ok((evidence.hostProcesses ?? 0) >= 3, "the sandbox, its gofer and stubs: no host process runs the pod's binary");
    assert.equal(evidence.reason, undefined);
  });

  test('"kata" that is runc on containerd 2.4.2: the pause process under containerd-shim-runc-v2, on the host\'s kernel', async () => {
    // Two host processes: the sandbox's pause, and the pod's container (which runs pause too).
    assert.deepEqual(await evidenceOf(captured('containerd-2.4.2', 'kata')), {
      class: 'host-kernel',
      process: 'pause',
      parent: 'containerd-shim-runc-v2',
      hostProcesses: 2,
    });
  });

  test('"kata" that is runc on CRI-O 1.34.0, where the runtime type says only "oci": pause under conmon', async () => {
    const evidence = await evidenceOf(captured('cri-o-1.34.0', 'kata'));
    assert.deepEqual([evidence.class, evidence.process, evidence.parent], ['host-kernel', 'pause', 'conmon']);
  });

  test("gVisor on CRI-O 1.34.0 (a pod with an infra container: runsc needs one there): runsc's sandbox under conmon, CRI-O's monitor beside it in the pod's cgroup", async () => {
    const evidence = await evidenceOf(captured('cri-o-1.34.0', 'gvisor-infra'));
    assert.deepEqual([evidence.class, evidence.process, evidence.parent, evidence.reason], ['gvisor', 'runsc-sandbox', 'conmon', undefined]);
  });

  test('a gvisor pod whose handler was dropped (containerd 1.7.35, the kuscia node): runc after all', async () => {
    const evidence = await evidenceOf(captured('containerd-1.7.35', 'dropped-gvisor'));
    assert.deepEqual([evidence.class, evidence.process, evidence.parent], ['host-kernel', 'pause', 'containerd-shim-runc-v2']);
  });
});

describe('isolation evidence when the host does not cooperate', () => {
  test('the runtime gave no pid: unknown, and says so', async () => {
    const c = captured('containerd-2.4.2', 'kata');
    assert.deepEqual(await evidenceOf(c, { given: undefined }), {
      class: 'unknown',
      reason: "the runtime gave no pid for the sandbox (CRI-O gives none where it dropped the pod's infra container), nor for any running container of it",
    });
    assert.equal((await evidenceOf(c, { given: 0 })).class, 'unknown');
  });

  test('the process is gone (or vanished between reading its status and its cmdline): unknown', async () => {
    const c = captured('containerd-2.4.2', 'kata');
    assert.deepEqual(await evidenceOf(c, { given: 999_999_999 }), { class: 'unknown', reason: 'process 999999999 is gone' });
    const half = copyOf(c);
    rmSync(join(half.root, String(c.pid), 'cmdline'));
    assert.deepEqual(await evidenceOf(half), { class: 'unknown', reason: `process ${String(c.pid)} is gone` });
  });

  test("a reused pid (the process there now is in another pod's cgroup): unknown, never the other pod's evidence", async () => {
    const c = copyOf(captured('containerd-2.4.2', 'gvisor'));
    const other = captured('containerd-2.4.2', 'kata');
    writeFileSync(join(c.root, String(c.pid), 'cgroup'), readFileSync(join(other.root, String(other.pid), 'cgroup')));
    const evidence = await evidenceOf(c);
    assert.equal(evidence.class, 'unknown');
    assert.match(evidence.reason ?? '', /is not in the pod's cgroup \(its pid was reused/);
  });

  test('a /proc that cannot be read at all: the scanner reports every new sandbox unknown, with the reason', async () => {
    const sandbox = readySandbox('a', 'u-1');
    const scanner = new SandboxScanner(
      {
        listPodSandbox: () => Promise.resolve({ items: [sandbox] }),
        podSandboxStatus: () =>
          Promise.resolve({
            status: null,
            info: { info: JSON.stringify({ pid: 42, runtimeType: 'io.containerd.runc.v2' }) },
            containers_statuses: [],
            timestamp: '0',
          }),
      } as unknown as ConstructorParameters<typeof SandboxScanner>[0],
      { evidence: new ProcEvidence(join(work, 'no-such-proc')) },
    );
    const { evidence } = await scanner.scan();
    assert.equal(evidence.get('a')?.class, 'unknown');
    assert.match(evidence.get('a')?.reason ?? '', /^cannot read the host's \/proc: ENOENT/);
  });
});

describe('evidence is gathered once per new sandbox', () => {
  test('a steady node walks /proc no more: the scanner asks for evidence only for sandboxes it has not seen', async () => {
    const sandbox = (id: string): object => readySandbox(id, `uid-${id}`);
    let items = [sandbox('a'), sandbox('b')];
    const asked: string[][] = [];
    const scanner = new SandboxScanner(
      {
        listPodSandbox: () => Promise.resolve({ items }),
        podSandboxStatus: () => Promise.resolve({ status: null, info: { info: JSON.stringify({ pid: 42 }) }, containers_statuses: [], timestamp: '0' }),
      } as unknown as ConstructorParameters<typeof SandboxScanner>[0],
      {
        evidence: {
          gather: (requests) => {
            asked.push(requests.map((r) => r.sandboxId));
            return Promise.resolve(new Map(requests.map((r) => [r.sandboxId, { class: 'host-kernel' as const }])));
          },
        },
      },
    );
    await scanner.scan();
    await scanner.scan();
    items = [...items, sandbox('c')];
    const { evidence } = await scanner.scan();
    await scanner.scan();
    assert.deepEqual(asked, [['a', 'b'], ['c']], 'one gathering per scan with new sandboxes, none otherwise');
    assert.deepEqual([...evidence.keys()].sort(), ['a', 'b', 'c']);
  });
});

describe("a sandbox without a pid of its own (CRI-O's pods without an infra container): its first running container stands in", () => {
  const sandbox = readySandbox('sb', 'uid-p');
  const container = (id: string, state: string, createdAt: string): object => ({
    id,
    pod_sandbox_id: 'sb',
    metadata: { name: `name-${id}`, attempt: 0 },
    state,
    created_at: createdAt,
  });
  /** A runtime that gives the sandbox no pid, with these containers; counts its calls. */
  function crio(containers: () => object[]): { source: ConstructorParameters<typeof SandboxScanner>[0]; calls: string[] } {
    const calls: string[] = [];
    const source = {
      listPodSandbox: () => Promise.resolve({ items: [sandbox] }),
      podSandboxStatus: () => Promise.resolve({ status: null, info: { info: JSON.stringify({ runtimeSpec: {} }) } }),
      listContainers: () => {
        calls.push('ListContainers');
        return Promise.resolve({ containers: containers() });
      },
      containerStatus: (id: string) => {
        calls.push(`ContainerStatus ${id}`);
        return Promise.resolve({ info: { info: JSON.stringify({ sandboxID: 'sb', pid: id === 'c-old' ? 7143 : 7178 }) } });
      },
    } as unknown as ConstructorParameters<typeof SandboxScanner>[0];
    return { source, calls };
  }
  const asking = (asked: unknown[]): EvidenceSource => ({
    gather: (requests) => {
      asked.push(...requests);
      return Promise.resolve(new Map(requests.map((r) => [r.sandboxId, { class: 'host-kernel' as const }])));
    },
  });

  test("the pod's first running container (by creation) is judged, once: then a steady node makes no container call", async () => {
    const { source, calls } = crio(() => [
      container('c-odd', 'CONTAINER_RUNNING', 'not a time'),
      container('c-new', 'CONTAINER_RUNNING', '20'),
      container('c-old', 'CONTAINER_RUNNING', '10'),
      container('c-init', 'CONTAINER_EXITED', '5'),
    ]);
    const asked: unknown[] = [];
    const scanner = new SandboxScanner(source, { evidence: asking(asked) });
    const first = await scanner.scan();
    assert.deepEqual(asked, [{ sandboxId: 'sb', podUID: 'uid-p', pid: 7143, container: 'name-c-old' }]);
    assert.deepEqual(calls, ['ListContainers', 'ContainerStatus c-old']);
    assert.equal(first.rpcs, 4, 'ListPodSandbox, PodSandboxStatus, ListContainers, ContainerStatus');
    const steady = await scanner.scan();
    assert.equal(steady.rpcs, 1);
    assert.equal(calls.length, 2, 'no container call once the evidence is had');
  });

  test('no container running yet (an image pulling, a crash loop): asked again after 1 s, 2 s, 4 s ... at most a minute apart, until one runs', async () => {
    let running = false;
    const { source, calls } = crio(() => [container('c-old', running ? 'CONTAINER_RUNNING' : 'CONTAINER_CREATED', '10')]);
    let now = 0;
    const asked: unknown[] = [];
    const scanner = new SandboxScanner(source, { evidence: asking(asked), now: () => now });
    const lists = (): number => calls.filter((c) => c === 'ListContainers').length;
    const listedAt: number[] = [];
    for (now = 0; now <= 200_000; now += 500) {
      const before = lists();
      await scanner.scan();
      if (lists() > before) listedAt.push(now);
    }
    assert.deepEqual(listedAt, [0, 1000, 3000, 7000, 15_000, 31_000, 63_000, 123_000, 183_000]);
    assert.deepEqual(asked, [], 'nothing judged while no container runs');
    assert.equal((await scanner.scan()).evidence.has('sb'), false, 'no evidence yet: the audit says Unverified meanwhile');
    running = true;
    now = 243_000;
    await scanner.scan();
    assert.deepEqual(asked, [{ sandboxId: 'sb', podUID: 'uid-p', pid: 7143, container: 'name-c-old' }]);
  });

  test('a runtime client without the container calls: the sandbox is judged without a pid, unknown, and says why', async () => {
    const { source } = crio(() => []);
    const bare = { listPodSandbox: source.listPodSandbox.bind(source), podSandboxStatus: source.podSandboxStatus.bind(source) };
    const { evidence } = await new SandboxScanner(bare, { evidence: new ProcEvidence(captured('containerd-2.4.2', 'kata').root) }).scan();
    assert.match(evidence.get('sb')?.reason ?? '', /^the runtime gave no pid for the sandbox/);
  });
});

describe('classifying facts', () => {
  const proc = (pid: number, ppid: number, command: string, name = command.slice(0, 15)): ProcessFacts => ({ pid, ppid, name, command });
  const base = { sandboxPid: 10, inPodCgroup: true };

  test("a VMM in the pod (Kata's qemu, cloud-hypervisor, firecracker) is a VM", () => {
    for (const vmm of ['qemu-system-x86_64', 'cloud-hypervisor', 'firecracker']) {
      const evidence = classifyIsolation({
        ...base,
        sandbox: proc(10, 9, vmm),
        parent: proc(9, 1, 'containerd-shim-kata-v2'),
        podProcesses: [proc(10, 9, vmm)],
      });
      assert.equal(evidence.class, 'vm', vmm);
    }
  });

  test('Kata with its VMM built into the shim (runtime-rs, Dragonball): the shim is the sandbox process, and a VM; virtiofsd beside a VMM is its own', () => {
    const dragonball = classifyIsolation({
      ...base,
      sandbox: proc(10, 1, 'containerd-shim-kata-v2', 'containerd-shim'),
      parent: proc(1, 0, 'systemd'),
      podProcesses: [proc(10, 1, 'containerd-shim-kata-v2', 'containerd-shim')],
    });
    assert.equal(dragonball.class, 'vm');
    const qemu = classifyIsolation({
      ...base,
      sandbox: proc(10, 9, 'qemu-system-x86_64'),
      parent: proc(9, 1, 'containerd-shim-kata-v2'),
      podProcesses: [proc(9, 1, 'containerd-shim-kata-v2'), proc(10, 9, 'qemu-system-x86_64'), proc(11, 9, 'virtiofsd')],
    });
    assert.equal(qemu.class, 'vm');
  });

  test('a VMM-named process is no VM by its name: a runc pod running qemu (or a binary renamed firecracker) is on the host kernel', () => {
    // KubeVirt's virt-launcher and CI jobs that emulate another architecture run qemu in an ordinary pod.
    for (const vmm of ['qemu-system-x86_64', 'firecracker', 'cloud-hypervisor']) {
      const child = classifyIsolation({
        ...base,
        sandbox: proc(10, 9, 'pause'),
        parent: proc(9, 1, 'containerd-shim-runc-v2'),
        podProcesses: [proc(10, 9, 'pause'), proc(12, 9, vmm)],
      });
      assert.equal(child.class, 'host-kernel', `${vmm} in a runc pod`);
      const named = classifyIsolation({
        ...base,
        sandbox: proc(10, 9, vmm),
        parent: proc(9, 1, 'containerd-shim-runc-v2'),
        podProcesses: [proc(10, 9, vmm)],
      });
      assert.deepEqual([named.class, named.reason], ['host-kernel', `${vmm} runs under containerd-shim-runc-v2: a process on the host kernel, not a VM`]);
    }
    const orphan = classifyIsolation({
      ...base,
      sandbox: proc(10, 1, 'qemu-system-x86_64'),
      parent: proc(1, 0, 'systemd'),
      podProcesses: [proc(10, 1, 'qemu-system-x86_64')],
    });
    assert.deepEqual([orphan.class, orphan.reason], ['unknown', "a VMM-named sandbox process under systemd, not a VM runtime's shim"]);
  });

  test("a VM runtime's sandbox with another host process in the pod's cgroup is not called a VM", () => {
    const evidence = classifyIsolation({
      ...base,
      sandbox: proc(10, 9, 'qemu-system-x86_64'),
      parent: proc(9, 1, 'containerd-shim-kata-v2'),
      podProcesses: [proc(10, 9, 'qemu-system-x86_64'), proc(13, 1, 'nginx')],
    });
    assert.equal(evidence.class, 'unknown');
    assert.match(evidence.reason ?? '', /host processes other than the VMM, its shim and helpers .*: nginx/);
  });

  test('runsc with a host process running something else in its pod is not called gvisor', () => {
    const evidence = classifyIsolation({
      ...base,
      sandbox: proc(10, 9, 'runsc-sandbox'),
      parent: proc(9, 1, 'containerd-shim-runsc-v1'),
      podProcesses: [proc(10, 9, 'runsc-sandbox'), proc(11, 9, 'nginx')],
    });
    assert.equal(evidence.class, 'unknown');
    assert.match(evidence.reason ?? '', /host processes other than runsc .*: nginx/);
  });

  test("CRI-O's conmon beside runsc is its monitor; a pod's process named conmon (its parent in the pod) is not", () => {
    const monitor = proc(8, 1, 'conmon');
    const sandbox = proc(10, 8, 'runsc-sandbox');
    const asMonitor = classifyIsolation({ ...base, sandbox, parent: monitor, podProcesses: [monitor, sandbox, proc(11, 8, 'runsc-gofer')] });
    assert.equal(asMonitor.class, 'gvisor');
    const impostor = classifyIsolation({ ...base, sandbox, parent: monitor, podProcesses: [monitor, sandbox, proc(12, 8, 'conmon')] });
    assert.deepEqual([impostor.class, impostor.reason], ['unknown', "a runsc sandbox, but host processes other than runsc run in the pod's cgroup: conmon"]);
  });

  test("runsc's own children (systrap's stubs, whose command line may read empty) are runsc's, not host processes of the pod", () => {
    const evidence = classifyIsolation({
      ...base,
      sandbox: proc(10, 9, 'runsc-sandbox', 'exe'),
      parent: proc(9, 1, 'containerd-shim-runsc-v1'),
      podProcesses: [proc(10, 9, 'runsc-sandbox', 'exe'), proc(11, 9, 'runsc-gofer', 'exe'), proc(12, 10, '', 'exe')],
    });
    assert.deepEqual(evidence, { class: 'gvisor', process: 'runsc-sandbox', parent: 'containerd-shim-runsc-v1', hostProcesses: 3 });
  });

  test('a sandbox process under a parent we do not know is unknown, not host-kernel', () => {
    const evidence = classifyIsolation({
      ...base,
      sandbox: proc(10, 9, 'pause'),
      parent: proc(9, 1, 'containerd-shim-acme-v1'),
      podProcesses: [proc(10, 9, 'pause')],
    });
    assert.equal(evidence.class, 'unknown');
    assert.match(evidence.reason ?? '', /pause under containerd-shim-acme-v1 is not one this agent recognizes/);
  });

  test('parseProcess reads status and cmdline; a kernel thread has no command; a torn status is no process', () => {
    assert.deepEqual(parseProcess(7, 'Name:\texe\nPid:\t7\nPPid:\t3\n', '/usr/bin/runsc-sandbox\0--root=/x\0boot\0'), {
      pid: 7,
      ppid: 3,
      name: 'exe',
      command: 'runsc-sandbox',
    });
    assert.deepEqual(parseProcess(2, 'Name:\tkthreadd\nPPid:\t0\n', ''), { pid: 2, ppid: 0, name: 'kthreadd', command: '' });
    assert.equal(parseProcess(7, 'Name:\texe\n', ''), undefined);
  });

  test('podOfCgroup reads the pod uid from a cgroupfs or a systemd path, and none from a process outside any pod', () => {
    const uid = '5e4ac741-e4d1-4554-a5df-3d044d26e65d';
    assert.equal(podOfCgroup(`8:pids:/rcaudit/n/kubepods/besteffort/pod${uid}/abc\n`), uid);
    assert.equal(
      podOfCgroup(`0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid.replaceAll('-', '_')}.slice/cri-containerd-abc.scope\n`),
      uid,
    );
    assert.equal(podOfCgroup('8:pids:/\n4:memory:/process_api/ab0fc29e\n'), undefined);
  });

  test("podOfCgroup reads a static pod's uid: the kubelet names it after the manifest's hash, 32 hex digits without dashes", () => {
    const hash = '3f9a1c0e5b7d4e2f8a6c1b0d9e8f7a6b';
    assert.equal(podOfCgroup(`0::/kubepods/besteffort/pod${hash}/0123abcd\n`), hash);
    assert.equal(
      podOfCgroup(`0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${hash}.slice/cri-containerd-${'a'.repeat(64)}.scope\n`),
      hash,
    );
    assert.equal(podOfCgroup(`0::/system.slice/pod${hash}ff/x\n`), undefined, 'not a hash: longer');
  });
});
