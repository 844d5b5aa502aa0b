// /metrics secured: the self-signed certificate, the scrape authorizer's
// decisions and cache, the serving certificate's files, and the server that
// puts them together (a real HTTPS server on loopback; the API server's two
// reviews are a recording fake here, and real in
// test/integration/metrics-auth.test.ts and the chart's end-to-end test).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { AccessReviewer, ReviewedUser, TokenVerdict, AccessVerdict } from '../../../kube/access-review.ts';
import { KubeApiError } from '../../../kube/errors.ts';
import { startHttpServer } from '../../../observability/http-server.ts';
import { bearerToken, ScrapeAuthorizer } from '../../../observability/scrape-auth.ts';
import { selfSignedCertificate } from '../../../observability/self-signed.ts';
import { ServingTls } from '../../../observability/serving-tls.ts';
import { recordingLog } from '../../support/log.ts';

/** Tokens: "good-<user>" authenticate as <user>; "reader" users may get /metrics; anything else is not a token. */
class FakeReviewer implements AccessReviewer {
  calls: string[] = [];
  failWith: Error | undefined;

  reviewToken(token: string): Promise<TokenVerdict> {
    this.calls.push(`TokenReview ${token}`);
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    if (token === 'expired') return Promise.resolve({ authenticated: false, error: 'token has expired' });
    if (!token.startsWith('good-')) return Promise.resolve({ authenticated: false, error: 'invalid bearer token' });
    return Promise.resolve({ authenticated: true, user: { username: token.slice(5), groups: ['system:authenticated'] } });
  }

  reviewAccess(user: ReviewedUser, path: string): Promise<AccessVerdict> {
    this.calls.push(`SubjectAccessReview ${user.username} ${path}`);
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    return Promise.resolve({ allowed: user.username.startsWith('reader'), reason: user.username.startsWith('reader') ? 'RBAC: allowed' : '' });
  }
}

describe('selfSignedCertificate', () => {
  test('a P-256 leaf for server authentication, signed by its own key, naming every host, valid from a minute ago for the days asked', async () => {
    const now = new Date('2026-12-01T00:00:00Z');
    const made = await selfSignedCertificate(['rcaudit-agent-x', 'localhost', '127.0.0.1', 'fd00::1'], now, 365);
    const cert = new X509Certificate(made.cert);
    assert.equal(cert.subject, 'CN=rcaudit-agent-x');
    assert.equal(cert.subjectAltName, 'DNS:rcaudit-agent-x, DNS:localhost, IP Address:127.0.0.1, IP Address:FD00:0:0:0:0:0:0:1');
    assert.ok(cert.verify(cert.publicKey), 'self-signed');
    assert.equal(cert.ca, false);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(new Date(cert.validFrom).toISOString(), '2026-11-30T23:59:00.000Z');
    assert.equal(new Date(cert.validTo).toISOString(), '2027-12-01T00:00:00.000Z');
    assert.equal(made.notAfter.toISOString(), '2027-12-01T00:00:00.000Z');
  });

  test('a certificate that ends in 2050 or later says so in GeneralizedTime', async () => {
    const cert = new X509Certificate((await selfSignedCertificate(['x'], new Date('2049-06-01T00:00:00Z'), 365)).cert);
    assert.equal(new Date(cert.validTo).toISOString(), '2050-06-01T00:00:00.000Z');
  });

  test('no host: refused', async () => {
    await assert.rejects(selfSignedCertificate([]), /at least one host name/);
  });
});

describe('bearerToken', () => {
  test('the token of a Bearer header, whatever the scheme’s case; nothing else', () => {
    assert.equal(bearerToken('Bearer abc.def'), 'abc.def');
    assert.equal(bearerToken('bearer abc'), 'abc');
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer two tokens'])
      assert.equal(bearerToken(header), undefined, String(header));
  });
});

