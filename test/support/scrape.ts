// Scraping the processes as a secured Prometheus does: HTTPS (their
// certificates are self-signed unless a test gives one, so not verified)
// with a service account's bearer token that the processes check with
// TokenReview and SubjectAccessReview.
import { request } from 'node:https';
import { applyObjects, kubectl, type Testbed } from '../../hack/testbed/testbed.ts';

export interface Scraped {
  status: number;
  body: string;
}

/** GET `url` (https://host:port/path) with `token` when given, not verifying the server's certificate. */
export function scrape(url: string, token?: string): Promise<Scraped> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { rejectUnauthorized: false, timeout: 10_000, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** The /metrics text at `url`, or an error with the status and the body's first line. */
export async function scrapeMetrics(url: string, token: string): Promise<string> {
  const { status, body } = await scrape(url, token);
  if (status !== 200) throw new Error(`GET ${url}: ${String(status)} ${body.split('\n')[0] ?? ''}`);
  return body;
}

const SCRAPER = { namespace: 'kube-system', name: 'rcaudit-test-scraper', role: 'rcaudit-test-metrics-get' };
const tokens = new Map<string, Promise<string>>();

/**
 * A token (valid an hour) of a service account allowed to get /metrics, by
 * `clusterRole` (the chart's <fullname>-metrics-reader, say) or else by a
 * ClusterRole of the tests' own, for the processes run without the chart.
 * One account and token per role, per test process.
 */
export function scraperToken(testbed: Testbed, clusterRole?: string): Promise<string> {
  const role = clusterRole ?? SCRAPER.role;
  let token = tokens.get(role);
  if (token === undefined) {
    token = mintScraperToken(testbed, role, clusterRole === undefined);
    tokens.set(role, token);
  }
  return token;
}

async function mintScraperToken(testbed: Testbed, role: string, ownRole: boolean): Promise<string> {
  const account = `${SCRAPER.name}-${role}`.slice(0, 63).replace(/-+$/, '');
  const objects: object[] = [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { namespace: SCRAPER.namespace, name: account } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: account },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'ServiceAccount', namespace: SCRAPER.namespace, name: account }],
    },
  ];
  if (ownRole) {
    objects.push({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: role },
      rules: [{ nonResourceURLs: ['/metrics'], verbs: ['get'] }],
    });
  }
  await applyObjects(testbed, objects);
  return (await kubectl(testbed, ['create', 'token', account, '-n', SCRAPER.namespace, '--duration=1h'])).trim();
}

/** A token of a fresh service account in `namespace` (the test's, to go with it), bound to nothing: authenticated, and allowed nothing. */
export async function strangerToken(testbed: Testbed, namespace: string, name: string): Promise<string> {
  await kubectl(testbed, ['create', 'serviceaccount', name, '-n', namespace]);
  return (await kubectl(testbed, ['create', 'token', name, '-n', namespace, '--duration=1h'])).trim();
}
