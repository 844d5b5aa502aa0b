// Both processes' /metrics, /livez and /readyz server, from their listen
// flags: HTTPS with TokenReview and SubjectAccessReview by default, plain
// HTTP with --no-metrics-secure.
import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Registry } from 'prom-client';
import { KubeAccessReviewer } from '../kube/access-review.ts';
import type { KubeRequester } from '../kube/rest.ts';
import { startHttpServer, type Probes } from '../observability/http-server.ts';
import type { Logger } from '../observability/logger.ts';
import { ScrapeAuthorizer } from '../observability/scrape-auth.ts';
import { ServingTls } from '../observability/serving-tls.ts';
import { tlsFiles, type ListenFlags } from './flags.ts';

export interface Served {
  registry: Registry;
  probes: Probes;
  /** The process's API client: the reviews go through it, and are counted with its requests. */
  rest: KubeRequester;
  log: Logger;
}

export async function serveMetrics(flags: ListenFlags, { registry, probes, rest, log }: Served): Promise<Server | HttpsServer> {
  const files = tlsFiles(flags);
  if (!flags.metricsSecure) {
    log.warn('--no-metrics-secure: /metrics is plain HTTP and open to anyone who can reach the port');
  }
  const security = flags.metricsSecure
    ? { tls: await ServingTls.start(files, log), authorizer: new ScrapeAuthorizer(new KubeAccessReviewer(rest), log) }
    : undefined;
  return startHttpServer(registry, probes, { host: flags.listenHost, port: flags.listenPort, log, ...(security === undefined ? {} : { security }) });
}
