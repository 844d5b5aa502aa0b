// The operator's one HTTP path to the API server. client-node supplies the
// authentication (kubeconfig, in-cluster token, client certificates) and the
// watch; this adds raw JSON requests so that list pages are trimmed before
// the next one is fetched (no typed model objects for 150,000 pods), every
// request has a deadline, and every request is counted in one place.
import { HttpMethod, RequestContext, Watch, type KubeConfig } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { fromHttpStatus, toKubeApiError } from './errors.ts';

export type Verb = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Verbs as counted: a watch is a GET that stays open. */
export type CountedVerb = Verb | 'WATCH';

export const MERGE_PATCH = 'application/merge-patch+json';
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** Names the request in errors and metrics, e.g. "patch NodeSandboxReport n1 status". */
  what: string;
}

/** Called once per finished request: for the API request counter. */
export type RequestObserver = (verb: CountedVerb, resource: string, code: number) => void;

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

/** What a reconciler needs of the API server: one request at a time. A unit test hands it a recording fake. */
export interface KubeRequester {
  request: <T>(verb: Verb, path: string, options: RequestOptions) => Promise<T>;
}

export class KubeRest implements KubeRequester {
  private readonly config: KubeConfig;
  private readonly server: string;
  private readonly timeoutMs: number;
  private readonly observe: RequestObserver;

  constructor(config: KubeConfig, options: { timeoutMs?: number; observe?: RequestObserver } = {}) {
    const cluster = config.getCurrentCluster();
    if (cluster === null) throw new Error('the kubeconfig names no current cluster');
    this.config = config;
    this.server = cluster.server.replace(/\/$/, '');
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.observe = options.observe ?? (() => undefined);
  }

  /** A client-node Watch on the same configuration; `path` is counted as one WATCH request. */
  watch(path: string): Watch {
    this.observe('WATCH', resourceOf(path), 0);
    return new Watch(this.config);
  }

  /** Sends one request; the parsed JSON answer, or a KubeApiError. */
  async request<T>(verb: Verb, path: string, options: RequestOptions): Promise<T> {
    const url = new URL(this.server + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    let code = 0;
    try {
      const response = await this.send(verb, url, options);
      code = response.status;
      const text = await response.text();
      if (!response.ok) throw fromHttpStatus(code, text, options.what);
      return (text === '' ? undefined : JSON.parse(text)) as T;
    } catch (err) {
      throw toKubeApiError(err, options.what);
    } finally {
      this.observe(verb, resourceOf(path), code);
    }
  }

  private async send(verb: Verb, url: URL, options: RequestOptions): ReturnType<typeof fetch> {
    const context = new RequestContext(url.toString(), HttpMethod[verb]);
    await this.config.applySecurityAuthentication(context);
    const headers: Record<string, string> = { ...context.getHeaders(), accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    const dispatcher = context.getDispatcher();
    return fetch(url, {
      method: verb,
      headers,
      signal: AbortSignal.timeout(this.timeoutMs),
      ...(dispatcher === undefined ? {} : { dispatcher }),
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
  }
}
