// /metrics, /livez and /readyz for either process, on one express app.
import express from 'express';
import type { Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface Probes {
  /** The process is not stuck (its loop still turns). */
  live(): boolean;
  /** The process does its job (e.g. scanned and reported at least once, and still does). */
  ready(): boolean;
}

export function startHttpServer(registry: Registry, probes: Probes, host: string, port: number): Promise<Server> {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', (_req, res, next) => {
    registry.metrics().then((text) => {
      res.type(registry.contentType).send(text);
    }, next);
  });
  app.get('/livez', (_req, res) => {
    const ok = probes.live();
    res
      .status(ok ? 200 : 503)
      .type('text')
      .send(ok ? 'ok' : 'not live');
  });
  app.get('/readyz', (_req, res) => {
    const ok = probes.ready();
    res
      .status(ok ? 200 : 503)
      .type('text')
      .send(ok ? 'ok' : 'not ready');
  });
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, () => {
      resolve(server);
    });
    server.once('error', reject);
  });
}
