/**
 * The on-disk key hierarchy (`keyring.json` in the data dir), Vault-like:
 *
 * - a random 256-bit **root key**, stored only wrapped (AES-256-GCM, AAD
 *   `miranda/root`) under a KEK derived from the operator's passphrase with
 *   Argon2id (algorithm, parameters and salt recorded in the file), and split
 *   into k-of-n Shamir shares handed out once at creation;
 * - under the root key: the data keys (by u32 id, one active), the HMAC
 *   lookup key, and named secrets (CA key, JWT signing key…), each wrapped
 *   with AES-256-GCM and an AAD naming its entry, so entries cannot be swapped.
 *
 * Every function is pure over plain JSON data; {@link readKeyfile} and
 * {@link writeKeyfile} do the file work (mode 0600, atomic replace).
 *
 * @module
 */

import { dirname } from "node:path";
import { deriveArgon2id } from "./argon2.ts";
import { combine, split } from "shamir-secret-sharing";
import { z } from "zod";
import { Keyring } from "./envelope.ts";

/** Argon2id parameters recorded in the keyfile. */
export interface KdfParams {
  /** Always `"argon2id"` for now; recorded so it can change later. */
  algorithm: "argon2id";
  /** Argon2 version number (0x13). */
  version: 19;
  /** Memory cost in KiB. */
  memoryKiB: number;
  /** Time cost (passes). */
  iterations: number;
  /** Lanes. */
  parallelism: number;
  /** Random 16-byte salt, base64url. */
  salt: string;
}

/** Cost parameters a caller may choose; the rest is fixed or random. */
export interface KdfCost {
  /** Memory cost in KiB. */
  memoryKiB: number;
  /** Time cost (passes). */
  iterations: number;
  /** Lanes. */
  parallelism: number;
}

/** Default Argon2id cost: m = 19 MiB, t = 2, p = 1 (OWASP's minimum). */
export const DEFAULT_KDF: Readonly<KdfCost> = Object.freeze({
  memoryKiB: 19 * 1024,
  iterations: 2,
  parallelism: 1,
});

/** Default Shamir split: any 3 of 5 shares rebuild the root key. */
export const DEFAULT_SHARES: Readonly<ShareScheme> = Object.freeze({
  threshold: 3,
  count: 5,
});

/** Shortest passphrase accepted when creating or re-keying. */
export const MIN_PASSPHRASE_LENGTH = 8;

/** How the root key was split. */
export interface ShareScheme {
  /** Shares needed to rebuild the root key (k). */
  threshold: number;
  /** Shares handed out (n). */
  count: number;
}

/** A data key wrapped under the root key. */
export interface WrappedDataKey {
  /** u32 id written into every record sealed under this key. */
  id: number;
  /** ISO 8601 creation time. */
  createdAt: string;
  /** base64url of nonce ‖ ciphertext ‖ tag (AAD `miranda/data-key/<id>`). */
  wrapped: string;
}

/** A named secret wrapped under the root key. */
export interface WrappedSecret {
  /** ISO 8601 time of the last write. */
  createdAt: string;
  /** base64url of nonce ‖ ciphertext ‖ tag (AAD `miranda/secret/<name>`). */
  wrapped: string;
}

/** Contents of `keyring.json`: plain JSON, binary fields base64url. */
export interface KeyfileJson {
  /** Always `"miranda-keyring"`. */
  format: "miranda-keyring";
  /** Layout version of this file. */
  version: 1;
  /** Random id of this key hierarchy (12 hex digits), printed in every share. */
  fingerprint: string;
  /** ISO 8601 creation time. */
  createdAt: string;
  /** How the passphrase becomes the KEK. */
  kdf: KdfParams;
  /** The root key wrapped under the KEK: base64url nonce ‖ ciphertext ‖ tag. */
  root: string;
  /** The Shamir split of the root key. */
  shares: ShareScheme;
  /** Data keys; `active` is used for new seals. */
  dataKeys: { active: number; keys: WrappedDataKey[] };
  /** The HMAC lookup key wrapped under the root key (AAD `miranda/lookup-key`). */
  lookupKey: string;
  /** Named secrets by name. */
  secrets: Record<string, WrappedSecret>;
}

