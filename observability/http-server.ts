// /metrics, /livez and /readyz for either process, on Node's own http
// server: three fixed GET routes need no framework, and express cost about
// 6 MiB on every node.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

export interface Probes {
  /** The process is not stuck (its loop still turns). */
  live(): boolean;
  /** The process does its job (e.g. scanned and reported at least once, and still does). */
  ready(): boolean;
}

function reply(res: ServerResponse, code: number, contentType: string, body: string): void {
  res.writeHead(code, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

const TEXT = 'text/plain; charset=utf-8';

/** The code, content type and body for a GET of `path`. */
async function answer(path: string, registry: Registry, probes: Probes): Promise<[number, string, string]> {
  switch (path) {
    case '/metrics':
      return [200, registry.contentType, await registry.metrics()];
    case '/livez':
      return probes.live() ? [200, TEXT, 'ok'] : [503, TEXT, 'not live'];
    case '/readyz':
      return probes.ready() ? [200, TEXT, 'ok'] : [503, TEXT, 'not ready'];
    default:
      return [404, TEXT, 'not found'];
  }
}

async function route(req: IncomingMessage, res: ServerResponse, registry: Registry, probes: Probes): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    reply(res, 405, TEXT, 'method not allowed');
    return;
  }
  const [code, contentType, body] = await answer(new URL(req.url ?? '/', 'http://localhost').pathname, registry, probes);
  reply(res, code, contentType, body);
}

export function startHttpServer(registry: Registry, probes: Probes, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    route(req, res, registry, probes).catch((err: unknown) => {
      reply(res, 500, TEXT, `error: ${err instanceof Error ? err.message : String(err)}`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
