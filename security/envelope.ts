/**
 * Envelope encryption for records at rest: the unsealed {@link Keyring}
 * seals and opens records with AES-256-GCM data keys and computes keyed
 * lookup hashes. Key material only ever lives in a Keyring; `wipe()` drops it.
 *
 * Sealed record layout (binary, big-endian):
 *
 * | bytes | field                                            |
 * | ----- | ------------------------------------------------ |
 * | 1     | format version, `0x01`                           |
 * | 4     | data key id (u32)                                |
 * | 12    | random nonce                                     |
 * | n+16  | AES-256-GCM ciphertext followed by its 16-byte tag |
 *
 * The associated data binds a record to its place: `u32 len(kind) ‖ kind ‖ id`
 * (UTF-8), so a ciphertext copied to another row or kind does not open.
 *
 * The data keys are WebCrypto keys (non-extractable); sealing and opening
 * run through `node:crypto` on the same keys (`KeyObject.from`), on the
 * calling thread. For records of a few hundred bytes that costs the
 * JavaScript thread what WebCrypto's `encrypt` does, a quarter less CPU in
 * all, and no wait for WebCrypto's thread pool (which, on a busy machine,
 * held group commits up; `bench/probes/seal_costs.ts`). Batches of
 * {@linkcode WORKER_BATCH_MIN} records or more ({@link Keyring.sealMany},
 * a group commit's events) are sealed on a worker thread instead
 * (`security/worker_sealer.ts`), which holds the data keys it was given
 * until the keyring is wiped.
 *
 * @module
 */

import { createDecipheriv, KeyObject } from "node:crypto";
import {
  HEADER_LENGTH,
  NONCE_OFFSET,
  SEALED_FORMAT_VERSION,
  sealedLength,
  sealRecordInto,
  TAG_LENGTH,
} from "./sealed_record.ts";
import { WorkerSealer, type WorkerSealerOptions } from "./worker_sealer.ts";

export { SEALED_FORMAT_VERSION };

/**
 * The fewest records {@link Keyring.sealMany} sends to the seal worker: a
 * round trip costs the calling thread about what sealing a handful does.
 */
export const WORKER_BATCH_MIN = 8;

/** Where a sealed record belongs; both parts are bound into the ciphertext. */
export interface RecordRef {
  /** Record kind, e.g. `"event"`, `"subscription-secret"`. */
  kind: string;
  /** Record id, unique within its kind. */
  id: string;
}

/** Why a record did not open. */
export type DecryptFailure =
  | "malformed"
  | "unsupported_version"
  | "unknown_key"
  | "authentication_failed";

/** A record did not open: tampered, misplaced, truncated or under an unknown key. */
export class DecryptError extends Error {
  /** Record kind the caller asked to open. */
  readonly kind: string;
  /** Record id the caller asked to open. */
  readonly id: string;
  /** Data key id named by the ciphertext, or null when the header is unreadable. */
  readonly keyId: number | null;
  /** Machine-readable reason. */
  readonly reason: DecryptFailure;

  /** Builds the error for one record. */
  constructor(
    ref: RecordRef,
    options: { keyId: number | null; reason: DecryptFailure },
  ) {
    super(
      `Cannot open ${JSON.stringify(ref.kind)} record ${
        JSON.stringify(ref.id)
      }: ${describeFailure(options.reason, options.keyId)}`,
    );
    this.name = "DecryptError";
    this.kind = ref.kind;
    this.id = ref.id;
    this.keyId = options.keyId;
    this.reason = options.reason;
  }
}

function describeFailure(reason: DecryptFailure, keyId: number | null): string {
  switch (reason) {
    case "malformed":
      return "ciphertext is truncated or not a sealed record";
    case "unsupported_version":
      return "ciphertext has an unsupported format version";
    case "unknown_key":
      return `data key ${keyId} is not in the keyring`;
    case "authentication_failed":
      return `authentication failed under data key ${keyId} (tampered, or sealed for another record)`;
  }
}

/** The keyring was wiped (the node is sealed): no key material is left. */
export class SealedError extends Error {
  /** The operation that was refused. */
  readonly operation: string;

  /** Builds the error for the refused operation. */
  constructor(operation: string) {
    super(
      `Keyring is sealed: cannot ${operation} until it is unsealed with the passphrase or key shares`,
    );
    this.name = "SealedError";
    this.operation = operation;
  }
}

