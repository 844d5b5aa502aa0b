// One scan of the node's sandboxes. In steady state it is a single
// ListPodSandbox RPC: a sandbox's handler and runtime type never change, so
// verbose PodSandboxStatus is asked once per new sandbox and cached by id,
// and so is the host's evidence of its isolation (one /proc walk for all of
// a scan's new sandboxes; none when there are none).
import { inBatches } from './batches.ts';
import { isSandboxGone } from './cri/errors.ts';
import { parseSandboxDetail, type SandboxDetail } from './cri/sandbox-info.ts';
import type { Evidence } from './evidence/classify.ts';
import type { EvidenceSource } from './evidence/proc.ts';
import type { ListPodSandboxResponse, PodSandbox, PodSandboxStatusResponse } from './cri/types.ts';

/** The CRI calls a scan needs (CriRuntimeClient has them). */
export interface SandboxSource {
  listPodSandbox(): Promise<ListPodSandboxResponse>;
  podSandboxStatus(podSandboxId: string, verbose: boolean): Promise<PodSandboxStatusResponse>;
}

export interface ScanResult {
  sandboxes: PodSandbox[];
  details: ReadonlyMap<string, SandboxDetail>;
  /** Isolation evidence by sandbox id; empty when evidence gathering is off. */
  evidence: ReadonlyMap<string, Evidence>;
  /** RPCs this scan made: 1 + one per sandbox not seen before. */
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

  constructor(source: SandboxSource, options: { concurrency?: number; evidence?: EvidenceSource } = {}) {
    this.source = source;
    this.concurrency = options.concurrency ?? 8;
    this.evidenceSource = options.evidence;
  }

  async scan(): Promise<ScanResult> {
    const { items } = await this.source.listPodSandbox();
    const live = new Set(items.map((s) => s.id));
    for (const id of this.details.keys()) if (!live.has(id)) this.details.delete(id);
    for (const id of this.evidence.keys()) if (!live.has(id)) this.evidence.delete(id);
    const unseen = items.filter((s) => !this.details.has(s.id));
    let statusErrors = 0;
    await inBatches(unseen, this.concurrency, async (sandbox) => {
      if (!(await this.learn(sandbox.id))) statusErrors++;
    });
    await this.gatherEvidence(items);
    return { sandboxes: items, details: this.details, evidence: this.evidence, rpcs: 1 + unseen.length, statusErrors };
  }

  /** Evidence for the ready sandboxes whose detail is known and whose evidence is not yet. */
  private async gatherEvidence(items: readonly PodSandbox[]): Promise<void> {
    if (this.evidenceSource === undefined) return;
    const wanted = items.filter((s) => s.state === 'SANDBOX_READY' && this.details.has(s.id) && !this.evidence.has(s.id) && (s.metadata?.uid ?? '') !== '');
    if (wanted.length === 0) return;
    const requests = wanted.map((s) => ({ sandboxId: s.id, podUID: s.metadata?.uid ?? '', pid: this.details.get(s.id)?.pid }));
    try {
      for (const [id, evidence] of await this.evidenceSource.gather(requests)) this.evidence.set(id, evidence);
    } catch (err) {
      // /proc itself unreadable (not mounted, say): these sandboxes' evidence is unknown, and says why.
      const reason = `cannot read the host's /proc: ${err instanceof Error ? err.message : String(err)}`;
      for (const r of requests) this.evidence.set(r.sandboxId, { class: 'unknown', reason });
    }
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