// ---------------------------------------------------------------- errors

/** The passphrase does not unwrap the root key. */
export class WrongPassphraseError extends Error {
  /** Fingerprint of the keyfile that refused the passphrase. */
  readonly fingerprint: string;

  /** Builds the error for one keyfile. */
  constructor(fingerprint: string) {
    super(
      `Passphrase does not unlock keyring "${fingerprint}" (wrong passphrase, or keyring.json is damaged)`,
    );
    this.name = "WrongPassphraseError";
    this.fingerprint = fingerprint;
  }
}

/** A new passphrase is too short. */
export class WeakPassphraseError extends Error {
  /** Minimum length in characters. */
  readonly minLength: number;

  /** Builds the error. */
  constructor(minLength: number) {
    super(`Passphrase must be at least ${minLength} characters long`);
    this.name = "WeakPassphraseError";
    this.minLength = minLength;
  }
}

/** `keyring.json` does not have the expected shape. */
export class KeyfileFormatError extends Error {
  /** One line per problem, each naming the field. */
  readonly issues: string[];

  /** Builds the error from the problems found. */
  constructor(issues: string[]) {
    super(`Keyfile is not a valid keyring.json: ${issues.join("; ")}`);
    this.name = "KeyfileFormatError";
    this.issues = issues;
  }
}

/** An entry under the root key does not unwrap although the root key is right. */
export class KeyfileCorruptError extends Error {
  /** Fingerprint of the keyfile. */
  readonly fingerprint: string;
  /** The entry that failed, e.g. `data-key/2`, `lookup-key`, `secret/ca-key`. */
  readonly entry: string;

  /** Builds the error for one entry. */
  constructor(fingerprint: string, entry: string) {
    super(
      `Keyring "${fingerprint}" entry "${entry}" does not unwrap: keyring.json is damaged or was edited`,
    );
    this.name = "KeyfileCorruptError";
    this.fingerprint = fingerprint;
    this.entry = entry;
  }
}

/** A keyring was used with a keyfile whose root key it does not hold. */
export class KeyfileMismatchError extends Error {
  /** Fingerprint of the keyfile. */
  readonly fingerprint: string;

  /** Builds the error for one keyfile. */
  constructor(fingerprint: string) {
    super(`Keyring does not hold the root key of keyfile "${fingerprint}"`);
    this.name = "KeyfileMismatchError";
    this.fingerprint = fingerprint;
  }
}

/** Base class of every share problem; `instanceof ShareError` catches them all. */
export class ShareError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "ShareError";
  }
}

/** A share string is not a Miranda share, or was mistyped (checksum). */
export class MalformedShareError extends ShareError {
  /** What is wrong with it. */
  readonly reason: "syntax" | "checksum";

  /** Builds the error. */
  constructor(reason: "syntax" | "checksum") {
    super(
      reason === "syntax"
        ? `Share is not of the form "miranda-share-<n>-<fingerprint>-<data>"`
        : `Share checksum does not match: it was mistyped or truncated`,
    );
    this.name = "MalformedShareError";
    this.reason = reason;
  }
}

/** A share belongs to another keyfile (another `init`). */
export class ForeignShareError extends ShareError {
  /** Fingerprint of this keyfile. */
  readonly expected: string;
  /** Fingerprint printed in the share. */
  readonly actual: string;

  /** Builds the error. */
  constructor(expected: string, actual: string) {
    super(
      `Share belongs to keyring "${actual}", not to this keyring "${expected}"`,
    );
    this.name = "ForeignShareError";
    this.expected = expected;
    this.actual = actual;
  }
}

/** Fewer distinct shares than the threshold. */
export class NotEnoughSharesError extends ShareError {
  /** Distinct valid shares given. */
  readonly given: number;
  /** Shares needed. */
  readonly threshold: number;

