// /metrics, /livez and /readyz for either process, on Node's own http and
// https servers: three fixed GET routes need no framework, and express adds
// about 3 MiB on every node (hack/measure-dependencies.ts). Secure by
// default: HTTPS, and /metrics only for a token allowed to get it
// (scrape-auth.ts). /livez and /readyz stay open, for the kubelet's probes,
// and say nothing but ok.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from './logger.ts';
import type { ScrapeAuthorizer, ScrapeOutcome } from './scrape-auth.ts';
import type { ServingTls } from './serving-tls.ts';

export interface Probes {
  /** The process is not stuck (its loop still turns). */
  live(): boolean;
  /** The process does its job (e.g. scanned and reported at least once, and still does). */
  ready(): boolean;
}

/** How /metrics is guarded: HTTPS with this certificate, and this authorizer. Absent: plain HTTP, open (the opt-out). */
export interface MetricsSecurity {
  tls: ServingTls;
  authorizer: ScrapeAuthorizer;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  security?: MetricsSecurity;
  log: Logger;
  /** How often the certificate is looked at again. */
  tlsRefreshMs?: number;
}

type Answer = [code: number, contentType: string, body: string, headers?: Record<string, string>];

function reply(res: ServerResponse, [code, contentType, body, headers]: Answer): void {
  res.writeHead(code, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

const TEXT = 'text/plain; charset=utf-8';

class Routes {
  private readonly scrapes: Counter<'outcome'>;
  private readonly registry: Registry;
  private readonly probes: Probes;
  private readonly security: MetricsSecurity | undefined;

  constructor(registry: Registry, probes: Probes, security: MetricsSecurity | undefined) {
    this.registry = registry;
    this.probes = probes;
    this.security = security;
    this.scrapes = new Counter({
      name: 'rcaudit_metrics_scrapes_total',
      help: 'Requests for /metrics, by outcome: allowed, unauthenticated (401), forbidden (403), throttled (429: too many unchecked tokens), unavailable (503: the token or the certificate could not be checked).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    });
  }

  async answer(req: IncomingMessage): Promise<Answer> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return [405, TEXT, 'method not allowed'];
    switch (new URL(req.url ?? '/', 'http://localhost').pathname) {
      case '/metrics':
        return this.metrics(req);
      case '/livez':
        return this.probes.live() ? [200, TEXT, 'ok'] : [503, TEXT, 'not live'];
      case '/readyz':
        return this.probes.ready() ? [200, TEXT, 'ok'] : [503, TEXT, 'not ready'];
      default:
        return [404, TEXT, 'not found'];
    }
  }

  private async metrics(req: IncomingMessage): Promise<Answer> {
    const refusal = await this.refusal(req);
    if (refusal !== undefined) return refusal;
    this.scrapes.inc({ outcome: 'allowed' });
    return [200, this.registry.contentType, await this.registry.metrics()];
  }

  /** Why this request may not have /metrics, or undefined when it may. */
  private async refusal(req: IncomingMessage): Promise<Answer | undefined> {
    if (this.security === undefined) return undefined;
    const count = (outcome: ScrapeOutcome): void => {
      this.scrapes.inc({ outcome });
    };
    if (this.security.tls.problem !== undefined) {
      // Which files and why, the log said when it turned: a scraper can do nothing with paths and parse errors.
      count('unavailable');
      return [503, TEXT, "the serving certificate given is unusable; /metrics answers once it is mended (this process's log says why)\n"];
    }
    const decision = await this.security.authorizer.authorize(req.headers.authorization);
    if (decision.outcome === 'allowed') return undefined;
    count(decision.outcome);
    const headers: Record<string, string> =
      decision.code === 401 ? { 'www-authenticate': 'Bearer realm="runtimeclass-audit"' } : decision.code === 429 ? { 'retry-after': '1' } : {};
    return [decision.code, TEXT, `${decision.message}\n`, headers];
  }
}

/** The HTTPS server, taking a new certificate when `tls` has one. */
function httpsServer(tls: ServingTls, handle: (req: IncomingMessage, res: ServerResponse) => void, options: HttpServerOptions): HttpsServer {
  const server = createHttpsServer(tls.material, handle);
  const timer = setInterval(() => {
    tls.refresh().then(
      (changed) => {
        if (changed) server.setSecureContext(tls.material);
      },
      (err: unknown) => {
        options.log.error({ err: err instanceof Error ? err.message : String(err) }, 'cannot renew the serving certificate: keeping the one served');
      },
    );
  }, options.tlsRefreshMs ?? 60_000);
  timer.unref();
  server.once('close', () => {
    clearInterval(timer);
  });
  // A client that fails the handshake (a plain-HTTP scrape of the HTTPS port) is its problem, not the process's.
  server.on('tlsClientError', (err: Error) => {
    options.log.debug({ err: err.message }, 'a TLS handshake on the metrics port failed');
  });
  return server;
}

export async function startHttpServer(registry: Registry, probes: Probes, options: HttpServerOptions): Promise<Server | HttpsServer> {
  const routes = new Routes(registry, probes, options.security);
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    routes.answer(req).then(
      (answer) => {
        reply(res, answer);
      },
      (err: unknown) => {
        options.log.error({ path: req.url, err: err instanceof Error ? err.message : String(err) }, 'a request to the metrics server failed: 500');
        reply(res, [500, TEXT, "internal error (this process's log says what)\n"]);
      },
    );
  };
  const tls = options.security?.tls;
  const server = tls === undefined ? createHttpServer(handle) : httpsServer(tls, handle, options);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