describe('ScrapeAuthorizer', () => {
  const setup = (): { reviewer: FakeReviewer; auth: ScrapeAuthorizer; lines: ReturnType<typeof recordingLog>['lines']; clock: { now: number } } => {
    const reviewer = new FakeReviewer();
    const { log, lines } = recordingLog();
    const clock = { now: 0 };
    return { reviewer, lines, clock, auth: new ScrapeAuthorizer(reviewer, log, { now: () => clock.now, maxEntries: 3 }) };
  };

  test('no token: 401 without asking the API server', async () => {
    const { reviewer, auth } = setup();
    assert.deepEqual(await auth.authorize(undefined), {
      outcome: 'unauthenticated',
      code: 401,
      message: 'a bearer token is required (Authorization: Bearer <token>)',
    });
    assert.deepEqual(reviewer.calls, []);
  });

  test('a token the API server does not authenticate (malformed, expired): 401 with its reason, logged once, asked again after 10 s', async () => {
    const { reviewer, auth, lines, clock } = setup();
    assert.deepEqual(await auth.authorize('Bearer expired'), { outcome: 'unauthenticated', code: 401, message: 'the token is not valid: token has expired' });
    assert.equal((await auth.authorize('Bearer not-a-jwt')).code, 401);
    assert.equal((await auth.authorize('Bearer expired')).code, 401);
    assert.deepEqual(reviewer.calls, ['TokenReview expired', 'TokenReview not-a-jwt']);
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg, l['reason']]),
      [
        [40, 'a scrape of /metrics was refused', 'the token is not valid: token has expired'],
        [40, 'a scrape of /metrics was refused', 'the token is not valid: invalid bearer token'],
      ],
    );
    clock.now = 10_000;
    await auth.authorize('Bearer expired');
    assert.equal(reviewer.calls.length, 3);
  });

  test('an authenticated user without get on /metrics: 403 naming the user', async () => {
    const { reviewer, auth } = setup();
    assert.deepEqual(await auth.authorize('Bearer good-stranger'), { outcome: 'forbidden', code: 403, message: 'stranger may not get /metrics' });
    assert.deepEqual(reviewer.calls, ['TokenReview good-stranger', 'SubjectAccessReview stranger /metrics']);
  });

  test('an allowed token costs two reviews, then none for two minutes; then it is checked again (a revoked token lasts that long)', async () => {
    const { reviewer, auth, clock } = setup();
    assert.deepEqual(await auth.authorize('Bearer good-reader'), { outcome: 'allowed', code: 200, user: 'reader' });
    for (clock.now = 0; clock.now < 120_000; clock.now += 1000) assert.equal((await auth.authorize('Bearer good-reader')).code, 200);
    assert.equal(reviewer.calls.length, 2, '120 scrapes, two reviews');
    await auth.authorize('Bearer good-reader');
    assert.equal(reviewer.calls.length, 4);
  });

  test('scrapes that arrive together share one review', async () => {
    const { reviewer, auth } = setup();
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => auth.authorize('Bearer good-reader')));
    assert.ok(answers.every((a) => a.code === 200));
    assert.equal(reviewer.calls.length, 2);
  });

  test('the API server unreachable: 503 saying so, logged as an error, never remembered; once it answers, the token works', async () => {
    const { reviewer, auth, lines } = setup();
    reviewer.failWith = new KubeApiError('Transport', 'create TokenReview: connect ECONNREFUSED 10.96.0.1:443');
    const down = await auth.authorize('Bearer good-reader');
    // The scraper is told what it can act on; what failed inside, only the log says.
    assert.deepEqual(down, {
      outcome: 'unavailable',
      code: 503,
      message: "cannot check the scrape's token now: the TokenReview did not succeed; try again (this process's log says why)",
    });
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg, l['reason']]),
      [[50, 'a scrape of /metrics could not be checked: 503', 'the TokenReview failed: create TokenReview: connect ECONNREFUSED 10.96.0.1:443']],
    );
    reviewer.failWith = undefined;
    assert.equal((await auth.authorize('Bearer good-reader')).code, 200);
  });

  test('the API server down when an allowed token is due again: still allowed, up to 10 minutes after its last review; a refused one is not', async () => {
    const { reviewer, auth, clock, lines } = setup();
    await auth.authorize('Bearer good-reader');
    await auth.authorize('Bearer good-stranger');
    reviewer.failWith = new KubeApiError('Transport', 'create TokenReview: connect ECONNREFUSED 10.96.0.1:443');
    clock.now = 599_000;
    assert.equal((await auth.authorize('Bearer good-reader')).code, 200);
    assert.equal((await auth.authorize('Bearer good-stranger')).code, 503);
    assert.deepEqual(
      lines.filter((l) => l.msg.startsWith('a scrape of /metrics could not be checked')).map((l) => [l.level, l.msg]),
      [
        [40, 'a scrape of /metrics could not be checked: allowed, as when last checked'],
        [50, 'a scrape of /metrics could not be checked: 503'],
      ],
    );
    clock.now = 600_000;
    assert.equal((await auth.authorize('Bearer good-reader')).code, 503, 'ten minutes after the last review');
    reviewer.failWith = undefined;
    assert.equal((await auth.authorize('Bearer good-reader')).code, 200);
  });

  test('this process without RBAC for the reviews: 503 saying which permission is missing', async () => {
    const { reviewer, auth } = setup();
    reviewer.failWith = new KubeApiError('Forbidden', 'create TokenReview: Forbidden (HTTP 403): tokenreviews is forbidden', 403);
    const answer = await auth.authorize('Bearer good-reader');
    assert.ok(answer.outcome === 'unavailable');
    assert.equal(answer.code, 503);
    assert.match(answer.message, /^this process may not create TokenReviews, .*grant create on tokenreviews/);
  });

  test('reviews of tokens not allowed before are limited: past the limit a 429 saying when to try again, and no API call; an allowed token is not held back', async () => {
    const { reviewer, auth, clock, lines } = setup();
    assert.equal((await auth.authorize('Bearer good-reader')).code, 200);
    clock.now = 1_000;
    reviewer.calls = [];
    const answers = [];
    for (let i = 0; i < 12; i++) answers.push(await auth.authorize(`Bearer random-${String(i)}`));
    assert.deepEqual(
      answers.map((a) => a.code),
      [401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 429, 429],
    );
    assert.deepEqual(answers[10], {
      outcome: 'throttled',
      code: 429,
      message: 'too many scrapes with tokens not checked yet; try again in a second',
    });
    assert.equal(reviewer.calls.length, 10, 'the throttled ones cost the API server nothing');
    // The reader's answer is due again: it is reviewed, past the limit.
    clock.now = 121_500;
    for (let i = 12; i < 22; i++) await auth.authorize(`Bearer random-${String(i)}`);
    assert.equal((await auth.authorize('Bearer good-reader')).code, 200);
    assert.equal(lines.filter((l) => l.msg === 'scrapes of /metrics with unchecked tokens throttled').length, 1, 'said once a minute, not per scrape');
    clock.now = 123_000;
    assert.equal((await auth.authorize('Bearer random-99')).code, 401, 'a second later, reviews go on');
  });

  test('a flood of refused tokens does not push an allowed one out of memory', async () => {
    const { reviewer, auth, clock } = setup();
    await auth.authorize('Bearer good-reader');
    for (let i = 0; i < 10; i++) {
      clock.now += 1_000;
      await auth.authorize(`Bearer random-${String(i)}`);
    }
    reviewer.calls = [];
    assert.equal((await auth.authorize('Bearer good-reader')).code, 200);
    assert.deepEqual(reviewer.calls, [], 'still remembered, with maxEntries 3');
  });

  test('at most maxEntries tokens are remembered, the oldest forgotten first', async () => {
    const { reviewer, auth } = setup();
    for (const t of ['good-reader1', 'good-reader2', 'good-reader3', 'good-reader4']) await auth.authorize(`Bearer ${t}`);
    reviewer.calls = [];
    await auth.authorize('Bearer good-reader4');
    assert.deepEqual(reviewer.calls, [], 'the newest is remembered');
    await auth.authorize('Bearer good-reader1');
    assert.equal(reviewer.calls.length, 2, 'the oldest was forgotten');
  });
});

