/**
 * The sealed record layout and the one function that writes it, shared by
 * the keyring (`security/envelope.ts`, which documents the layout) and the
 * seal worker (`security/seal_worker.ts`).
 *
 * @module
 */

import { createCipheriv, type KeyObject } from "node:crypto";

/** Version byte of the sealed record layout. */
export const SEALED_FORMAT_VERSION = 1;
/** Version, key id and nonce. */
export const HEADER_LENGTH = 1 + 4 + 12;
/** Where the 12-byte nonce starts. */
export const NONCE_OFFSET = 5;
/** The AES-GCM tag after the ciphertext. */
export const TAG_LENGTH = 16;

/** The length of the sealed record of a plaintext of `length` bytes. */
export function sealedLength(length: number): number {
  return HEADER_LENGTH + length + TAG_LENGTH;
}

/**
 * Seals `plaintext` under `key` (data key `keyId`) with a fresh random nonce,
 * bound to the encoded record reference `aad`, into `out`, which must be
 * exactly {@linkcode sealedLength} bytes.
 */
export function sealRecordInto(
  out: Uint8Array,
  keyId: number,
  key: KeyObject,
  plaintext: Uint8Array,
  aad: Uint8Array,
): void {
  out[0] = SEALED_FORMAT_VERSION;
  out[1] = keyId >>> 24;
  out[2] = (keyId >>> 16) & 0xff;
  out[3] = (keyId >>> 8) & 0xff;
  out[4] = keyId & 0xff;
  const nonce = crypto.getRandomValues(
    out.subarray(NONCE_OFFSET, HEADER_LENGTH),
  );
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  out.set(body, HEADER_LENGTH);
  // GCM is a stream mode: `update` gave every byte, `final` gives none.
  out.set(cipher.final(), HEADER_LENGTH + body.length);
  out.set(cipher.getAuthTag(), HEADER_LENGTH + plaintext.length);
}
