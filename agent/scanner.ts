// One scan of the node's sandboxes. In steady state it is a single
// ListPodSandbox RPC: a sandbox's handler and runtime type never change, so
// verbose PodSandboxStatus is asked once per new sandbox and cached by id,
// and so is the host's evidence of its isolation (one /proc walk for all of
// a scan's new sandboxes; none when there are none). A sandbox the runtime
// gives no pid (CRI-O runs no infra container for most pods) is judged by
// its first running container's process instead: one ListContainers for all
// such sandboxes and one verbose ContainerStatus each, once; while none of
// its containers runs yet, asked again with a growing delay.
import { inBatches } from './batches.ts';
import { isSandboxGone } from './cri/errors.ts';
import { parseContainerPid, parseSandboxDetail, type SandboxDetail } from './cri/sandbox-info.ts';
import type { Evidence } from './evidence/classify.ts';
import type { EvidenceRequest, EvidenceSource } from './evidence/proc.ts';
import type { Container, ContainerStatusResponse, ListContainersResponse, ListPodSandboxResponse, PodSandbox, PodSandboxStatusResponse } from './cri/types.ts';

/** The CRI calls a scan needs (CriRuntimeClient has them). */
export interface SandboxSource {
  listPodSandbox(): Promise<ListPodSandboxResponse>;
  podSandboxStatus(podSandboxId: string, verbose: boolean): Promise<PodSandboxStatusResponse>;
  /** For sandboxes without a pid of their own; without these, such a sandbox's evidence is unknown. */
  listContainers?(): Promise<ListContainersResponse>;
  containerStatus?(containerId: string, verbose: boolean): Promise<ContainerStatusResponse>;
}

/** The first delay before a pid-less sandbox's containers are looked at again, and the longest. */
const STAND_IN_RETRY_MS = { first: 1000, max: 60_000 };

/** A creation time in nanoseconds (a decimal string); one that is not counts as the latest. */
const createdAt = (c: Container): bigint => (/^\d{1,30}$/.test(c.created_at) ? BigInt(c.created_at) : 2n ** 128n);

/** The pod's first running container (by creation), whose process stands in for a sandbox that has none. */
function firstRunning(containers: readonly Container[], sandboxId: string): Container | undefined {
  let first: Container | undefined;
  for (const c of containers) {
    if (c.pod_sandbox_id !== sandboxId || c.state !== 'CONTAINER_RUNNING') continue;
    if (first === undefined || createdAt(c) < createdAt(first)) first = c;
  }
  return first;
}

export interface ScanResult {
  sandboxes: PodSandbox[];
  details: ReadonlyMap<string, SandboxDetail>;
  /** Isolation evidence by sandbox id; empty when evidence gathering is off. */
  evidence: ReadonlyMap<string, Evidence>;
  /** RPCs this scan made: 1 + one per sandbox not seen before (+ the container calls for pid-less new sandboxes). */
  rpcs: number;
  /** Verbose status calls that failed (not cached: asked again next scan). */
  statusErrors: number;
}

export class SandboxScanner {
  private readonly source: SandboxSource;
  private readonly concurrency: number;
  private readonly details = new Map<string, SandboxDetail>();
  private readonly evidenceSource: EvidenceSource | undefined;
  private readonly evidence = new Map<string, Evidence>();
  /** Pid-less sandboxes none of whose containers ran yet: when to look again, and the delay after that. */
  private readonly waiting = new Map<string, { next: number; delay: number }>();
  private readonly now: () => number;

  constructor(source: SandboxSource, options: { concurrency?: number; evidence?: EvidenceSource; now?: () => number } = {}) {
    this.source = source;
    this.concurrency = options.concurrency ?? 8;
    this.evidenceSource = options.evidence;
    this.now = options.now ?? Date.now;
  }

  async scan(): Promise<ScanResult> {
    const { items } = await this.source.listPodSandbox();
    const live = new Set(items.map((s) => s.id));
    for (const id of this.details.keys()) if (!live.has(id)) this.details.delete(id);
    for (const id of this.evidence.keys()) if (!live.has(id)) this.evidence.delete(id);
    for (const id of this.waiting.keys()) if (!live.has(id)) this.waiting.delete(id);
    const unseen = items.filter((s) => !this.details.has(s.id));
    let statusErrors = 0;
    await inBatches(unseen, this.concurrency, async (sandbox) => {
      if (!(await this.learn(sandbox.id))) statusErrors++;
    });
    const evidenceRpcs = await this.gatherEvidence(items);
    return { sandboxes: items, details: this.details, evidence: this.evidence, rpcs: 1 + unseen.length + evidenceRpcs, statusErrors };
  }

