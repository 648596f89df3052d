/**
 * Users' public keys: parse and vet a pasted PEM, fingerprint it, and make
 * key pairs for `miranda init` and tests.
 *
 * Accepted: SPKI (`-----BEGIN PUBLIC KEY-----`) holding RSA with a modulus of
 * {@linkcode MIN_RSA_BITS} to {@linkcode MAX_RSA_BITS} bits, or Ed25519. RSA
 * keys serve both the login (RSA-OAEP-256) and JWT assertions (RS256);
 * Ed25519 keys serve JWT assertions (EdDSA) only.
 *
 * @module
 */

import {
  bytesToBase64url,
  bytesToHex,
  decodePem,
  encodePem,
} from "./encoding.ts";

/** Smallest accepted RSA modulus, in bits. */
export const MIN_RSA_BITS = 2048;
/** Largest accepted RSA modulus: bigger keys only make each login slower. */
export const MAX_RSA_BITS = 8192;
/** Longest accepted PEM text; an 8192-bit SPKI PEM is about 1.5 KiB. */
export const MAX_PEM_LENGTH = 16_384;

/** Algorithm of an accepted user key. */
export type UserKeyAlgorithm = "RSA" | "Ed25519";

/** A vetted user public key. */
export interface ParsedPublicKey {
  /** Key algorithm. */
  algorithm: UserKeyAlgorithm;
  /** Canonical SPKI PEM: re-encoded DER, 64-character lines, final newline. */
  pem: string;
  /** SHA-256 of the SPKI DER, unpadded base64url (43 characters). */
  fingerprint: string;
  /** RSA modulus length; absent for Ed25519. */
  modulusBits?: number;
}

/** Why a pasted key was refused. */
export type PublicKeyRejection =
  | "not_pem"
  | "multiple_blocks"
  | "private_key"
  | "unsupported_format"
  | "unsupported_algorithm"
  | "rsa_too_short"
  | "rsa_too_long"
  | "malformed";

/** A pasted public key was refused; `message` tells the user what to do. */
export class PublicKeyError extends Error {
  override readonly name = "PublicKeyError";
  /** Machine-readable reason. */
  readonly reason: PublicKeyRejection;

  /** Creates the error with a user-facing `message`. */
  constructor(reason: PublicKeyRejection, message: string) {
    super(message);
    this.reason = reason;
  }
}

// AlgorithmIdentifier OIDs (DER contents, hex) this module recognises.
const OID_NAMES: Readonly<Record<string, string>> = {
  "2a864886f70d010101": "RSA",
  "2a864886f70d01010a": "RSA-PSS",
  "2a8648ce3d0201": "EC",
  "2a8648ce380401": "DSA",
  "2b6570": "Ed25519",
  "2b6571": "Ed448",
  "2b656e": "X25519",
  "2b656f": "X448",
};
const CURVE_NAMES: Readonly<Record<string, string>> = {
  "2a8648ce3d030107": "P-256",
  "2b81040022": "P-384",
  "2b81040023": "P-521",
  "2b8104000a": "secp256k1",
};

const SUPPORTED_HINT = "use an RSA key of at least 2048 bits or an Ed25519 key";

/**
 * Parses and vets a user's public key PEM.
 *
 * @throws {PublicKeyError} when the text is not exactly one acceptable SPKI
 * public key; the message says why and what to paste instead.
 */
export async function parsePublicKey(text: string): Promise<ParsedPublicKey> {
  const der = extractSpkiDer(text);
  const algorithm = identifyAlgorithm(der);
  if (algorithm === "Ed25519") {
    const key = await importOrReject(der, { name: "Ed25519" }, ["verify"]);
    return describe("Ed25519", key, {});
  }
  const key = await importOrReject(
    der,
    { name: "RSA-OAEP", hash: "SHA-256" },
    ["encrypt"],
  );
  const modulusBits = (key.algorithm as RsaHashedKeyAlgorithm).modulusLength;
  if (modulusBits < MIN_RSA_BITS) {
    throw new PublicKeyError(
      "rsa_too_short",
      `RSA key of ${modulusBits} bits is too short; ${SUPPORTED_HINT}`,
    );
  }
  if (modulusBits > MAX_RSA_BITS) {
    throw new PublicKeyError(
      "rsa_too_long",
      `RSA key of ${modulusBits} bits is longer than ${MAX_RSA_BITS} bits; ${SUPPORTED_HINT}`,
    );
  }
  return describe("RSA", key, { modulusBits });
}

/** A new key pair as PEM: PKCS#8 private key and SPKI public key. */
export interface UserKeyPairPem {
  /** `-----BEGIN PRIVATE KEY-----` (PKCS#8, unencrypted). */
  privateKeyPem: string;
  /** `-----BEGIN PUBLIC KEY-----` (SPKI). */
  publicKeyPem: string;
}

/**
 * Generates a user key pair. RSA keys use exponent 65537 and default to 3072
 * bits; the PKCS#8 key works for both RSA-OAEP decryption and RS256 signing.
 */
export async function generateUserKeyPair(
  algorithm: UserKeyAlgorithm,
  options: { modulusBits?: number } = {},
): Promise<UserKeyPairPem> {
  const modulusBits = options.modulusBits ?? 3072;
  if (
    algorithm === "RSA" &&
    (modulusBits < MIN_RSA_BITS || modulusBits > MAX_RSA_BITS)
  ) {
    throw new RangeError(
      `RSA modulus of ${modulusBits} bits is outside ${MIN_RSA_BITS}..${MAX_RSA_BITS}`,
    );
  }
  const pair = algorithm === "RSA"
    ? await crypto.subtle.generateKey(
      {
        name: "RSA-OAEP",
        modulusLength: modulusBits,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
      },
      true,
      ["encrypt", "decrypt"],
    )
    : await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
  const [pkcs8, spki] = await Promise.all([
    crypto.subtle.exportKey("pkcs8", pair.privateKey),
    crypto.subtle.exportKey("spki", pair.publicKey),
  ]);
  return {
    privateKeyPem: encodePem("PRIVATE KEY", new Uint8Array(pkcs8)),
    publicKeyPem: encodePem("PUBLIC KEY", new Uint8Array(spki)),
  };
}