  /** Builds the error. */
  constructor(given: number, threshold: number) {
    super(`Need ${threshold} distinct shares to unseal, got ${given}`);
    this.name = "NotEnoughSharesError";
    this.given = given;
    this.threshold = threshold;
  }
}

/** Well-formed shares that do not rebuild the root key: forged or inconsistent. */
export class InvalidSharesError extends ShareError {
  /** Fingerprint of the keyfile. */
  readonly fingerprint: string;

  /** Builds the error. */
  constructor(fingerprint: string, detail: string) {
    super(
      `Shares do not rebuild the root key of keyring "${fingerprint}": ${detail}`,
    );
    this.name = "InvalidSharesError";
    this.fingerprint = fingerprint;
  }
}

// ---------------------------------------------------------------- encoding

const encoder = new TextEncoder();

function b64(bytes: Uint8Array | ArrayBuffer): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return view.toBase64({ alphabet: "base64url", omitPadding: true });
}

function unb64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.fromBase64(text, { alphabet: "base64url" });
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// ---------------------------------------------------------------- schema

const B64URL = /^[A-Za-z0-9_-]+$/;
const SECRET_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const ISO_TIME = z.string().min(1);

const keyfileSchema = z.object({
  format: z.literal("miranda-keyring"),
  version: z.literal(1),
  fingerprint: z.string().regex(/^[0-9a-f]{12}$/),
  createdAt: ISO_TIME,
  kdf: z.object({
    algorithm: z.literal("argon2id"),
    version: z.literal(19),
    memoryKiB: z.number().int().min(8).max(4 * 1024 * 1024),
    iterations: z.number().int().min(1).max(64),
    parallelism: z.number().int().min(1).max(16),
    salt: z.string().regex(B64URL).min(22),
  }),
  root: z.string().regex(B64URL),
  shares: z.object({
    threshold: z.number().int().min(2).max(255),
    count: z.number().int().min(2).max(255),
  }),
  dataKeys: z.object({
    active: z.number().int().min(1).max(0xffffffff),
    keys: z.array(z.object({
      id: z.number().int().min(1).max(0xffffffff),
      createdAt: ISO_TIME,
      wrapped: z.string().regex(B64URL),
    })).min(1),
  }),
  lookupKey: z.string().regex(B64URL),
  secrets: z.record(
    z.string().regex(SECRET_NAME),
    z.object({ createdAt: ISO_TIME, wrapped: z.string().regex(B64URL) }),
  ),
}).refine((k) => k.dataKeys.keys.some((d) => d.id === k.dataKeys.active), {
  message: "active data key is not among the keys",
  path: ["dataKeys", "active"],
});

/** Validates parsed JSON as a keyfile; throws {@link KeyfileFormatError}. */
export function parseKeyfile(value: unknown): KeyfileJson {
  const result = keyfileSchema.safeParse(value);
  if (!result.success) {
    throw new KeyfileFormatError(
      result.error.issues.map((i) =>
        `${i.path.join(".") || "(root)"}: ${i.message}`
      ),
    );
  }
  return result.data as KeyfileJson;
}

/** Reads and validates `keyring.json`. */
export async function readKeyfile(path: string): Promise<KeyfileJson> {
  const text = await Deno.readTextFile(path);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new KeyfileFormatError([`not JSON: ${String(error)}`]);
  }
  return parseKeyfile(value);
}

/**
 * Writes `keyring.json` durably: a 0600 temporary file beside it, fsync,
 * rename over the old one, fsync the directory. Persist a rotated keyfile
 * with this before sealing anything under the new key.
 */
export async function writeKeyfile(
  path: string,
  keyfile: KeyfileJson,
): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  const bytes = encoder.encode(JSON.stringify(keyfile, null, 2) + "\n");
  try {
    using file = await Deno.open(tmp, {
      write: true,
      createNew: true,
      mode: 0o600,
    });
    let offset = 0;
    while (offset < bytes.length) {
      offset += await file.write(bytes.subarray(offset));
    }
    await file.sync();
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
  await Deno.rename(tmp, path);
  using dir = await Deno.open(dirname(path));
  await dir.sync();
}

