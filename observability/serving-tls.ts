// The certificate /metrics is served with: the files of a mounted Secret
// (tls.crt and tls.key, as cert-manager writes them) when given, else one
// made at start. Both are looked at again every minute, as certificates
// rotate: a Secret's new files are taken once they parse and match, and
// the certificate made here is renewed a month before it ends.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from './logger.ts';
import { checkKeyPair, selfSignedCertificate } from './self-signed.ts';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsMaterial {
  cert: string;
  key: string;
}

const RENEW_BEFORE_MS = 30 * 86_400_000;

function readPair(files: TlsFiles): TlsMaterial {
  const read = (file: string, what: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`the ${what} file ${file} cannot be read: ${(err as Error).message}`, { cause: err });
    }
  };
  const material = { cert: read(files.certFile, 'certificate'), key: read(files.keyFile, 'key') };
  checkKeyPair(material.cert, material.key);
  return material;
}

/** What a ServingTls starts with. */
interface Initial {
  material: TlsMaterial;
  notAfter?: number;
  unusable?: string;
  failure?: string;
}

export class ServingTls {
  private current: TlsMaterial;
  private notAfter: number | undefined;
  private unusable: string | undefined;
  /** The last failure to read the given files, so each new one is logged once, not every minute. */
  private lastFailure: string | undefined;

  private readonly files: TlsFiles | undefined;
  private readonly log: Logger;
  private readonly now: () => number;

  private constructor(files: TlsFiles | undefined, log: Logger, now: () => number, initial: Initial) {
    this.files = files;
    this.log = log;
    this.now = now;
    this.current = initial.material;
    this.notAfter = initial.notAfter;
    this.unusable = initial.unusable;
    this.lastFailure = initial.failure;
  }

  /** The given files when they are usable; else a certificate made here, and the reason the given one is not served. */
  static async start(files: TlsFiles | undefined, log: Logger, now: () => number = Date.now): Promise<ServingTls> {
    if (files === undefined) return new ServingTls(files, log, now, await madeHere(log, undefined));
    try {
      const material = readPair(files);
      log.info({ cert: files.certFile }, 'serving /metrics with the given certificate');
      return new ServingTls(files, log, now, { material });
    } catch (err) {
      const failure = (err as Error).message;
      const unusable = `the serving certificate given (${files.certFile}, ${files.keyFile}) is unusable: ${failure}`;
      log.error({ reason: unusable }, 'serving /metrics with a self-signed certificate instead, and answering 503 until the given one is mended');
      return new ServingTls(files, log, now, { ...(await madeHere(log, unusable)), unusable, failure });
    }
  }

  get material(): TlsMaterial {
    return this.current;
  }

  /** Why the given certificate is not the one served (it did not parse at start); /metrics refuses to answer while this is set. */
  get problem(): string | undefined {
    return this.unusable;
  }

  /** Looks again: true when the material changed (the server must take it). */
  async refresh(): Promise<boolean> {
    if (this.files !== undefined) return this.rereadFiles(this.files);
    if (this.notAfter !== undefined && this.notAfter - this.now() < RENEW_BEFORE_MS) {
      const made = await madeHere(this.log, this.unusable);
      this.current = made.material;
      this.notAfter = made.notAfter;
      return true;
    }
    return false;
  }

  private rereadFiles(files: TlsFiles): boolean {
    let read: TlsMaterial;
    try {
      read = readPair(files);
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.lastFailure) this.log.error({ reason: message }, 'the serving certificate files are unusable: keeping the one served');
      this.lastFailure = message;
      return false;
    }
    this.lastFailure = undefined;
    if (read.cert === this.current.cert && read.key === this.current.key && this.unusable === undefined) return false;
    this.current = read;
    this.notAfter = undefined;
    this.unusable = undefined;
    this.log.info({ cert: files.certFile }, 'serving /metrics with the renewed certificate');
    return true;
  }
}

/** A certificate made here, for this host; said in the log unless a given one is unusable (that was said already). */
async function madeHere(log: Logger, unusable: string | undefined): Promise<{ material: TlsMaterial; notAfter: number }> {
  const made = await selfSignedCertificate([hostname(), 'localhost', '127.0.0.1']);
  if (unusable === undefined) log.info({ notAfter: made.notAfter.toISOString() }, 'serving /metrics with a self-signed certificate');
  return { material: { cert: made.cert, key: made.key }, notAfter: made.notAfter.getTime() };
}
