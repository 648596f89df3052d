/**
 * Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256>`
 * over `${id}.${timestamp}.${body}`, keyed by the base64 part of a
 * `whsec_…` secret. During a secret rotation both the current and the
 * previous secret sign, space-separated, as the scheme allows.
 *
 * @module
 */

import { createHmac, createSecretKey, type KeyObject } from "node:crypto";
import { base64ToBytes, bytesToBase64 } from "../identity/encoding.ts";
import type { SigningSecrets } from "../store/mod.ts";

/** Prefix of every signing secret. */
export const SECRET_PREFIX = "whsec_";
/** Random bytes in a new secret (Standard Webhooks asks for 24 to 64). */
export const SECRET_BYTES = 24;
/** Imported keys kept; the cache is cleared wholesale past it. */
const KEY_CACHE_LIMIT = 4096;

// node:crypto: synchronous, so signing needs no promise and no async key
// import; in the delivery bench it measured the same as WebCrypto.
const keyCache = new Map<string, KeyObject>();

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

function hmacKey(secret: string): KeyObject {
  let key = keyCache.get(secret);
  if (key === undefined) {
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
    key = createSecretKey(secretKeyBytes(secret));
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
  const mac = createHmac("sha256", hmacKey(input.secret))
    .update(`${input.id}.${input.timestamp}.`)
    .update(input.body)
    .digest("base64");
  return `v1,${mac}`;
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