describe('ServingTls', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rca-tls-'));
  const files = { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
  const write = (cert: string, key: string): void => {
    writeFileSync(files.certFile, cert);
    writeFileSync(files.keyFile, key);
  };

  test('no files: a self-signed certificate, renewed a month before it ends', async () => {
    const clock = { now: Date.now() };
    const tls = await ServingTls.start(undefined, pino({ level: 'silent' }), () => clock.now);
    const first = tls.material.cert;
    assert.equal(tls.problem, undefined);
    assert.equal(await tls.refresh(), false);
    clock.now += 336 * 86_400_000;
    assert.equal(await tls.refresh(), true);
    assert.notEqual(tls.material.cert, first);
  });

  test("a Secret's files: served; a rotation taken; a rotation that does not parse logged once and the served one kept", async () => {
    const a = await selfSignedCertificate(['a']);
    write(a.cert, a.key);
    const { log, lines } = recordingLog();
    const tls = await ServingTls.start(files, log);
    assert.equal(tls.material.cert, a.cert);
    assert.equal(await tls.refresh(), false, 'unchanged');
    const b = await selfSignedCertificate(['b']);
    write(b.cert, b.key);
    assert.equal(await tls.refresh(), true);
    assert.equal(tls.material.cert, b.cert);
    write('-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n', b.key);
    assert.equal(await tls.refresh(), false);
    assert.equal(await tls.refresh(), false);
    assert.equal(tls.material.cert, b.cert);
    assert.equal(lines.filter((l) => l.level === 50).length, 1, 'one error line for the bad rotation');
    assert.match(String(lines.find((l) => l.level === 50)?.['reason']), /the certificate does not parse/);
  });

  test('a certificate and a key that are not a pair: named as such', async () => {
    write((await selfSignedCertificate(['a'])).cert, (await selfSignedCertificate(['b'])).key);
    const tls = await ServingTls.start(files, pino({ level: 'silent' }));
    assert.match(tls.problem ?? '', /unusable: the private key is not the certificate’s/);
  });

  test('files that do not parse at start: a self-signed certificate served, the problem kept (for a 503), cleared once they are mended', async () => {
    write('garbage', 'garbage');
    const { log, lines } = recordingLog();
    const tls = await ServingTls.start(files, log);
    assert.match(tls.problem ?? '', /^the serving certificate given \(.*tls\.crt, .*tls\.key\) is unusable: the certificate does not parse/);
    assert.ok(new X509Certificate(tls.material.cert).verify(new X509Certificate(tls.material.cert).publicKey), 'a self-signed one meanwhile');
    assert.deepEqual(
      lines.filter((l) => l.level === 50).map((l) => l.msg),
      ['serving /metrics with a self-signed certificate instead, and answering 503 until the given one is mended'],
    );
    const good = await selfSignedCertificate(['c']);
    write(good.cert, good.key);
    assert.equal(await tls.refresh(), true);
    assert.equal(tls.problem, undefined);
    assert.equal(tls.material.cert, good.cert);
  });

  test('a key file that is missing: the path named', async () => {
    const tls = await ServingTls.start({ certFile: files.certFile, keyFile: join(dir, 'nope.key') }, pino({ level: 'silent' }));
    assert.match(tls.problem ?? '', /the key file .*nope\.key cannot be read: ENOENT/);
  });
});

