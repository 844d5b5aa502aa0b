// A VM's evidence, confirmed (or not) by Kata's own record of the sandbox.
// Kata cannot run on the testbed's machines (docs/design.md, the testbed), so each case
// is a layout composed from Kata's sources and from what real Kata hosts
// show, cited in its fixture (test/fixtures/kata/<case>.json: "sources"):
// the /proc the agent reads, the state files under /run/vc/sbs or /run/kata,
// and what the sandbox's management socket answers. Each is laid out on disk
// and read by the agent's real readers, a real unix socket included.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Evidence } from '../../../../agent/evidence/classify.ts';
import { KataHostRecords, type KataRecordSource } from '../../../../agent/evidence/kata-host.ts';
import { parseGoRuntimeState, parseRuntimeRsState, recordAgreement } from '../../../../agent/evidence/kata-record.ts';
import { ProcEvidence } from '../../../../agent/evidence/proc.ts';

const FIXTURES = new URL('../../../fixtures/kata/', import.meta.url).pathname;

interface FixtureProcess {
  pid: number;
  ppid: number;
  name: string;
  cmdline?: string[];
  argv?: string[];
  cgroup: string;
}
interface Fixture {
  about: string;
  sources: string[];
  sandboxId: string;
  podUID: string;
  pid: number;
  processes: FixtureProcess[];
  parentOf?: FixtureProcess;
  files: Record<string, unknown>;
  agentUrl?: string | { hang: true };
  expect: Evidence & { reasonMatch?: string };
}

const work = mkdtempSync(join(tmpdir(), 'rca-kata-'));
const servers: Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  rmSync(work, { recursive: true, force: true });
});

function fixture(name: string): Fixture {
  return JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as Fixture;
}
/** A fixture's files without its socket. */
function withoutSocket(f: Fixture): Fixture {
  const copy = { ...f };
  delete copy.agentUrl;
  return copy;
}

/** The fixture's /proc: status, cmdline and cgroup of each process. */
function layProc(f: Fixture): string {
  const root = mkdtempSync(join(work, 'proc-'));
  for (const p of [...f.processes, ...(f.parentOf === undefined ? [] : [f.parentOf])]) {
    const dir = join(root, String(p.pid));
    mkdirSync(dir);
    writeFileSync(join(dir, 'status'), `Name:\t${p.name}\nState:\tS (sleeping)\nPid:\t${String(p.pid)}\nPPid:\t${String(p.ppid)}\n`);
    writeFileSync(join(dir, 'cmdline'), `${(p.cmdline ?? p.argv ?? []).join('\0')}\0`);
    writeFileSync(join(dir, 'cgroup'), p.cgroup);
  }
  return root;
}

/**
 * The fixture's /run: its state files, and a management socket that answers
 * /agent-url as the fixture says (or accepts and never answers). Under /tmp
 * with a short name: a unix socket's path has 107 bytes at most, and a
 * sandbox id takes 64 of them, as on a real host.
 */
async function layRun(f: Fixture): Promise<string> {
  const root = mkdtempSync('/tmp/k');
  const dirs = new Set<string>();
  for (const [path, content] of Object.entries(f.files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), JSON.stringify(content));
    dirs.add(dirname(join(root, path)));
  }
  const answer = f.agentUrl;
  if (answer !== undefined) {
    const [dir] = dirs;
    assert.ok(dir !== undefined, `${f.about}: a socket needs a state directory`);
    const server = createServer((req, res) => {
      if (typeof answer !== 'string') return; // accepts, never answers
      if (req.url === '/agent-url') res.end(answer);
      else res.writeHead(404).end();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(join(dir, 'shim-monitor.sock'), resolve));
  }
  after(() => {
    rmSync(root, { recursive: true, force: true });
  });
  return root;
}

/** Counts lookups: a runc pod's sandbox must not cost one. */
class Counted implements KataRecordSource {
  lookups = 0;
  private readonly inner: KataRecordSource;
  constructor(inner: KataRecordSource) {
    this.inner = inner;
  }
  lookup(id: string): ReturnType<KataRecordSource['lookup']> {
    this.lookups += 1;
    return this.inner.lookup(id);
  }
}

async function evidenceOf(f: Fixture): Promise<{ evidence: Evidence; lookups: number }> {
  const records = new Counted(new KataHostRecords(await layRun(f), { timeoutMs: 300 }));
  const found = await new ProcEvidence(layProc(f), { kata: records }).gather([{ sandboxId: f.sandboxId, podUID: f.podUID, pid: f.pid }]);
  const evidence = found.get(f.sandboxId);
  assert.ok(evidence);
  return { evidence, lookups: records.lookups };
}

function assertExpected(f: Fixture, evidence: Evidence): void {
  const { reasonMatch, ...expected } = f.expect;
  if (reasonMatch === undefined) {
    assert.deepEqual(evidence, expected, f.about);
    return;
  }
  const { reason, ...rest } = evidence;
  assert.deepEqual(rest, expected, f.about);
  assert.match(reason ?? '', new RegExp(reasonMatch), f.about);
}

