/**
 * A local certificate authority and node certificates (ECDSA P-256,
 * SHA-256) so the API is HTTPS out of the box. The CA key is meant to be
 * stored as a keyfile secret (`wrapSecret`), never in plain text.
 *
 * @module
 */

// @peculiar/x509 uses tsyringe, which needs the Reflect metadata API first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto);

/** A certificate and its private key, both PEM (key: PKCS#8). */
export interface CertificateAndKey {
  /** `-----BEGIN CERTIFICATE-----` */
  certPem: string;
  /** `-----BEGIN PRIVATE KEY-----` (PKCS#8, unencrypted: wrap it before storing). */
  keyPem: string;
}

/** Hosts a node certificate names when none are given. */
export const DEFAULT_HOSTS: readonly string[] = Object.freeze([
  "localhost",
  "127.0.0.1",
  "::1",
]);

const KEY_ALGORITHM: EcKeyImportParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const DAY_MS = 24 * 60 * 60 * 1000;
/** Back-date notBefore a little so clocks slightly behind still accept it. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;

const IPV4 =
  /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const DNS_NAME =
  /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

function serialNumber(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0]! &= 0x7f; // positive INTEGER
  bytes[0]! |= 0x01; // no leading zero octet
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  if (!Number.isInteger(days) || days < 1) {
    throw new RangeError(
      `Validity must be a whole number of days >= 1, got ${days}`,
    );
  }
  const now = Date.now();
  return {
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter: new Date(now + days * DAY_MS),
  };
}

function commonName(value: string): x509.Name {
  return new x509.Name([{ CN: [value] }]);
}

async function newKeyPair(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(KEY_ALGORITHM, true, [
    "sign",
    "verify",
  ]);
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(
    await crypto.subtle.exportKey("pkcs8", key),
    "PRIVATE KEY",
  );
}

function subjectAltName(host: string): x509.JsonGeneralName {
  if (IPV4.test(host)) return { type: "ip", value: host };
  if (host.includes(":")) {
    // Let URL parsing validate IPv6 syntax rather than a hand-written regex.
    try {
      new URL(`https://[${host}]/`);
    } catch {
      throw new RangeError(
        `Host ${JSON.stringify(host)} is not a valid IPv6 address`,
      );
    }
    return { type: "ip", value: host };
  }
  if (DNS_NAME.test(host) && host.length <= 253) {
    return { type: "dns", value: host.toLowerCase() };
  }
  throw new RangeError(
    `Host ${JSON.stringify(host)} is neither a DNS name nor an IP address`,
  );
}

/**
 * Creates a self-signed CA: basicConstraints CA (path length 0, so it can
 * only sign leaf certificates), keyUsage keyCertSign and cRLSign.
 */
export async function createLocalCa(
  options: { commonName?: string; validityDays?: number } = {},
): Promise<CertificateAndKey> {
  const keys = await newKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: commonName(options.commonName ?? "Miranda local CA"),
    ...validity(options.validityDays ?? 3650),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certPem: cert.toString("pem"),
    keyPem: await privateKeyPem(keys.privateKey),
  };
}

/**
 * Issues a TLS server certificate signed by `ca`, with the hosts (DNS names
 * and IP addresses) as subjectAltNames and the serverAuth extended key usage.
 */
export async function issueNodeCertificate(
  ca: CertificateAndKey,
  options: { hosts?: readonly string[]; validityDays?: number } = {},
): Promise<CertificateAndKey> {
  const hosts = options.hosts ?? DEFAULT_HOSTS;
  if (hosts.length === 0) {
    throw new RangeError("A node certificate needs at least one host");
  }
  const names = hosts.map(subjectAltName);
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await crypto.subtle.importKey(
    "pkcs8",
    x509.PemConverter.decode(ca.keyPem)[0]!,
    KEY_ALGORITHM,
    false,
    ["sign"],
  );
  const keys = await newKeyPair();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: commonName(hosts[0]!),
    issuer: caCert.subjectName,
    ...validity(options.validityDays ?? 365),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return {
    certPem: cert.toString("pem"),
    keyPem: await privateKeyPem(keys.privateKey),
  };
}
