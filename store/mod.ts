/**
 * The store's interfaces, one per aggregate, all async so that the embedded
 * SQLite store and the Postgres store fit them alike. Every implementation
 * passes the one conformance suite in `tests/store/`.
 *
 * Records that are not public are sealed through a {@linkcode Cipher} (the
 * security core's keyring) before they reach the store, with the record's
 * kind and id bound as associated data.
 *
 * @module
 */

import type { RecordRef } from "../security/envelope.ts";

/** The encryption API the stores use: the unsealed keyring, or an error when sealed. */
export interface Cipher {
  seal(plaintext: Uint8Array, ref: RecordRef): Promise<Uint8Array>;
  open(ciphertext: Uint8Array, ref: RecordRef): Promise<Uint8Array>;
  /** The data key new records are sealed under. */
  readonly activeKeyId: number;
}

/** Named node secrets (the CA private key, signing keys), sealed at rest. */
export interface SecretStore {
  put(name: string, plaintext: Uint8Array): Promise<void>;
  get(name: string): Promise<Uint8Array | null>;
}

/** A user as stored. E-mail only as a keyed hash. */
export interface UserRecord {
  name: string;
  roles: string[];
  groups: string[];
  emailHash: string | null;
  createdAt: string;
  version: number;
}

/** A user's public key (PEM), one of possibly several. */
export interface UserKeyRecord {
  id: string;
  userName: string;
  publicKeyPem: string;
  algorithm: "RSA" | "Ed25519";
  createdAt: string;
}

/** Users and their keys. */
export interface UserStore {
  /** Creates a user with a first key; `exists` when the name is taken. */
  create(
    user: UserRecord,
    key: UserKeyRecord,
  ): Promise<{ ok: true } | { ok: false; code: "exists" }>;
  get(name: string): Promise<UserRecord | null>;
  keys(name: string): Promise<UserKeyRecord[]>;
}

/** One sealed value found under a data key other than the active one. */
export interface SealedCell {
  /** The registered encrypted column it lives in. */
  column: string;
  ref: RecordRef;
  ciphertext: Uint8Array;
}

/** What the data-key rotation job needs: find and swap sealed cells. */
export interface ReencryptionStore {
  /** Up to `limit` sealed cells not under `activeKeyId`. */
  underOtherKeys(activeKeyId: number, limit: number): Promise<SealedCell[]>;
  /** Replaces a cell if it still holds `old`; false when it changed meanwhile. */
  replace(
    cell: SealedCell,
    ciphertext: Uint8Array,
    keyId: number,
  ): Promise<boolean>;
  /** How many sealed cells exist per data key id. */
  countByKey(): Promise<Map<number, number>>;
}

/** One store: every aggregate, and a close. */
export interface Store extends AsyncDisposable {
  readonly kind: "sqlite" | "postgres";
  readonly secrets: SecretStore;
  readonly users: UserStore;
  readonly reencryption: ReencryptionStore;
  /** Cheap liveness check for `/readyz`. */
  healthy(): boolean;
  close(): Promise<void>;
}