describe('the metrics server, secured', () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.close();
  });

  const get = (port: number, path: string, token?: string): Promise<{ code: number; body: string; challenge?: string }> =>
    new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path, rejectUnauthorized: false, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => {
            resolve({
              code: res.statusCode ?? 0,
              body,
              ...(res.headers['www-authenticate'] === undefined ? {} : { challenge: res.headers['www-authenticate'] }),
            });
          });
        },
      );
      req.on('error', reject);
      req.end();
    });

  async function start(tls: ServingTls): Promise<{ port: number; registry: Registry }> {
    const registry = new Registry();
    const log = pino({ level: 'silent' });
    const server = (await startHttpServer(
      registry,
      { live: () => true, ready: () => false },
      { host: '127.0.0.1', port: 0, log, security: { tls, authorizer: new ScrapeAuthorizer(new FakeReviewer(), log) } },
    )) as Server;
    servers.push(server);
    const address = server.address();
    return { port: typeof address === 'object' && address !== null ? address.port : 0, registry };
  }

  test('HTTPS: /metrics for an allowed token only (401 with a challenge, 403), the probes open, and every refusal counted', async () => {
    const { port, registry } = await start(await ServingTls.start(undefined, pino({ level: 'silent' })));
    const none = await get(port, '/metrics');
    assert.deepEqual([none.code, none.challenge], [401, 'Bearer realm="runtimeclass-audit"']);
    assert.equal((await get(port, '/metrics', 'not-a-token')).code, 401);
    const forbidden = await get(port, '/metrics', 'good-stranger');
    assert.deepEqual([forbidden.code, forbidden.body], [403, 'stranger may not get /metrics\n']);
    const allowed = await get(port, '/metrics', 'good-reader');
    assert.equal(allowed.code, 200);
    assert.match(allowed.body, /^rcaudit_metrics_scrapes_total\{outcome="unauthenticated"\} 2$/m);
    assert.match(allowed.body, /^rcaudit_metrics_scrapes_total\{outcome="forbidden"\} 1$/m);
    assert.deepEqual([(await get(port, '/livez')).code, (await get(port, '/readyz')).code], [200, 503], 'the probes need no token');
    assert.match(await registry.metrics(), /^rcaudit_metrics_scrapes_total\{outcome="allowed"\} 1$/m);
  });

  test('a given certificate that does not parse: /metrics answers 503 saying why, the probes still answer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rca-tls-bad-'));
    writeFileSync(join(dir, 'tls.crt'), 'not a certificate');
    writeFileSync(join(dir, 'tls.key'), 'not a key');
    const { port } = await start(await ServingTls.start({ certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') }, pino({ level: 'silent' })));
    const scrape = await get(port, '/metrics', 'good-reader');
    assert.equal(scrape.code, 503);
    assert.equal(scrape.body, "the serving certificate given is unusable; /metrics answers once it is mended (this process's log says why)\n");
    assert.equal((await get(port, '/livez')).code, 200);
  });
});
