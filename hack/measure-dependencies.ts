// What each library costs a process, measured the way the image runs it:
// plain JavaScript on Node 24, no type stripper. For every case a fresh
// process measures its resident memory after a full GC, does the one thing
// the product would use the library for, and measures again; the figure is
// the median of the runs. The README's dependency table comes from this.
//   node hack/measure-dependencies.ts [RUNS]
// The candidates the product does not use (express, @peculiar/x509 and its
// reflect-metadata, node-forge, pkijs with asn1js, lru-cache) and the ones it does are installed at pinned
// versions into a scratch directory from the npm registry.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './versions.ts';

const RUNS = Number(process.argv[2] ?? '5');

/** Libraries we chose not to use, at the versions measured. */
const CANDIDATES = {
  express: '5.3.0',
  '@peculiar/x509': '2.2.0',
  'reflect-metadata': '0.2.2',
  'node-forge': '1.4.4',
  pkijs: '4.0.0',
  asn1js: '4.0.0',
  'lru-cache': '11.5.4',
};

/** What a process outside a pod does with client-node (kube/connection.ts). */
const CLIENT_NODE = `
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromString(KUBECONFIG);
  await kc.applyToHTTPSOptions({ headers: {} });`;

/** Each case: what the product does (or would do) with the library, as an ES module body. */
const ALTERNATIVES: Record<string, string> = {
  'nothing more (the baseline)': '',
  '@kubernetes/client-node: load a kubeconfig, TLS options for a request': CLIENT_NODE,
  'node:https: an agent with a CA and a bearer token (what a pod does instead)': `
    const https = await import('node:https');
    new https.Agent({ keepAlive: true, ca: CERT });`,
  'express: three GET routes, listening': `
    const { default: express } = await import('express');
    const app = express();
    for (const path of ['/metrics', '/livez', '/readyz']) app.get(path, (_req, res) => res.send('ok'));
    await new Promise((resolve) => { const s = app.listen(0, '127.0.0.1', () => s.close(resolve)); });`,
  'node:http: three GET routes, listening (what the product does)': `
    const http = await import('node:http');
    const routes = new Map(['/metrics', '/livez', '/readyz'].map((p) => [p, 'ok']));
    const s = http.createServer((req, res) => res.end(routes.get(req.url) ?? ''));
    await new Promise((resolve) => s.listen(0, '127.0.0.1', () => s.close(resolve)));`,
  '@peculiar/x509 (with the reflect-metadata it requires): a self-signed ECDSA P-256 serving certificate': `
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    const { webcrypto } = await import('node:crypto');
    x509.cryptoProvider.set(webcrypto);
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01', name: 'CN=rcaudit', notBefore: new Date(), notAfter: new Date(Date.now() + 365 * 86400e3),
      signingAlgorithm: alg, keys,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'localhost' }, { type: 'ip', value: '127.0.0.1' }])],
    });
    cert.toString('pem');`,
  'pkijs + asn1js: a self-signed ECDSA P-256 serving certificate': `
    const pkijs = await import('pkijs');
    const asn1js = await import('asn1js');
    const { webcrypto } = await import('node:crypto');
    pkijs.setEngine('node', new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto }));
    const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const cert = new pkijs.Certificate();
    cert.version = 2;
    cert.serialNumber = new asn1js.Integer({ value: 1 });
    const cn = () => new pkijs.AttributeTypeAndValue({ type: '2.5.4.3', value: new asn1js.Utf8String({ value: 'rcaudit' }) });
    cert.issuer.typesAndValues.push(cn());
    cert.subject.typesAndValues.push(cn());
    cert.notBefore.value = new Date();
    cert.notAfter.value = new Date(Date.now() + 365 * 86400e3);
    await cert.subjectPublicKeyInfo.importKey(keys.publicKey);
    const names = new pkijs.GeneralNames({ names: [new pkijs.GeneralName({ type: 2, value: 'localhost' }), new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: new Uint8Array([127, 0, 0, 1]).buffer }) })] });
    cert.extensions = [new pkijs.Extension({ extnID: '2.5.29.17', critical: false, extnValue: names.toSchema().toBER(false) })];
    await cert.sign(keys.privateKey, 'SHA-256');
    new (await import('node:crypto')).X509Certificate(Buffer.from(cert.toSchema().toBER(false)));`,
  'node-forge: a self-signed serving certificate (RSA 2048: its certificates take no EC key)': `
    const { default: forge } = await import('node-forge');
    const { generateKeyPairSync } = await import('node:crypto');
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.publicKeyFromPem(pair.publicKey);
    cert.serialNumber = '01';
    cert.validity.notBefore = new Date();
    cert.validity.notAfter = new Date(Date.now() + 365 * 86400e3);
    cert.setSubject([{ name: 'commonName', value: 'rcaudit' }]);
    cert.setIssuer([{ name: 'commonName', value: 'rcaudit' }]);
    cert.setExtensions([{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }]);
    cert.sign(forge.pki.privateKeyFromPem(pair.privateKey), forge.md.sha256.create());
    forge.pki.certificateToPem(cert);`,
  'node:crypto alone: an ECDSA P-256 key, a certificate parsed (no encoder: the floor for the three above)': `
    const { generateKeyPairSync, X509Certificate } = await import('node:crypto');
    generateKeyPairSync('ec', { namedCurve: 'P-256' });
    new X509Certificate(CERT);`,
  'lru-cache: 256 entries with a lifetime': `
    const { LRUCache } = await import('lru-cache');
    const cache = new LRUCache({ max: 256, ttl: 120_000 });
    for (let i = 0; i < 256; i++) cache.set(String(i), { allowed: true });`,
};