function extractSpkiDer(text: string): Uint8Array {
  if (text.length > MAX_PEM_LENGTH) {
    throw new PublicKeyError(
      "malformed",
      `Key text is longer than ${MAX_PEM_LENGTH} characters; paste one PEM public key`,
    );
  }
  const trimmed = text.trim();
  if (/^(ssh-|ecdsa-sha2-)/.test(trimmed)) {
    throw new PublicKeyError(
      "unsupported_format",
      "OpenSSH public key format is not supported; convert it with " +
        '"ssh-keygen -e -m PKCS8 -f key.pub" and paste the PEM',
    );
  }
  const blocks = decodePem(trimmed);
  const [block] = blocks;
  if (block === undefined) {
    throw new PublicKeyError(
      "not_pem",
      'Key is not PEM; paste a "-----BEGIN PUBLIC KEY-----" block',
    );
  }
  if (blocks.some(({ label }) => label.includes("PRIVATE KEY"))) {
    throw new PublicKeyError(
      "private_key",
      "This is a private key; paste the public key instead, and make a new " +
        "key pair since this one has left its owner",
    );
  }
  if (blocks.length > 1) {
    throw new PublicKeyError(
      "multiple_blocks",
      `Text holds ${blocks.length} PEM blocks; paste exactly one public key`,
    );
  }
  if (block.label === "RSA PUBLIC KEY") {
    throw new PublicKeyError(
      "unsupported_format",
      'PKCS#1 "RSA PUBLIC KEY" is not supported; convert it with ' +
        '"openssl rsa -RSAPublicKey_in -pubout" and paste the "PUBLIC KEY" PEM',
    );
  }
  if (block.label !== "PUBLIC KEY") {
    throw new PublicKeyError(
      "unsupported_format",
      `PEM block "${block.label}" is not a public key; paste a "-----BEGIN PUBLIC KEY-----" block`,
    );
  }
  if (block.der === null || block.der.length === 0) {
    throw new PublicKeyError("malformed", "PEM body is not valid base64");
  }
  return block.der;
}

// Reads just enough DER to name the key type: SEQUENCE { SEQUENCE { OID,
// params }, BIT STRING }. WebCrypto's import does the full validation.
function identifyAlgorithm(der: Uint8Array): UserKeyAlgorithm {
  const outer = readTlv(der, 0);
  const first = outer?.tag === 0x30 ? readTlv(der, outer.start) : null;
  if (first?.tag === 0x02) {
    // PKCS#8 starts with INTEGER 0 where SPKI starts with the AlgorithmIdentifier.
    throw new PublicKeyError(
      "private_key",
      "This is a private key under a PUBLIC KEY label; paste the public key " +
        "instead, and make a new key pair since this one has left its owner",
    );
  }
  const oid = first?.tag === 0x30 ? readTlv(der, first.start) : null;
  if (oid?.tag !== 0x06) {
    throw new PublicKeyError("malformed", "PEM body is not an SPKI public key");
  }
  const oidHex = bytesToHex(der.subarray(oid.start, oid.end));
  const name = OID_NAMES[oidHex];
  if (name === "RSA" || name === "Ed25519") return name;
  if (name === "EC") {
    const param = readTlv(der, oid.end);
    const curve = param?.tag === 0x06
      ? CURVE_NAMES[bytesToHex(der.subarray(param.start, param.end))]
      : undefined;
    throw new PublicKeyError(
      "unsupported_algorithm",
      `EC ${
        curve ?? "(unknown curve)"
      } keys are not supported; ${SUPPORTED_HINT}`,
    );
  }
  throw new PublicKeyError(
    "unsupported_algorithm",
    `${
      name ?? `Algorithm with OID hex "${oidHex}"`
    } keys are not supported; ${SUPPORTED_HINT}`,
  );
}

function readTlv(
  der: Uint8Array,
  offset: number,
): { tag: number; start: number; end: number } | null {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined) return null;
  let length = first;
  let start = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 3) return null;
    length = 0;
    for (let i = 0; i < count; i++) {
      const byte = der[start + i];
      if (byte === undefined) return null;
      length = length * 256 + byte;
    }
    start += count;
  }
  const end = start + length;
  return end > der.length ? null : { tag, start, end };
}

async function importOrReject(
  der: Uint8Array,
  algorithm: RsaHashedImportParams | Algorithm,
  usages: KeyUsage[],
): Promise<CryptoKey> {
  try {
    return await crypto.subtle.importKey(
      "spki",
      der as Uint8Array<ArrayBuffer>,
      algorithm,
      true,
      usages,
    );
  } catch (error) {
    throw new PublicKeyError(
      "malformed",
      `Public key does not import: ${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }
}

async function describe(
  algorithm: UserKeyAlgorithm,
  key: CryptoKey,
  extra: { modulusBits?: number },
): Promise<ParsedPublicKey> {
  // Re-export so the PEM and fingerprint do not depend on how it was pasted.
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", key));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", spki));
  return {
    algorithm,
    pem: encodePem("PUBLIC KEY", spki),
    fingerprint: bytesToBase64url(digest),
    ...extra,
  };
}