const cases = readdirSync(FIXTURES)
  .filter((n) => n.endsWith('.json'))
  .map((n) => n.slice(0, -'.json'.length))
  .sort();

describe("Kata's record confirms a VM's structure, from layouts of real Kata hosts", () => {
  test('every fixture cites where its layout comes from', () => {
    assert.ok(cases.length >= 14, cases.join(', '));
    for (const name of cases) assert.ok(fixture(name).sources.length > 0, name);
  });

  for (const name of cases.filter((n) => !n.startsWith('false-'))) {
    test(`${name}: ${fixture(name).about}`, async () => {
      const f = fixture(name);
      const { evidence } = await evidenceOf(f);
      assertExpected(f, evidence);
    });
  }
});

describe('what a record cannot be made to say, and a record that cannot be had', () => {
  for (const name of cases.filter((n) => n.startsWith('false-'))) {
    test(`${name}: ${fixture(name).about}`, async () => {
      const f = fixture(name);
      const { evidence, lookups } = await evidenceOf(f);
      assertExpected(f, evidence);
      // A runc pod's sandbox is never looked up: its evidence cannot hinge on a file planted under its id.
      if (f.expect.class === 'host-kernel') assert.equal(lookups, 0, 'no record read for a sandbox that is not VM-shaped');
    });
  }

  test('a state file that is not Kata state (torn, or other JSON) is no record, and says which file', async () => {
    const f = fixture('go-qemu');
    f.files = { [`vc/sbs/${f.sandboxId}/persist.json`]: 'not json' };
    const root = await layRun(withoutSocket(f));
    writeFileSync(join(root, 'vc/sbs', f.sandboxId, 'persist.json'), '{"HypervisorState": {"Type": "qemu", "Pi');
    assert.deepEqual(await new KataHostRecords(root).lookup(f.sandboxId), {
      missing: `/run/vc/sbs/${f.sandboxId}/persist.json is not a Kata sandbox state`,
    });
  });

  test('a sandbox id that could walk out of the state directory is never made a path', async () => {
    const root = await layRun(withoutSocket(fixture('go-qemu')));
    for (const id of ['../../etc', '.', '', 'a/b']) {
      const lookup = await new KataHostRecords(root).lookup(id);
      assert.ok('missing' in lookup && /is not one Kata names a directory after/.test(lookup.missing), id);
    }
  });

  test('the parsers take only what they need, and refuse what is not Kata state', () => {
    assert.deepEqual(parseGoRuntimeState('{"HypervisorState":{"Type":"qemu","Pid":42}}'), { hypervisorType: 'qemu', pid: 42 });
    assert.deepEqual(parseGoRuntimeState('{"HypervisorState":{"Type":"","Pid":0}}'), {});
    assert.deepEqual(parseGoRuntimeState('{"HypervisorState":{"Type":7,"Pid":"42"}}'), {});
    assert.equal(parseGoRuntimeState('[]'), undefined);
    assert.equal(parseGoRuntimeState('{"hypervisor":{}}'), undefined);
    assert.deepEqual(parseRuntimeRsState('{"hypervisor":{"hypervisor_type":"dragonball","pid":null}}'), { hypervisorType: 'dragonball' });
    assert.equal(parseRuntimeRsState('{"HypervisorState":{}}'), undefined);
  });

  test('a record of a hypervisor that runs no local VM (remote, peer pods), or of another VMM than the process, contradicts it', () => {
    const vmm = { pid: 10, command: 'qemu-system-x86_64', args: ['qemu-system-x86_64', '-device', 'vhost-vsock-pci,guest-cid=3'] };
    const base = { runtime: 'go' as const, agentUrl: { url: 'vsock://3:1024' } };
    assert.deepEqual(recordAgreement({ ...base, hypervisorType: 'remote' }, 'sb', vmm), {
      outcome: 'contradicts',
      reason: "Kata's record (/run/vc/sbs) says hypervisor remote, which runs no VM on this host",
    });
    assert.equal(recordAgreement({ ...base, hypervisorType: 'firecracker' }, 'sb', vmm).outcome, 'contradicts');
    assert.equal(recordAgreement({ ...base, hypervisorType: 'qemu', pid: 10 }, 'sb', vmm).outcome, 'agrees');
    // An agent address that is neither vsock nor a hybrid vsock under this sandbox's path.
    assert.equal(recordAgreement({ ...base, agentUrl: { url: 'remote://10.0.0.1:1024' } }, 'sb', vmm).outcome, 'contradicts');
    assert.equal(recordAgreement({ ...base, agentUrl: { url: 'hvsock:///run/vc/vm/other/clh.sock:1024' } }, 'sb', vmm).outcome, 'contradicts');
  });
});