/** The libraries the product does use, each in a bare process. */
const OURS: Record<string, string> = {
  'nothing (the baseline)': '',
  '@kubernetes/client-node: load a kubeconfig, TLS options for a request (outside a pod)': CLIENT_NODE,
  '@grpc/grpc-js + @grpc/proto-loader: the CRI client (the agent)': `
    const grpc = await import('@grpc/grpc-js');
    const loader = await import('@grpc/proto-loader');
    const def = loader.loadSync(PROTO, { keepCase: false, longs: Number, enums: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(def);
    new pkg.runtime.v1.RuntimeService('unix:///nonexistent.sock', grpc.credentials.createInsecure()).close();`,
  'pino: the logger': `
    const { pino } = await import('pino');
    pino({}, (await import('node:fs')).createWriteStream('/dev/null')).info('x');`,
  'prom-client: a registry with the default metrics': `
    const prom = await import('prom-client');
    const registry = new prom.Registry();
    prom.collectDefaultMetrics({ register: registry });
    await registry.metrics();`,
  'ajv + ajv-formats: a validator (the operator checks reports and audits)': `
    const { Ajv } = await import('ajv');
    const { default: addFormats } = await import('ajv-formats');
    const ajv = new Ajv({ useDefaults: true });
    addFormats(ajv);
    ajv.compile({ type: 'object', properties: { a: { type: 'string', format: 'date-time' } } })({ a: '2026-01-01T00:00:00Z' });`,
  'commander: the flags': `
    const { Command } = await import('commander');
    new Command().option('--interval <d>').parse(['node', 'x', '--interval', '1s']);`,
};

const CERT = execFileSync(
  'openssl',
  ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=x', '-days', '1'],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
);
const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: 'https://127.0.0.1:6443', certificate-authority-data: ${Buffer.from(CERT).toString('base64')} } }]
users: [{ name: u, user: { token: abc } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`;

/**
 * What the agent holds anyway (Node's http, https, tls and crypto, the CRI
 * client, the logger, the registry, the flags): an alternative is judged by
 * what it adds on top of these, as it would in the real process.
 */
const AGENT_BASE = `
  await import('node:http'); await import('node:https'); await import('node:tls'); await import('node:crypto');
  const grpc = await import('@grpc/grpc-js');
  const loader = await import('@grpc/proto-loader');
  grpc.loadPackageDefinition(loader.loadSync(PROTO, { keepCase: false, longs: Number, enums: String, defaults: true }));
  const { pino } = await import('pino'); pino({}, (await import('node:fs')).createWriteStream('/dev/null')).info('x');
  const prom = await import('prom-client'); const registry = new prom.Registry(); prom.collectDefaultMetrics({ register: registry }); await registry.metrics();
  await import('commander');`;

const runner = (body: string, base = ''): string => `
const CERT = ${JSON.stringify(CERT)};
const KUBECONFIG = ${JSON.stringify(KUBECONFIG)};
const PROTO = ${JSON.stringify(join(REPO_ROOT, 'proto/runtime/v1/api.proto'))};
const settle = async () => { for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 50)); } };
${base}
await settle();
const before = process.memoryUsage().rss;
${body}
await settle();
process.stdout.write(String(process.memoryUsage().rss - before));
`;

const project = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
const scratch = mkdtempSync(join(tmpdir(), 'rca-deps-'));
try {
  writeFileSync(join(scratch, 'package.json'), JSON.stringify({ private: true, type: 'module', dependencies: { ...project.dependencies, ...CANDIDATES } }));
  execFileSync('npm', ['install', '--no-fund', '--no-audit', '--ignore-scripts', '--prefer-offline'], { cwd: scratch, stdio: 'ignore' });
  const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
  process.stdout.write(`# RSS added by each case, median of ${String(RUNS)} fresh processes, Node ${process.version}\n`);
  const sections: [string, Record<string, string>, string][] = [
    ['each of our runtime libraries, alone in a bare process', OURS, ''],
    [
      "each alternative, on top of what the agent holds anyway (Node's http, https, tls, crypto, the CRI client, pino, prom-client, commander)",
      ALTERNATIVES,
      AGENT_BASE,
    ],
  ];
  for (const [title, cases, base] of sections) {
    process.stdout.write(`## ${title}\n`);
    for (const [name, body] of Object.entries(cases)) measure(name, body, base);
  }
  function measure(name: string, body: string, base: string): void {
    const file = join(scratch, 'case.mjs');
    writeFileSync(file, runner(body, base));
    const samples = Array.from({ length: RUNS }, () => Number(execFileSync(process.execPath, ['--expose-gc', file], { cwd: scratch, encoding: 'utf8' })));
    samples.sort((a, b) => a - b);
    process.stdout.write(`${mib(samples[Math.floor(RUNS / 2)] ?? 0).padStart(6)} MiB  ${name}  (runs: ${samples.map(mib).join(', ')})\n`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