  /** Evidence for the ready sandboxes whose detail is known and whose evidence is not yet; the CRI calls it took. */
  private async gatherEvidence(items: readonly PodSandbox[]): Promise<number> {
    if (this.evidenceSource === undefined) return 0;
    const wanted = items.filter((s) => s.state === 'SANDBOX_READY' && this.details.has(s.id) && !this.evidence.has(s.id) && (s.metadata?.uid ?? '') !== '');
    if (wanted.length === 0) return 0;
    const request = (s: PodSandbox, pid: number | undefined): EvidenceRequest => ({ sandboxId: s.id, podUID: s.metadata?.uid ?? '', pid });
    const pidOf = (s: PodSandbox): number | undefined => this.details.get(s.id)?.pid;
    const requests = wanted.filter((s) => pidOf(s) !== undefined).map((s) => request(s, pidOf(s)));
    const standIns = await this.standIns(wanted.filter((s) => pidOf(s) === undefined));
    requests.push(...standIns.requests);
    if (requests.length === 0) return standIns.rpcs;
    try {
      for (const [id, evidence] of await this.evidenceSource.gather(requests)) this.evidence.set(id, evidence);
    } catch (err) {
      // /proc itself unreadable (not mounted, say): these sandboxes' evidence is unknown, and says why.
      const reason = `cannot read the host's /proc: ${err instanceof Error ? err.message : String(err)}`;
      for (const r of requests) this.evidence.set(r.sandboxId, { class: 'unknown', reason });
    }
    return standIns.rpcs;
  }

  /**
   * Evidence requests for sandboxes without a pid: each from its first
   * running container's process. A sandbox none of whose containers runs
   * yet (an image still pulling, a crash loop) is asked again later, after
   * a delay that doubles up to a minute: a steady node pays nothing, a
   * crash-looping pod one ListContainers a minute.
   */
  private async standIns(sandboxes: readonly PodSandbox[]): Promise<{ requests: EvidenceRequest[]; rpcs: number }> {
    const list = this.source.listContainers?.bind(this.source);
    const status = this.source.containerStatus?.bind(this.source);
    const now = this.now();
    const due = sandboxes.filter((s) => (this.waiting.get(s.id)?.next ?? 0) <= now);
    const requests: EvidenceRequest[] = [];
    if (due.length === 0) return { requests, rpcs: 0 };
    const podUID = (s: PodSandbox): string => s.metadata?.uid ?? '';
    if (list === undefined || status === undefined) {
      return { requests: due.map((s) => ({ sandboxId: s.id, podUID: podUID(s), pid: undefined })), rpcs: 0 };
    }
    let containers: Container[];
    try {
      ({ containers } = await list());
    } catch {
      for (const s of due) this.later(s.id, now);
      return { requests, rpcs: 1 };
    }
    let rpcs = 1;
    await inBatches(due, this.concurrency, async (s) => {
      const container = firstRunning(containers, s.id);
      let pid: number | undefined;
      if (container !== undefined) {
        rpcs++;
        pid = await status(container.id, true).then(
          ({ info }) => parseContainerPid(info),
          () => undefined,
        );
      }
      if (container === undefined || pid === undefined) {
        this.later(s.id, now);
        return;
      }
      this.waiting.delete(s.id);
      requests.push({ sandboxId: s.id, podUID: podUID(s), pid, container: container.metadata?.name ?? container.id });
    });
    return { requests, rpcs };
  }

  private later(sandboxId: string, now: number): void {
    const previous = this.waiting.get(sandboxId)?.delay;
    const delay = previous === undefined ? STAND_IN_RETRY_MS.first : Math.min(previous * 2, STAND_IN_RETRY_MS.max);
    this.waiting.set(sandboxId, { next: now + delay, delay });
  }

  /** How many sandboxes' details are cached (for tests and metrics). */
  get cached(): number {
    return this.details.size;
  }

  /** Caches the sandbox's detail; false when the runtime failed to say. */
  private async learn(id: string): Promise<boolean> {
    try {
      const { info } = await this.source.podSandboxStatus(id, true);
      this.details.set(id, parseSandboxDetail(info));
      return true;
    } catch (err) {
      // Removed between the list and the status call: it is gone from the
      // next list too. Any other error: not cached, asked again next scan;
      // the sandbox is still reported, with what the list said.
      return isSandboxGone(err);
    }
  }
}
