// A self-signed serving certificate for /metrics when no certificate is
// given: an ECDSA P-256 key and its signature from node:crypto (OpenSSL),
// the certificate's ASN.1 from pkijs and asn1js, PeculiarVentures'
// well-kept encoders. They are loaded only when a certificate is made here:
// a process given one (metrics.tls.secretName) never pays their 3.6 MiB
// (hack/measure-dependencies.ts).
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

/** GeneralName's choices (RFC 5280, 4.2.1.6). */
const DNS_NAME = 2;
const IP_ADDRESS = 7;

/** IPv4 or IPv6 text to its bytes, for an iPAddress SAN. */
function ipBytes(ip: string): Uint8Array {
  if (isIP(ip) === 4) return Uint8Array.from(ip.split('.').map(Number));
  const [head = '', tail = ''] = ip.split('::');
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = ip.includes('::') ? groups(tail) : [];
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return Uint8Array.from(all.flatMap((g) => [g >> 8, g & 0xff]));
}

export interface ServingCertificate {
  /** PEM certificate and PKCS#8 PEM key, as node:tls takes them. */
  cert: string;
  key: string;
  notAfter: Date;
}

/**
 * A certificate for `hosts` (DNS names or IP addresses; the first is the
 * subject's common name), valid from a minute before `now` for `days`:
 * a leaf (not a CA) for server authentication only.
 */
export async function selfSignedCertificate(hosts: readonly string[], now: Date = new Date(), days = 365): Promise<ServingCertificate> {
  const [commonName] = hosts;
  if (commonName === undefined) throw new Error('a serving certificate needs at least one host name');
  const [pkijs, asn1js] = await Promise.all([import('pkijs'), import('asn1js')]);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + days * 86_400_000);
  // A positive 128-bit serial: the top bit clear, so no sign byte is needed.
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  const algorithm = new pkijs.AlgorithmIdentifier({ algorithmId: OID.ecdsaWithSha256 });
  const name = (): InstanceType<typeof pkijs.RelativeDistinguishedNames> =>
    new pkijs.RelativeDistinguishedNames({
      typesAndValues: [new pkijs.AttributeTypeAndValue({ type: OID.commonName, value: new asn1js.Utf8String({ value: commonName }) })],
    });
  // UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5280, 4.1.2.5).
  const time = (at: Date): InstanceType<typeof pkijs.Time> =>
    new pkijs.Time({ type: at.getUTCFullYear() < 2050 ? pkijs.TimeType.UTCTime : pkijs.TimeType.GeneralizedTime, value: at });
  const altName = (host: string): InstanceType<typeof pkijs.GeneralName> =>
    isIP(host) === 0
      ? new pkijs.GeneralName({ type: DNS_NAME, value: host })
      : new pkijs.GeneralName({ type: IP_ADDRESS, value: new asn1js.OctetString({ valueHex: ipBytes(host) }) });
  const extension = (extnID: string, critical: boolean, value: { toBER(): ArrayBuffer }): InstanceType<typeof pkijs.Extension> =>
    new pkijs.Extension({ extnID, critical, extnValue: value.toBER() });
  const certificate = new pkijs.Certificate({
    version: 2, // v3
    serialNumber: new asn1js.Integer({ valueHex: serial }),
    signature: algorithm,
    issuer: name(),
    subject: name(),
    notBefore: time(notBefore),
    notAfter: time(notAfter),
    subjectPublicKeyInfo: pkijs.PublicKeyInfo.fromBER(publicKey.export({ type: 'spki', format: 'der' })),
    extensions: [
      extension(OID.basicConstraints, true, new pkijs.BasicConstraints({ cA: false }).toSchema()),
      extension(OID.keyUsage, true, new asn1js.BitString({ valueHex: Uint8Array.of(0x80), unusedBits: 7 })), // digitalSignature
      extension(OID.extKeyUsage, false, new pkijs.ExtKeyUsage({ keyPurposes: [OID.serverAuth] }).toSchema()),
      extension(OID.subjectAltName, false, new pkijs.GeneralNames({ names: hosts.map(altName) }).toSchema()),
    ],
  });
  const tbs = Buffer.from(certificate.encodeTBS().toBER());
  certificate.signatureAlgorithm = algorithm;
  // node:crypto's ECDSA signature is DER, as X.509 wants it.
  certificate.signatureValue = new asn1js.BitString({ valueHex: sign('sha256', tbs, privateKey) });
  const der = Buffer.from(certificate.toSchema(true).toBER());
  const body = der.toString('base64').replace(/.{64}/g, '$&\n');
  const cert = `-----BEGIN CERTIFICATE-----\n${body.endsWith('\n') ? body : `${body}\n`}-----END CERTIFICATE-----\n`;
  return { cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), notAfter };
}

/** Checks that `cert` and `key` (PEM) parse and belong together; throws saying which does not. */
export function checkKeyPair(cert: string, key: string): X509Certificate {
  let parsed: X509Certificate;
  try {
    parsed = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`the certificate does not parse: ${(err as Error).message}`, { cause: err });
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new Error(`the private key does not parse: ${(err as Error).message}`, { cause: err });
  }
  if (!parsed.checkPrivateKey(privateKey)) throw new Error('the private key is not the certificate’s');
  return parsed;
}
