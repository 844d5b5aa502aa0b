// Reads Kata Containers' record of a sandbox from the host (kata-record.ts
// says what it means). The chart mounts the host's /run/vc/sbs and /run/kata
// read-only under --kata-state-root; the agent runs as uid 0 without
// capabilities, which is enough for Kata's root-owned 0700 directories and
// 0600 files. Asked only for a sandbox whose process looks like a VM's, once,
// when it is new: a steady node reads nothing here.
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import type { KataRecordLookup } from './classify.ts';
import { parseGoRuntimeState, parseRuntimeRsState, type KataRuntime, type KataState } from './kata-record.ts';

/** Where each runtime keeps its sandboxes under the state root, and its state file's name. */
const LAYOUTS: readonly { runtime: KataRuntime; dir: string; file: string; parse: (json: string) => KataState | undefined }[] = [
  { runtime: 'go', dir: 'vc/sbs', file: 'persist.json', parse: parseGoRuntimeState },
  { runtime: 'rs', dir: 'kata', file: 'state.json', parse: parseRuntimeRsState },
];
const MANAGEMENT_SOCKET = 'shim-monitor.sock';
/** A sandbox id as runtimes make them; anything else never becomes a path. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const MAX_ANSWER_BYTES = 4096;

export interface KataRecordSource {
  lookup(sandboxId: string): Promise<KataRecordLookup>;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class KataHostRecords implements KataRecordSource {
  private readonly stateRoot: string;
  private readonly timeoutMs: number;

  constructor(stateRoot: string, options: { timeoutMs?: number } = {}) {
    this.stateRoot = stateRoot;
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  async lookup(sandboxId: string): Promise<KataRecordLookup> {
    if (!SAFE_ID.test(sandboxId)) return { missing: `sandbox id ${sandboxId.slice(0, 80)} is not one Kata names a directory after` };
    for (const layout of LAYOUTS) {
      const dir = join(this.stateRoot, layout.dir, sandboxId);
      let json: string;
      try {
        json = await readFile(join(dir, layout.file), 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        return { missing: `cannot read /run/${layout.dir}/${sandboxId}/${layout.file}: ${errorText(err)}` };
      }
      const state = layout.parse(json);
      if (state === undefined) return { missing: `/run/${layout.dir}/${sandboxId}/${layout.file} is not a Kata sandbox state` };
      return { runtime: layout.runtime, ...state, agentUrl: await this.agentUrl(join(dir, MANAGEMENT_SOCKET)) };
    }
    return { missing: 'no Kata record for this sandbox under /run/vc/sbs or /run/kata' };
  }

  /** GET /agent-url on the shim's management socket: the guest agent's address, or why there is none. */
  private agentUrl(socketPath: string): Promise<{ url: string } | { error: string }> {
    return new Promise((resolve) => {
      const req = request({ socketPath, path: '/agent-url', method: 'GET', timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            req.destroy(new Error(`answer longer than ${String(MAX_ANSWER_BYTES)} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8').trim();
          if (res.statusCode === 200 && body !== '') resolve({ url: body });
          else resolve({ error: `${MANAGEMENT_SOCKET} answered ${String(res.statusCode)}${body === '' ? '' : `: ${body.slice(0, 80)}`}` });
        });
        res.on('error', (err) => {
          resolve({ error: errorText(err) });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${String(this.timeoutMs)} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        resolve({ error: err.code === 'ENOENT' ? `no ${MANAGEMENT_SOCKET}` : errorText(err) });
      });
      req.end();
    });
  }
}