// ---------------------------------------------------------------- wrapping

const GCM_NONCE = 12;
const ROOT_AAD = encoder.encode("miranda/root");
const LOOKUP_AAD = encoder.encode("miranda/lookup-key");
const ROOT_USAGES: KeyUsage[] = ["wrapKey", "unwrapKey", "encrypt", "decrypt"];

function dataKeyAad(id: number): Uint8Array<ArrayBuffer> {
  return encoder.encode(`miranda/data-key/${id}`);
}

function secretAad(name: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(`miranda/secret/${name}`);
}

function gcm(
  nonce: Uint8Array<ArrayBuffer>,
  aad: Uint8Array<ArrayBuffer>,
): AesGcmParams {
  return { name: "AES-GCM", iv: nonce, additionalData: aad };
}

async function wrapKey(
  key: CryptoKey,
  wrappingKey: CryptoKey,
  aad: Uint8Array<ArrayBuffer>,
): Promise<string> {
  const nonce = crypto.getRandomValues(new Uint8Array(GCM_NONCE));
  const params = gcm(nonce, aad);
  return b64(
    concat(
      nonce,
      new Uint8Array(
        await crypto.subtle.wrapKey("raw", key, wrappingKey, params),
      ),
    ),
  );
}

/** Unwraps a key; resolves null when authentication fails. */
async function unwrapKey(
  wrapped: string,
  wrappingKey: CryptoKey,
  options: {
    aad: Uint8Array<ArrayBuffer>;
    algorithm: AesKeyAlgorithm | HmacImportParams;
    extractable: boolean;
    usages: KeyUsage[];
  },
): Promise<CryptoKey | null> {
  try {
    const bytes = unb64(wrapped);
    const params = gcm(bytes.subarray(0, GCM_NONCE), options.aad);
    return await crypto.subtle.unwrapKey(
      "raw",
      bytes.subarray(GCM_NONCE),
      wrappingKey,
      params,
      options.algorithm,
      options.extractable,
      options.usages,
    );
  } catch {
    return null;
  }
}

function unwrapRootWith(
  wrapped: string,
  kek: CryptoKey,
): Promise<CryptoKey | null> {
  return unwrapKey(wrapped, kek, {
    aad: ROOT_AAD,
    algorithm: { name: "AES-GCM", length: 256 },
    extractable: true,
    usages: ROOT_USAGES,
  });
}

function unwrapDataKey(
  entry: WrappedDataKey,
  root: CryptoKey,
): Promise<CryptoKey | null> {
  return unwrapKey(entry.wrapped, root, {
    aad: dataKeyAad(entry.id),
    algorithm: { name: "AES-GCM", length: 256 },
    extractable: false,
    usages: ["encrypt", "decrypt"],
  });
}

function unwrapLookupKey(
  keyfile: KeyfileJson,
  root: CryptoKey,
): Promise<CryptoKey | null> {
  return unwrapKey(keyfile.lookupKey, root, {
    aad: LOOKUP_AAD,
    algorithm: { name: "HMAC", hash: "SHA-256", length: 256 },
    extractable: false,
    usages: ["sign"],
  });
}

async function newDataKey(
  id: number,
  root: CryptoKey,
): Promise<{ entry: WrappedDataKey; key: CryptoKey }> {
  const fresh = await crypto.subtle.generateKey(
    { name: "AES-GCM", length: 256 },
    true,
    ["encrypt", "decrypt"],
  );
  const entry = {
    id,
    createdAt: new Date().toISOString(),
    wrapped: await wrapKey(fresh, root, dataKeyAad(id)),
  };
  // Unwrapping again yields a non-extractable copy and proves the entry opens.
  const key = await unwrapDataKey(entry, root);
  if (key === null) throw new Error(`Fresh data key ${id} does not unwrap`);
  return { entry, key };
}

