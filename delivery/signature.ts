/**
 * Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256>`
 * over `${id}.${timestamp}.${body}`, keyed by the base64 part of a
 * `whsec_…` secret. During a secret rotation both the current and the
 * previous secret sign, space-separated, as the scheme allows.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { base64ToBytes, bytesToBase64 } from "../identity/encoding.ts";
import type { SigningSecrets } from "../store/mod.ts";

/** Prefix of every signing secret. */
export const SECRET_PREFIX = "whsec_";
/** Random bytes in a new secret (Standard Webhooks asks for 24 to 64). */
export const SECRET_BYTES = 24;
/** Keys kept; the cache is cleared wholesale past it. */
const KEY_CACHE_LIMIT = 4096;
/** SHA-256's block size: HMAC pads (or first hashes) its key to it. */
const BLOCK_BYTES = 64;

/**
 * A key's HMAC-SHA-256 (RFC 2104) states after the first block: SHA-256 of
 * `key ⊕ ipad` and of `key ⊕ opad`, each copied per message. A message then
 * costs two copies, two updates and two digests — half of what a fresh
 * `createHmac` costs in Deno (`deno run -A bench/probes/hmac_costs.ts`).
 */
interface HmacKey {
  inner: Hash;
  outer: Hash;
}

const keyCache = new Map<string, HmacKey>();

/** A secret that is not `whsec_<base64>`. */
export class InvalidSecretError extends Error {
  override readonly name = "InvalidSecretError";
  /** Creates the error; the secret itself is never put in the message. */
  constructor(reason: string) {
    super(`Invalid signing secret: ${reason}`);
  }
}

/** A new random secret: `whsec_` + base64 of 24 random bytes. */
export function newSigningSecret(): string {
  return SECRET_PREFIX +
    bytesToBase64(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
}

/** The raw key bytes of `whsec_<base64>`; throws {@linkcode InvalidSecretError}. */
export function secretKeyBytes(secret: string): Uint8Array {
  if (!secret.startsWith(SECRET_PREFIX)) {
    throw new InvalidSecretError(`missing "${SECRET_PREFIX}" prefix`);
  }
  const bytes = base64ToBytes(secret.slice(SECRET_PREFIX.length));
  if (bytes === null) throw new InvalidSecretError("not base64");
  if (bytes.length === 0) throw new InvalidSecretError("empty key");
  return bytes;
}

function hmacKey(secret: string): HmacKey {
  let key = keyCache.get(secret);
  if (key === undefined) {
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
    let bytes = secretKeyBytes(secret);
    if (bytes.length > BLOCK_BYTES) {
      bytes = createHash("sha256").update(bytes).digest();
    }
    const padded = (pad: number) => {
      const block = new Uint8Array(BLOCK_BYTES).fill(pad);
      for (let i = 0; i < bytes.length; i++) block[i] = bytes[i]! ^ pad;
      return block;
    };
    key = {
      inner: createHash("sha256").update(padded(0x36)),
      outer: createHash("sha256").update(padded(0x5c)),
    };
    keyCache.set(secret, key);
  }
  return key;
}

/** Drops every signing key kept in memory (the node sealing). */
export function forgetSigningKeys(): void {
  keyCache.clear();
}

/** What one signature covers. */
export interface SignInput {
  /** `whsec_<base64>` secret. */
  secret: string;
  /** The `webhook-id` (the event id). */
  id: string;
  /** The `webhook-timestamp`, in whole seconds since the epoch. */
  timestamp: number;
  /** The exact body bytes sent. */
  body: Uint8Array;
}

/**
 * One signature: `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`;
 * throws {@linkcode InvalidSecretError} for a malformed secret.
 */
export function signWebhook(input: SignInput): string {
  const key = hmacKey(input.secret);
  const inner = key.inner.copy()
    .update(`${input.id}.${input.timestamp}.`)
    .update(input.body)
    .digest();
  return `v1,${key.outer.copy().update(inner).digest("base64")}`;
}

/**
 * The `webhook-signature` header value: the current secret's signature, then
 * the previous secret's while `now` (ms since the epoch) is before its
 * `until`, separated by a space.
 */
export function signatureHeader(
  secrets: SigningSecrets,
  input: Omit<SignInput, "secret"> & { now: number },
): string {
  const { now, ...content } = input;
  const current = signWebhook({ ...content, secret: secrets.current });
  if (secrets.previous === null || now >= secrets.previous.until) {
    return current;
  }
  return `${current} ${
    signWebhook({ ...content, secret: secrets.previous.secret })
  }`;
}
