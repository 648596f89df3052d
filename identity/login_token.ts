/**
 * Password-free login: Miranda encrypts a fresh random session token to the
 * user's RSA public key (RSA-OAEP with SHA-256); only the holder of the
 * private key can read it and send it back as a bearer token. The store keeps
 * only {@linkcode hashToken} of the bearer.
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  base64ToBytes,
  bytesToBase64,
  bytesToBase64url,
  decodePem,
  encodePem,
} from "./encoding.ts";
import { parsePublicKey, PublicKeyError } from "./keys.ts";

/** Length of a session token in bytes (256 bits). */
export const SESSION_TOKEN_BYTES = 32;

/** Modulus of the decoy key when the caller names none. */
export const DEFAULT_DECOY_MODULUS_BITS = 2048;

/** Why a login token could not be decrypted. */
export type LoginTokenFailure =
  | "not_rsa_private_key"
  | "malformed_ciphertext"
  | "decrypt_failed";

/** A login token did not decrypt (wrong key, damaged text, not an RSA key). */
export class LoginTokenError extends Error {
  override readonly name = "LoginTokenError";
  /** Machine-readable reason. */
  readonly reason: LoginTokenFailure;

  /** Creates the error with a user-facing `message`. */
  constructor(reason: LoginTokenFailure, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** A fresh session token: {@linkcode SESSION_TOKEN_BYTES} random bytes. */
export function newSessionToken(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(SESSION_TOKEN_BYTES));
}

/**
 * Encrypts `token` to a user's RSA public key with RSA-OAEP (SHA-256) and
 * returns standard base64. The ciphertext is as long as the modulus.
 *
 * @throws {PublicKeyError} when the PEM is not an acceptable RSA key (an
 * Ed25519 key cannot decrypt, so its user cannot log in this way).
 */
export async function encryptForUser(
  publicKeyPem: string,
  token: Uint8Array,
): Promise<string> {
  const parsed = await parsePublicKey(publicKeyPem);
  if (parsed.algorithm !== "RSA") {
    throw new PublicKeyError(
      "unsupported_algorithm",
      `${parsed.algorithm} keys cannot decrypt a login token; register an RSA key to log in`,
    );
  }
  const der = decodePem(parsed.pem)[0]?.der as Uint8Array<ArrayBuffer>;
  const key = await crypto.subtle.importKey(
    "spki",
    der,
    { name: "RSA-OAEP", hash: "SHA-256" },
    false,
    ["encrypt"],
  );
  const ciphertext = await crypto.subtle.encrypt(
    { name: "RSA-OAEP" },
    key,
    token as Uint8Array<ArrayBuffer>,
  );
  return bytesToBase64(new Uint8Array(ciphertext));
}

/**
 * Decrypts a login answer with the user's PKCS#8 RSA private key (the CLI's
 * half of the dance).
 *
 * @throws {LoginTokenError} when the key is not an RSA PKCS#8 key or the
 * ciphertext does not decrypt under it.
 */
export async function decryptWithPrivateKey(
  privateKeyPem: string,
  ciphertextBase64: string,
): Promise<Uint8Array> {
  const der = decodePem(privateKeyPem).find(({ label }) =>
    label === "PRIVATE KEY"
  )?.der;
  const key = der
    ? await crypto.subtle.importKey(
      "pkcs8",
      der as Uint8Array<ArrayBuffer>,
      { name: "RSA-OAEP", hash: "SHA-256" },
      false,
      ["decrypt"],
    ).catch(() => null)
    : null;
  if (key === null) {
    throw new LoginTokenError(
      "not_rsa_private_key",
      'Key is not an RSA "-----BEGIN PRIVATE KEY-----" (PKCS#8) block; ' +
        'convert a PKCS#1 key with "openssl pkcs8 -topk8 -nocrypt"',
    );
  }
  const ciphertext = base64ToBytes(ciphertextBase64.trim());
  if (ciphertext === null) {
    throw new LoginTokenError(
      "malformed_ciphertext",
      "Login answer is not base64",
    );
  }
  try {
    return new Uint8Array(
      await crypto.subtle.decrypt(
        { name: "RSA-OAEP" },
        key,
        ciphertext as Uint8Array<ArrayBuffer>,
      ),
    );
  } catch {
    throw new LoginTokenError(
      "decrypt_failed",
      "Login answer does not decrypt with this key; is it the key registered for this user?",
    );
  }
}

/** The bearer form of a session token: unpadded base64url. */
export function tokenToBearer(token: Uint8Array): string {
  return bytesToBase64url(token);
}

/**
 * The only form of a bearer token that is stored: SHA-256 of its UTF-8 text,
 * lower-case hex.
 *
 * A fast, unsalted hash is right here. Slow, salted hashes (argon2, bcrypt)
 * exist because passwords have little entropy, so a stolen hash can be
 * attacked by guessing candidates. These tokens are 256 uniformly random
 * bits: guessing is hopeless at any speed, and precomputed tables cannot
 * cover the space, so a salt and a work factor would add cost to every
 * request and no safety. Lookups go by the hash, so comparing never touches
 * the secret itself.
 */
export function hashToken(bearer: string): string {
  // Synchronous on purpose: this runs on every authenticated request, and a
  // WebCrypto digest is a round trip through the thread pool.
  return createHash("sha256").update(bearer, "utf8").digest("hex");
}

// One decoy public key per modulus size, made on first use and kept for the
// life of the process; its private key is never extractable nor kept.
const decoyKeys = new Map<number, Promise<string>>();

/**
 * A login answer for an unknown user: random bytes encrypted under a
 * per-process decoy RSA key of `modulusBits`, through the same code path as
 * {@linkcode encryptForUser}, so the answer has the same shape and similar
 * timing. Call it once at start-up so the first unknown login does not pay
 * for key generation.
 */
export async function decoyEncryption(
  options: { modulusBits?: number } = {},
): Promise<string> {
  const modulusBits = options.modulusBits ?? DEFAULT_DECOY_MODULUS_BITS;
  let pem = decoyKeys.get(modulusBits);
  if (pem === undefined) {
    pem = makeDecoyKey(modulusBits);
    decoyKeys.set(modulusBits, pem);
    pem.catch(() => decoyKeys.delete(modulusBits));
  }
  return encryptForUser(await pem, newSessionToken());
}

async function makeDecoyKey(modulusBits: number): Promise<string> {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSA-OAEP",
      modulusLength: modulusBits,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    false,
    ["encrypt", "decrypt"],
  );
  const spki = await crypto.subtle.exportKey("spki", pair.publicKey);
  return encodePem("PUBLIC KEY", new Uint8Array(spki));
}