async function deriveKek(
  passphrase: string,
  kdf: KdfParams,
): Promise<CryptoKey> {
  const raw = await deriveArgon2id({
    password: passphrase.normalize("NFC"),
    salt: unb64(kdf.salt),
    memoryKiB: kdf.memoryKiB,
    iterations: kdf.iterations,
    parallelism: kdf.parallelism,
    hashLength: 32,
  });
  try {
    return await crypto.subtle.importKey(
      "raw",
      raw as Uint8Array<ArrayBuffer>,
      "AES-GCM",
      false,
      ["wrapKey", "unwrapKey"],
    );
  } finally {
    raw.fill(0);
  }
}

function newKdfParams(cost: KdfCost | undefined): KdfParams {
  const { memoryKiB, iterations, parallelism } = cost ?? DEFAULT_KDF;
  return {
    algorithm: "argon2id",
    version: 19,
    memoryKiB,
    iterations,
    parallelism,
    salt: b64(crypto.getRandomValues(new Uint8Array(16))),
  };
}

function checkNewPassphrase(passphrase: string): void {
  if ([...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw new WeakPassphraseError(MIN_PASSPHRASE_LENGTH);
  }
}

async function wrapRoot(
  root: CryptoKey,
  passphrase: string,
  cost: KdfCost | undefined,
): Promise<{ kdf: KdfParams; root: string }> {
  const kdf = newKdfParams(cost);
  const kek = await deriveKek(passphrase, kdf);
  return { kdf, root: await wrapKey(root, kek, ROOT_AAD) };
}

/** Unwraps everything under a known-good root key into a Keyring. */
async function loadKeyring(
  keyfile: KeyfileJson,
  root: CryptoKey,
): Promise<Keyring> {
  const lookupKey = await unwrapLookupKey(keyfile, root);
  if (lookupKey === null) {
    throw new KeyfileCorruptError(keyfile.fingerprint, "lookup-key");
  }
  const dataKeys = new Map<number, CryptoKey>();
  for (const entry of keyfile.dataKeys.keys) {
    const key = await unwrapDataKey(entry, root);
    if (key === null) {
      throw new KeyfileCorruptError(
        keyfile.fingerprint,
        `data-key/${entry.id}`,
      );
    }
    dataKeys.set(entry.id, key);
  }
  return new Keyring({
    dataKeys,
    activeKeyId: keyfile.dataKeys.active,
    lookupKey,
    rootKey: root,
  });
}

/** The keyring's root key, checked against the keyfile (via its lookup key). */
async function rootOf(
  keyfile: KeyfileJson,
  keyring: Keyring,
): Promise<CryptoKey> {
  const root = keyring.rootKey();
  if ((await unwrapLookupKey(keyfile, root)) === null) {
    throw new KeyfileMismatchError(keyfile.fingerprint);
  }
  return root;
}

// ---------------------------------------------------------------- shares

const SHARE_PATTERN =
  /^miranda-share-(\d{1,3})-([0-9a-f]{12})-([A-Za-z0-9_-]+)$/;
const SHARE_BYTES = 33;
const CHECKSUM_BYTES = 4;

/** A decoded share: its printed number and the Shamir share bytes. */
interface ParsedShare {
  index: number;
  fingerprint: string;
  bytes: Uint8Array;
}

async function shareChecksum(
  fingerprint: string,
  index: number,
  bytes: Uint8Array,
): Promise<Uint8Array> {
  const label = encoder.encode(`miranda-share/${fingerprint}/${index}/`);
  const digest = await crypto.subtle.digest("SHA-256", concat(label, bytes));
  return new Uint8Array(digest, 0, CHECKSUM_BYTES);
}

async function formatShare(
  fingerprint: string,
  index: number,
  bytes: Uint8Array,
): Promise<string> {
  const sum = await shareChecksum(fingerprint, index, bytes);
  return `miranda-share-${index}-${fingerprint}-${b64(concat(bytes, sum))}`;
}

async function parseShare(share: string): Promise<ParsedShare> {
  const match = SHARE_PATTERN.exec(share.trim());
  if (match === null) throw new MalformedShareError("syntax");
  const index = Number(match[1]);
  const fingerprint = match[2]!;
  let payload: Uint8Array;
  try {
    payload = unb64(match[3]!);
  } catch {
    throw new MalformedShareError("syntax");
  }
  if (payload.length !== SHARE_BYTES + CHECKSUM_BYTES) {
    throw new MalformedShareError("checksum");
  }
  const bytes = payload.slice(0, SHARE_BYTES);
  const sum = await shareChecksum(fingerprint, index, bytes);
  if (!sum.every((b, i) => b === payload[SHARE_BYTES + i])) {
    throw new MalformedShareError("checksum");
  }
  return { index, fingerprint, bytes };
}

async function parseOwnShare(
  keyfile: KeyfileJson,
  share: string,
): Promise<ParsedShare> {
  const parsed = await parseShare(share);
  if (parsed.fingerprint !== keyfile.fingerprint) {
    throw new ForeignShareError(keyfile.fingerprint, parsed.fingerprint);
  }
  return parsed;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Rebuilds the root key from distinct own shares and unwraps the keyring. */
async function keyringFromShares(
  keyfile: KeyfileJson,
  shares: ParsedShare[],
): Promise<Keyring> {
  const { threshold } = keyfile.shares;
  if (shares.length < threshold) {
    throw new NotEnoughSharesError(shares.length, threshold);
  }
  let raw: Uint8Array;
  try {
    raw = await combine(shares.map((s) => s.bytes));
  } catch (error) {
    throw new InvalidSharesError(
      keyfile.fingerprint,
      `they are inconsistent (${
        error instanceof Error ? error.message : String(error)
      })`,
    );
  }
  let root: CryptoKey;
  try {
    root = await crypto.subtle.importKey(
      "raw",
      raw as Uint8Array<ArrayBuffer>,
      "AES-GCM",
      true,
      ROOT_USAGES,
    );
  } finally {
    raw.fill(0);
  }
  try {
    return await loadKeyring(keyfile, root);
  } catch (error) {
    if (error instanceof KeyfileCorruptError && error.entry === "lookup-key") {
      throw new InvalidSharesError(
        keyfile.fingerprint,
        "a share is forged or belongs to another split (or keyring.json is damaged)",
      );
    }
    throw error;
  }
}

function checkShareScheme(scheme: ShareScheme): void {
  const { threshold, count } = scheme;
  if (
    !Number.isInteger(threshold) || !Number.isInteger(count) ||
    threshold < 2 || count < threshold || count > 255
  ) {
    throw new RangeError(
      `Share scheme must satisfy 2 <= threshold <= count <= 255, got ${threshold} of ${count}`,
    );
  }
}

// ---------------------------------------------------------------- API

/** What {@link createKeyfile} returns; hand each share to a different person. */
export interface CreatedKeyfile {
  /** Write this to `keyring.json`. */
  keyfile: KeyfileJson;
  /** Printable shares: `miranda-share-<n>-<fingerprint>-<data>`. */
  shares: string[];
  /** The unsealed keyring, ready to use. */
  keyring: Keyring;
}

/**
 * Creates a new key hierarchy: root key, first data key (id 1), lookup key;
 * wraps the root under the passphrase and splits it into shares.
 */
export async function createKeyfile(
  passphrase: string,
  options: { shares?: ShareScheme; kdf?: KdfCost } = {},
): Promise<CreatedKeyfile> {
  checkNewPassphrase(passphrase);
  const scheme = options.shares ?? DEFAULT_SHARES;
  checkShareScheme(scheme);
  const fingerprint = hex(crypto.getRandomValues(new Uint8Array(6)));
  const raw = crypto.getRandomValues(new Uint8Array(32));
  let root: CryptoKey;
  let printed: string[];
  try {
    root = await crypto.subtle.importKey(
      "raw",
      raw,
      "AES-GCM",
      true,
      ROOT_USAGES,
    );
    const parts = await split(raw, scheme.count, scheme.threshold);
    printed = await Promise.all(
      parts.map((bytes, i) => formatShare(fingerprint, i + 1, bytes)),
    );
    for (const part of parts) part.fill(0);
  } finally {
    raw.fill(0);
  }
  const wrappedRoot = await wrapRoot(root, passphrase, options.kdf);
  const lookup = await crypto.subtle.generateKey(
    { name: "HMAC", hash: "SHA-256", length: 256 },
    true,
    ["sign"],
  );
  const first = await newDataKey(1, root);
  const keyfile: KeyfileJson = {
    format: "miranda-keyring",
    version: 1,
    fingerprint,
    createdAt: first.entry.createdAt,
    kdf: wrappedRoot.kdf,
    root: wrappedRoot.root,
    shares: { threshold: scheme.threshold, count: scheme.count },
    dataKeys: { active: 1, keys: [first.entry] },
    lookupKey: await wrapKey(lookup, root, LOOKUP_AAD),
    secrets: {},
  };
  return {
    keyfile,
    shares: printed,
    keyring: await loadKeyring(keyfile, root),
  };
}

/** Unseals with the passphrase; throws {@link WrongPassphraseError}. */
export async function unlockWithPassphrase(
  keyfile: KeyfileJson,
  passphrase: string,
): Promise<Keyring> {
  const kek = await deriveKek(passphrase, keyfile.kdf);
  const root = await unwrapRootWith(keyfile.root, kek);
  if (root === null) throw new WrongPassphraseError(keyfile.fingerprint);
  return await loadKeyring(keyfile, root);
}

/**
 * Unseals with k shares at once. Throws {@link MalformedShareError},
 * {@link ForeignShareError}, {@link NotEnoughSharesError} (duplicates count
 * once) or {@link InvalidSharesError}.
 */
export async function unlockWithShares(
  keyfile: KeyfileJson,
  shares: string[],
): Promise<Keyring> {
  const progress = new UnsealProgress(keyfile);
  try {
    for (const share of shares) await progress.add(share);
    return await progress.unlock();
  } finally {
    progress.reset();
  }
}

/** Progress of a share-by-share unseal. */
export interface UnsealStatus {
  /** Distinct valid shares collected. */
  progress: number;
  /** Shares needed. */
  threshold: number;
  /** True once `progress >= threshold`: call `unlock()`. */
  complete: boolean;
  /** True when this share had already been given (it did not count). */
  duplicate: boolean;
}

/**
 * Collects shares one call at a time (e.g. one per `POST /unseal`). Each
 * share is checked (syntax, checksum, fingerprint) as it arrives; identical
 * shares count once. `unlock()` resets the collection when the shares do
 * not rebuild the root key, so the operators can start over.
 */
export class UnsealProgress {
  readonly #keyfile: KeyfileJson;
  #shares: ParsedShare[] = [];

  /** Starts an empty collection for one keyfile. */
  constructor(keyfile: KeyfileJson) {
    this.#keyfile = keyfile;
  }

  /** Adds one share; throws a {@link ShareError} subclass for a bad share. */
  async add(share: string): Promise<UnsealStatus> {
    const parsed = await parseOwnShare(this.#keyfile, share);
    const duplicate = this.#shares.some((s) =>
      sameBytes(s.bytes, parsed.bytes)
    );
    if (!duplicate) this.#shares.push(parsed);
    return { ...this.status(), duplicate };
  }

  /** Current progress without adding anything. */
  status(): Omit<UnsealStatus, "duplicate"> {
    const threshold = this.#keyfile.shares.threshold;
    const progress = this.#shares.length;
    return { progress, threshold, complete: progress >= threshold };
  }

  /** Rebuilds the root key from the collected shares and unwraps the keyring. */
  async unlock(): Promise<Keyring> {
    try {
      return await keyringFromShares(this.#keyfile, this.#shares);
    } catch (error) {
      if (error instanceof InvalidSharesError) this.reset();
      throw error;
    }
  }

  /** Forgets (and zeroes) every collected share. */
  reset(): void {
    for (const share of this.#shares) share.bytes.fill(0);
    this.#shares = [];
  }
}

/**
 * Re-wraps the root key under a new passphrase (new salt; `kdf` may raise
 * the cost). Everything under the root, shares included, stays valid.
 */
export async function rekey(
  keyfile: KeyfileJson,
  options: {
    /** The current passphrase, or an unsealed keyring of this keyfile. */
    current: string | Keyring;
    /** The passphrase to wrap the root key under from now on. */
    newPassphrase: string;
    /** KDF cost for the new wrap; defaults to {@link DEFAULT_KDF}. */
    kdf?: KdfCost;
  },
): Promise<KeyfileJson> {
  const { current, newPassphrase } = options;
  checkNewPassphrase(newPassphrase);
  let root: CryptoKey;
  if (typeof current === "string") {
    const kek = await deriveKek(current, keyfile.kdf);
    const unwrapped = await unwrapRootWith(keyfile.root, kek);
    if (unwrapped === null) throw new WrongPassphraseError(keyfile.fingerprint);
    root = unwrapped;
  } else {
    root = await rootOf(keyfile, current);
  }
  const wrapped = await wrapRoot(root, newPassphrase, options.kdf);
  return { ...keyfile, kdf: wrapped.kdf, root: wrapped.root };
}

/**
 * Adds a new data key (id = highest + 1) and makes it active. Returns the
 * new keyfile and a keyring view using it; the old keyring keeps sealing
 * under the old key and both open everything. Persist the keyfile
 * ({@link writeKeyfile}) before swapping in the new keyring.
 */
export async function rotateDataKey(
  keyfile: KeyfileJson,
  keyring: Keyring,
): Promise<{ keyfile: KeyfileJson; keyring: Keyring }> {
  const root = await rootOf(keyfile, keyring);
  const id = Math.max(...keyfile.dataKeys.keys.map((k) => k.id)) + 1;
  if (id > 0xffffffff) throw new RangeError("Data key ids are exhausted");
  const { entry, key } = await newDataKey(id, root);
  return {
    keyfile: {
      ...keyfile,
      dataKeys: { active: id, keys: [...keyfile.dataKeys.keys, entry] },
    },
    keyring: keyring.withActiveKey(id, key),
  };
}

function checkSecretName(name: string): void {
  if (!SECRET_NAME.test(name)) {
    throw new RangeError(
      `Secret name ${JSON.stringify(name)} must match ${SECRET_NAME.source}`,
    );
  }
}

/** Stores `bytes` under `name`, wrapped by the root key (replaces any old value). */
export async function wrapSecret(
  keyfile: KeyfileJson,
  keyring: Keyring,
  options: { name: string; bytes: Uint8Array },
): Promise<KeyfileJson> {
  checkSecretName(options.name);
  const root = await rootOf(keyfile, keyring);
  const nonce = crypto.getRandomValues(new Uint8Array(GCM_NONCE));
  const sealed = await crypto.subtle.encrypt(
    gcm(nonce, secretAad(options.name)),
    root,
    options.bytes as Uint8Array<ArrayBuffer>,
  );
  const entry: WrappedSecret = {
    createdAt: new Date().toISOString(),
    wrapped: b64(concat(nonce, new Uint8Array(sealed))),
  };
  return { ...keyfile, secrets: { ...keyfile.secrets, [options.name]: entry } };
}

/** The secret stored under `name`, or null when there is none. */
export async function unwrapSecret(
  keyfile: KeyfileJson,
  keyring: Keyring,
  options: { name: string },
): Promise<Uint8Array<ArrayBuffer> | null> {
  const { name } = options;
  checkSecretName(name);
  if (!Object.hasOwn(keyfile.secrets, name)) return null;
  const root = await rootOf(keyfile, keyring);
  try {
    const bytes = unb64(keyfile.secrets[name]!.wrapped);
    return new Uint8Array(
      await crypto.subtle.decrypt(
        gcm(bytes.subarray(0, GCM_NONCE), secretAad(name)),
        root,
        bytes.subarray(GCM_NONCE),
      ),
    );
  } catch {
    throw new KeyfileCorruptError(keyfile.fingerprint, `secret/${name}`);
  }
}
