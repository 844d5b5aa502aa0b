// Where the API server is and how to prove who we are, for kube/rest.ts.
// In a pod (the product's normal life): the service account's token and the
// cluster's CA, read from the files the kubelet mounts, with no library: the
// token is read again every minute, as client-go does, and at once after the
// server refuses it (401), so a rotated token is picked up. Anywhere else, a
// kubeconfig, read by @kubernetes/client-node, which knows every way a
// kubeconfig can authenticate. client-node is loaded only then: it adds
// about 53 MiB to a process that holds the agent's other modules
// (hack/measure-dependencies.ts), on every node, for nothing a pod needs.
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent, type RequestOptions } from 'node:https';
import { join } from 'node:path';

/** What one request needs: where to send it, through which agent (TLS, keep-alive), with which headers. */
export interface RequestTarget {
  url: URL;
  agent: HttpAgent;
  headers: Record<string, string>;
}

export interface ApiConnection {
  /** The API server's address, e.g. https://10.96.0.1:443. */
  readonly server: string;
  /** How to send a request to `url`, with the credentials as of now. */
  target: (url: URL) => Promise<RequestTarget>;
  /** The server refused our credentials (401): read them again before the next request. */
  refused: () => void;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const TOKEN_REREAD_MS = 60_000;

/** True in a pod: the kubelet sets these two for every container. */
export function inCluster(env: NodeJS.ProcessEnv = process.env): boolean {
  return env['KUBERNETES_SERVICE_HOST'] !== undefined && env['KUBERNETES_SERVICE_PORT'] !== undefined;
}

/** The in-cluster connection: the API server's service address, the service account's token and the cluster CA in `dir`. */
export function inClusterConnection(options: { env?: NodeJS.ProcessEnv; dir?: string; now?: () => number } = {}): ApiConnection {
  const env = options.env ?? process.env;
  const dir = options.dir ?? SERVICE_ACCOUNT_DIR;
  const now = options.now ?? Date.now;
  const host = env['KUBERNETES_SERVICE_HOST'] ?? '';
  const port = env['KUBERNETES_SERVICE_PORT'] ?? '';
  if (host === '' || port === '') throw new Error('not in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset');
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const read = (file: string): string => {
    try {
      return readFileSync(join(dir, file), 'utf8');
    } catch (err) {
      throw new Error(`in a pod, but its service account's ${file} cannot be read (is automountServiceAccountToken off?): ${(err as Error).message}`, {
        cause: err,
      });
    }
  };
  const agent = new HttpsAgent({ keepAlive: true, ca: read('ca.crt') });
  let token: { value: string; readAt: number } | undefined;
  const currentToken = (): string => {
    if (token === undefined || now() - token.readAt >= TOKEN_REREAD_MS) token = { value: read('token').trim(), readAt: now() };
    return token.value;
  };
  return {
    server,
    target: (url) => Promise.resolve({ url, agent, headers: { authorization: `Bearer ${currentToken()}` } }),
    refused: () => {
      token = undefined;
    },
  };
}

/** A kubeconfig's connection: `file`, or else client-node's default ($KUBECONFIG, ~/.kube/config). */
export async function kubeconfigConnection(file: string | undefined): Promise<ApiConnection> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (file === undefined) kc.loadFromDefault();
  else kc.loadFromFile(file);
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new Error(`the kubeconfig ${file ?? '(default)'} names no current cluster`);
  // One keep-alive agent per set of TLS material (client-node would make one per request).
  const agents = new Map<string, HttpAgent>();
  const agentFor = (url: URL, tls: RequestOptions): HttpAgent => {
    const key = JSON.stringify([url.protocol, tls.ca, tls.cert, tls.key, tls.rejectUnauthorized, tls.servername]);
    let agent = agents.get(key);
    if (agent === undefined) {
      const { ca, cert, key: privateKey, rejectUnauthorized, servername } = tls;
      agent =
        url.protocol === 'http:'
          ? new HttpAgent({ keepAlive: true })
          : new HttpsAgent({ keepAlive: true, ca, cert, key: privateKey, rejectUnauthorized, servername });
      agents.set(key, agent);
    }
    return agent;
  };
  return {
    server: cluster.server.replace(/\/$/, ''),
    target: async (url) => {
      const options: RequestOptions = { headers: {} };
      // Token, client certificate, exec plugin or auth provider: whatever the kubeconfig says.
      await kc.applyToHTTPSOptions(options);
      const headers = Object.fromEntries(Object.entries(options.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
      if (options.auth !== undefined && options.auth !== null) headers['authorization'] = `Basic ${Buffer.from(options.auth).toString('base64')}`;
      return { url, agent: agentFor(url, options), headers };
    },
    refused: () => undefined,
  };
}

/** In a pod with no kubeconfig given: the pod's own credentials. Otherwise the kubeconfig. */
export function connect(kubeconfig: string | undefined): Promise<ApiConnection> {
  if (kubeconfig === undefined && inCluster()) return Promise.resolve(inClusterConnection());
  return kubeconfigConnection(kubeconfig);
}
