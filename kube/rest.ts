// Both processes' one HTTP path to the API server, on Node's own http and
// https modules: raw JSON requests, so that list pages are trimmed before the
// next one is fetched (no typed model objects for 150,000 pods), and
// watches as streams of JSON lines. Every request has a deadline and is
// counted in one place; errors become KubeApiErrors in kube/errors.ts.
// Written here, not taken from a client library: client-node adds about
// 53 MiB to the agent on every node (85 MiB to a bare process), and its
// typed models would hold 150,000 pods whole (hack/measure-dependencies.ts).
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ApiConnection } from './connection.ts';
import { fromHttpStatus, toKubeApiError } from './errors.ts';

export type Verb = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Verbs as counted: a watch is a GET that stays open. */
export type CountedVerb = Verb | 'WATCH';

export const MERGE_PATCH = 'application/merge-patch+json';
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';

type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  /** Names the request in errors and metrics, e.g. "patch NodeSandboxReport n1 status". */
  what: string;
}

/** Called once per finished request: for the API request counter. */
export type RequestObserver = (verb: CountedVerb, resource: string, code: number) => void;

/** What a reconciler needs of the API server: one request at a time. A unit test hands it a recording fake. */
export interface KubeRequester {
  request: <T>(verb: Verb, path: string, options: RequestOptions) => Promise<T>;
}

/** One event of a watch: ADDED, MODIFIED, DELETED, BOOKMARK or ERROR, and its object. */
export type WatchHandler = (type: string, object: Record<string, unknown>) => void;

/** The resource part of an API path, for metrics: /api/v1/namespaces/x/pods/y/status -> pods/status. */
export function resourceOf(path: string): string {
  const parts =
    path
      .split('?')[0]
      ?.split('/')
      .filter((p) => p !== '') ?? [];
  const start = parts[0] === 'api' ? 2 : 3;
  const rest = parts.slice(start);
  if (rest[0] === 'namespaces' && rest.length > 2) rest.splice(0, 2);
  const [resource, , sub] = rest;
  return sub === undefined ? (resource ?? 'unknown') : `${resource ?? 'unknown'}/${sub}`;
}

function withQuery(server: string, path: string, query: Query = {}): URL {
  const url = new URL(server + path);
  for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
  return url;
}

async function readText(response: IncomingMessage): Promise<string> {
  response.setEncoding('utf8');
  let text = '';
  for await (const chunk of response) text += chunk as string;
  return text;
}

/** Splits a stream of newline-separated JSON objects, calling `line` for each. */
async function readLines(response: IncomingMessage, line: (text: string) => void): Promise<void> {
  response.setEncoding('utf8');
  let pending = '';
  for await (const chunk of response) {
    pending += chunk as string;
    // Each line is cut out once; what follows the last newline waits for the next chunk.
    let start = 0;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n', start)) {
      const text = pending.slice(start, nl).trim();
      start = nl + 1;
      if (text !== '') line(text);
    }
    pending = pending.slice(start);
  }
}

export class KubeRest implements KubeRequester {
  private readonly connection: ApiConnection;
  private readonly timeoutMs: number;
  private readonly observe: RequestObserver;

  constructor(connection: ApiConnection, options: { timeoutMs?: number; observe?: RequestObserver } = {}) {
    this.connection = connection;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.observe = options.observe ?? (() => undefined);
  }

  /** Sends one request; the parsed JSON answer, or a KubeApiError. */
  async request<T>(verb: Verb, path: string, options: RequestOptions): Promise<T> {
    let code = 0;
    try {
      const signal = AbortSignal.timeout(this.timeoutMs);
      const response = await this.send(verb, withQuery(this.connection.server, path, options.query), { ...options, signal });
      code = response.statusCode ?? 0;
      const text = await readText(response);
      if (code < 200 || code > 299) throw this.refusal(code, text, options.what);
      return (text === '' ? undefined : JSON.parse(text)) as T;
    } catch (err) {
      throw toKubeApiError(err, options.what);
    } finally {
      this.observe(verb, resourceOf(path), code);
    }
  }

  /**
   * Starts a watch of `path` (a collection) with `query` (resourceVersion,
   * timeoutSeconds, ...). Resolves, once the server has accepted it, with
   * the controller that ends it; then `event` gets each event and `done`
   * is called once: with null when the server closed it, else the error.
   * A watch the server refuses rejects (a KubeApiError; 410 is Gone).
   */
  async watch(path: string, query: Query, event: WatchHandler, done: (err: unknown) => void): Promise<AbortController> {
    const what = `watch ${resourceOf(path)}`;
    const controller = new AbortController();
    let code = 0;
    try {
      const response = await this.send('GET', withQuery(this.connection.server, path, { ...query, watch: true }), { what, signal: controller.signal });
      code = response.statusCode ?? 0;
      if (code !== 200) throw this.refusal(code, await readText(response), what);
      readLines(response, (text) => {
        const parsed = JSON.parse(text) as { type: string; object: Record<string, unknown> };
        event(parsed.type, parsed.object);
      }).then(
        () => {
          done(null);
        },
        (err: unknown) => {
          done(controller.signal.aborted ? null : toKubeApiError(err, what));
        },
      );
      return controller;
    } catch (err) {
      throw toKubeApiError(err, what);
    } finally {
      this.observe('WATCH', resourceOf(path), code);
    }
  }

  private refusal(code: number, body: string, what: string): Error {
    // A rotated service-account token: read it again for the next request.
    if (code === 401) this.connection.refused();
    return fromHttpStatus(code, body, what);
  }

  private async send(verb: Verb, url: URL, options: Omit<RequestOptions, 'query'> & { signal: AbortSignal }): Promise<IncomingMessage> {
    const target = await this.connection.target(url);
    const headers: Record<string, string> = { ...target.headers, accept: 'application/json' };
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    if (body !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json';
      // Node frames a body it is not told the length of as chunks, but not on
      // a DELETE: there it sends the bytes unframed, the API server ignores
      // them (a DeleteOptions' grace period or preconditions with them) and
      // reads them as the next request on the connection, which then gets a
      // 400 in place of its own answer.
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { method: verb, headers, agent: target.agent, signal: options.signal }, resolve);
      req.on('error', reject);
      req.end(body);
    });
  }
}