/** The unwrapped keys a {@link Keyring} starts with. */
export interface KeyringMaterial {
  /** AES-256-GCM data keys by key id (non-extractable). */
  dataKeys: Map<number, CryptoKey>;
  /** Key id used for new seals; must be in `dataKeys`. */
  activeKeyId: number;
  /** HMAC-SHA-256 key for {@link Keyring.lookupHash} (non-extractable). */
  lookupKey: CryptoKey;
  /** AES-256-GCM root key that wraps the others (extractable, for re-keying). */
  rootKey: CryptoKey;
}

/** Unwrapped keys, shared by a keyring and the views made by rotation. */
interface VaultKeys {
  dataKeys: Map<number, CryptoKey>;
  /** The data keys as `node:crypto` key objects, made on first use. */
  cipherKeys: Map<number, KeyObject>;
  lookupKey: CryptoKey;
  rootKey: CryptoKey;
  sealCounts: Map<number, number>;
}

/** The one slot all views of a keyring share; `keys` is null once wiped. */
interface Vault {
  keys: VaultKeys | null;
  /** The seal worker's client, made by the first batch big enough. */
  sealer: WorkerSealer | null;
  sealerOptions: WorkerSealerOptions;
}

/** A record for {@link Keyring.sealMany}. */
export interface SealRequest {
  plaintext: Uint8Array;
  ref: RecordRef;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Cached `u32 len(kind) ‖ kind` prefixes: kinds are few, ids are not. */
const kindPrefixes = new Map<string, Uint8Array>();
const KIND_CACHE_LIMIT = 256;

function kindPrefix(kind: string): Uint8Array {
  let prefix = kindPrefixes.get(kind);
  if (prefix === undefined) {
    const bytes = encoder.encode(kind);
    prefix = new Uint8Array(4 + bytes.length);
    new DataView(prefix.buffer).setUint32(0, bytes.length);
    prefix.set(bytes, 4);
    if (kindPrefixes.size >= KIND_CACHE_LIMIT) kindPrefixes.clear();
    kindPrefixes.set(kind, prefix);
  }
  return prefix;
}

/**
 * Canonical encoding of a kind and a value: `u32 len(kind) ‖ kind ‖ value`.
 * The length prefix keeps `("ab", "c")` and `("a", "bc")` apart.
 */
export function encodeRecordRef(
  kind: string,
  value: string,
): Uint8Array<ArrayBuffer> {
  const prefix = kindPrefix(kind);
  const out = new Uint8Array(prefix.length + value.length * 3);
  out.set(prefix);
  const { written } = encoder.encodeInto(value, out.subarray(prefix.length));
  return out.subarray(0, prefix.length + written);
}

/**
 * The data key id a sealed record names, without opening it; null when the
 * bytes are not a sealed record. Lets a re-encryption job find old records.
 */
export function keyIdOf(ciphertext: Uint8Array): number | null {
  if (
    ciphertext.length < HEADER_LENGTH + TAG_LENGTH ||
    ciphertext[0] !== SEALED_FORMAT_VERSION
  ) return null;
  return readU32(ciphertext, 1);
}

/** The `node:crypto` form of data key `keyId`; undefined when unknown. */
function cipherKey(keys: VaultKeys, keyId: number): KeyObject | undefined {
  let key = keys.cipherKeys.get(keyId);
  if (key === undefined) {
    const webKey = keys.dataKeys.get(keyId);
    if (webKey === undefined) return undefined;
    key = KeyObject.from(webKey);
    keys.cipherKeys.set(keyId, key);
  }
  return key;
}

function countSeals(keys: VaultKeys, keyId: number, count: number): void {
  keys.sealCounts.set(keyId, (keys.sealCounts.get(keyId) ?? 0) + count);
}

function readU32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) |
    (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

/**
 * Unsealed key material in memory. Built by `security/keyfile.ts`
 * (`createKeyfile`, `unlockWithPassphrase`, `unlockWithShares`).
 */
export class Keyring {
  #vault: Vault;
  readonly #activeKeyId: number;

  /**
   * Takes ownership of unwrapped keys; the active key must be among them.
   * `sealWorker` is for tests (another worker module).
   */
  constructor(
    material: KeyringMaterial,
    options: { sealWorker?: WorkerSealerOptions } = {},
  ) {
    if (!material.dataKeys.has(material.activeKeyId)) {
      throw new RangeError(
        `Active data key ${material.activeKeyId} is not among the data keys`,
      );
    }
    this.#vault = {
      keys: {
        dataKeys: material.dataKeys,
        cipherKeys: new Map(),
        lookupKey: material.lookupKey,
        rootKey: material.rootKey,
        sealCounts: new Map(),
      },
      sealer: null,
      sealerOptions: options.sealWorker ?? {},
    };
    this.#activeKeyId = material.activeKeyId;
  }

  /** Key id that new seals use. */
  get activeKeyId(): number {
    return this.#activeKeyId;
  }

  /** Ids of every data key this keyring can open, ascending. */
  get keyIds(): number[] {
    return [...this.#open("list keys").dataKeys.keys()].sort((a, b) => a - b);
  }

  /** True after {@link Keyring.wipe}. */
  get sealed(): boolean {
    return this.#vault.keys === null;
  }

  /**
   * Seals made under the active key since this process unsealed. Random
   * 96-bit nonces stay safe up to 2^32 seals per key (NIST SP 800-38D):
   * rotate well before that, e.g. past 2^30, counted over every node.
   */
  get sealsUnderActiveKey(): number {
    return this.#open("count seals").sealCounts.get(this.#activeKeyId) ?? 0;
  }

  /** Encrypts one record under the active key, bound to `aad`. */
  seal(
    plaintext: Uint8Array,
    aad: RecordRef,
  ): Promise<Uint8Array<ArrayBuffer>> {
    try {
      return Promise.resolve(this.#seal(plaintext, aad));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Encrypts many records under the active key, each bound to its `ref`:
   * {@link Keyring.seal} for each, on a worker thread when there are
   * {@linkcode WORKER_BATCH_MIN} or more and the worker is ready (here while
   * it starts, and when it fails).
   * Rejects with {@link SealedError} when the keyring is wiped first.
   */
  sealMany(
    records: readonly SealRequest[],
  ): Promise<Uint8Array<ArrayBuffer>[]> {
    try {
      const keys = this.#open("seal");
      const keyId = this.#activeKeyId;
      countSeals(keys, keyId, records.length);
      if (records.length < WORKER_BATCH_MIN) {
        return Promise.resolve(this.#sealHere(keys, records));
      }
      const vault = this.#vault;
      const sealer = vault.sealer ??= new WorkerSealer(vault.sealerOptions);
      if (!sealer.ready) {
        // Not while it starts: this batch, and the commits behind it,
        // would wait for an isolate to start.
        sealer.warm();
        return Promise.resolve(this.#sealHere(keys, records));
      }
      const jobs = records.map(({ plaintext, ref }) => ({
        plaintext,
        aad: encodeRecordRef(ref.kind, ref.id),
      }));
      return sealer.seal(keyId, keys.dataKeys.get(keyId)!, jobs).catch(
        () => this.#sealHere(this.#open("seal"), records),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #seal(plaintext: Uint8Array, aad: RecordRef): Uint8Array<ArrayBuffer> {
    const keys = this.#open("seal");
    countSeals(keys, this.#activeKeyId, 1);
    return this.#sealHere(keys, [{ plaintext, ref: aad }])[0]!;
  }

  /** Seals on this thread under the active key (already counted). */
  #sealHere(
    keys: VaultKeys,
    records: readonly SealRequest[],
  ): Uint8Array<ArrayBuffer>[] {
    const keyId = this.#activeKeyId;
    const key = cipherKey(keys, keyId)!;
    return records.map(({ plaintext, ref }) => {
      const out = new Uint8Array(sealedLength(plaintext.length));
      sealRecordInto(
        out,
        keyId,
        key,
        plaintext,
        encodeRecordRef(ref.kind, ref.id),
      );
      return out;
    });
  }

  /** Decrypts a record sealed for `aad`; throws {@link DecryptError} otherwise. */
  open(
    ciphertext: Uint8Array,
    aad: RecordRef,
  ): Promise<Uint8Array<ArrayBuffer>> {
    try {
      return Promise.resolve(this.#openRecord(ciphertext, aad));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #openRecord(
    ciphertext: Uint8Array,
    aad: RecordRef,
  ): Uint8Array<ArrayBuffer> {
    const keys = this.#open("open");
    if (ciphertext.length < HEADER_LENGTH + TAG_LENGTH) {
      throw new DecryptError(aad, { keyId: null, reason: "malformed" });
    }
    if (ciphertext[0] !== SEALED_FORMAT_VERSION) {
      throw new DecryptError(aad, {
        keyId: null,
        reason: "unsupported_version",
      });
    }
    const keyId = readU32(ciphertext, 1);
    const key = cipherKey(keys, keyId);
    if (key === undefined) {
      throw new DecryptError(aad, { keyId, reason: "unknown_key" });
    }
    const tagAt = ciphertext.length - TAG_LENGTH;
    try {
      const decipher = createDecipheriv(
        "aes-256-gcm",
        key,
        ciphertext.subarray(NONCE_OFFSET, HEADER_LENGTH),
      );
      decipher.setAAD(encodeRecordRef(aad.kind, aad.id));
      decipher.setAuthTag(ciphertext.subarray(tagAt));
      const out = new Uint8Array(tagAt - HEADER_LENGTH);
      const body = decipher.update(ciphertext.subarray(HEADER_LENGTH, tagAt));
      out.set(body);
      out.set(decipher.final(), body.length);
      return out;
    } catch {
      throw new DecryptError(aad, { keyId, reason: "authentication_failed" });
    }
  }

  /** {@link Keyring.seal} for UTF-8 text. */
  sealString(text: string, aad: RecordRef): Promise<Uint8Array<ArrayBuffer>> {
    return this.seal(encoder.encode(text), aad);
  }

  /** {@link Keyring.open} for UTF-8 text sealed with {@link Keyring.sealString}. */
  async openString(ciphertext: Uint8Array, aad: RecordRef): Promise<string> {
    return decoder.decode(await this.open(ciphertext, aad));
  }

  /**
   * Keyed hash for equality lookups (e.g. e-mails): base64url of
   * HMAC-SHA-256(lookup key, `u32 len(kind) ‖ kind ‖ value`). Stable for the
   * life of the keyfile; the same value under another kind hashes apart.
   */
  async lookupHash(kind: string, value: string): Promise<string> {
    const keys = this.#open("compute a lookup hash");
    const mac = await crypto.subtle.sign(
      "HMAC",
      keys.lookupKey,
      encodeRecordRef(kind, value),
    );
    return new Uint8Array(mac).toBase64({
      alphabet: "base64url",
      omitPadding: true,
    });
  }

  /**
   * The root key, for keyfile operations only (wrapping secrets, rotation,
   * re-keying). Throws {@link SealedError} after a wipe.
   */
  rootKey(): CryptoKey {
    return this.#open("use the root key").rootKey;
  }

  /**
   * A keyring sharing this one's key material, with `key` added as `keyId`
   * and active for new seals. Wiping either one seals both. Used by
   * `rotateDataKey`, which persists the keyfile before the caller swaps.
   */
  withActiveKey(keyId: number, key: CryptoKey): Keyring {
    const keys = this.#open("rotate the data key");
    if (keys.dataKeys.has(keyId)) {
      throw new RangeError(`Data key ${keyId} already exists`);
    }
    keys.dataKeys.set(keyId, key);
    const next = new Keyring({ ...keys, activeKeyId: keyId });
    next.#vault = this.#vault;
    return next;
  }

  /** Drops every key reference at once (seal). Later calls throw {@link SealedError}. */
  wipe(): void {
    this.#vault.keys?.dataKeys.clear();
    this.#vault.keys?.cipherKeys.clear();
    this.#vault.keys = null;
    this.#vault.sealer?.close(new SealedError("seal"));
    this.#vault.sealer = null;
  }

  /** Whether a seal worker runs now (for tests and probes). */
  get sealWorkerRunning(): boolean {
    return this.#vault.sealer?.running ?? false;
  }

  /** Whether the seal worker takes batches now (for tests and probes). */
  get sealWorkerReady(): boolean {
    return this.#vault.sealer?.ready ?? false;
  }

  /** Batches sealed on a seal worker so far (for tests and probes). */
  get sealWorkerBatches(): number {
    return this.#vault.sealer?.batches ?? 0;
  }

  #open(operation: string): VaultKeys {
    const keys = this.#vault.keys;
    if (keys === null) throw new SealedError(operation);
    return keys;
  }
}
