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

/** The changeable fields of a user. */
export interface UserPatch {
  roles?: string[];
  groups?: string[];
  emailHash?: string | null;
}

/** Who made a change and under which request, for versions and the audit log. */
export interface ChangeContext {
  actor: string;
  requestId: string;
  time: string;
}

/** Cursor pagination: items after `after` (exclusive), at most `limit`. */
export interface Page {
  after?: string;
  limit: number;
}

/** Users and their keys. Every change writes a new version (snapshot). */
export interface UserStore {
  /** Creates a user with a first key; `exists` when the name is taken, `email_taken` when the hash is. */
  create(
    user: UserRecord,
    key: UserKeyRecord,
    change?: ChangeContext,
  ): Promise<{ ok: true } | { ok: false; code: "exists" | "email_taken" }>;
  get(name: string): Promise<UserRecord | null>;
  /** Users by name, in name order. */
  list(page: Page): Promise<UserRecord[]>;
  findByEmailHash(hash: string): Promise<UserRecord | null>;
  /** Applies a patch as a new version; `version_conflict` when `expectedVersion` is stale. */
  update(
    name: string,
    patch: UserPatch,
    change: ChangeContext & { expectedVersion?: number },
  ): Promise<
    | { ok: true; user: UserRecord }
    | { ok: false; code: "not_found" | "version_conflict" | "email_taken" }
  >;
  /** Deletes the user with their keys, sessions and agent tokens; false when absent. */
  delete(name: string): Promise<boolean>;
  /** Every version of the user's settings, oldest first. */
  versions(name: string): Promise<VersionRecord[]>;
  keys(name: string): Promise<UserKeyRecord[]>;
  /** Adds a key; false when the user does not exist. */
  addKey(key: UserKeyRecord): Promise<boolean>;
  /** Revokes (deletes) one key; false when absent. */
  revokeKey(name: string, keyId: string): Promise<boolean>;
}

/** One version of a resource's settings. */
export interface VersionRecord {
  version: number;
  time: string;
  actor: string;
  requestId: string;
  /** The settings as they were at this version. */
  snapshot: unknown;
}

/** A named group of users (membership lives on the user). */
export interface GroupRecord {
  name: string;
  description: string;
  createdAt: string;
}

/** Groups. */
export interface GroupStore {
  create(
    group: GroupRecord,
  ): Promise<{ ok: true } | { ok: false; code: "exists" }>;
  get(name: string): Promise<GroupRecord | null>;
  list(): Promise<GroupRecord[]>;
  /**
   * Deletes the group and removes it from every user, as a new version of
   * each member made by `change` (`system` when absent); false when absent.
   */
  delete(name: string, change?: ChangeContext): Promise<boolean>;
}

/** A login session; only the token's hash is stored. */
export interface SessionRecord {
  tokenHash: string;
  userName: string;
  createdAt: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/** Sessions, valid on every node that shares the store. */
export interface SessionStore {
  create(session: SessionRecord): Promise<void>;
  /** The session if it exists and has not expired at `now`. */
  get(tokenHash: string, now: number): Promise<SessionRecord | null>;
  /** Slides the expiry; false when the session is gone or expired. */
  extend(tokenHash: string, expiresAt: number, now: number): Promise<boolean>;
  delete(tokenHash: string): Promise<boolean>;
  /** Removes sessions expired at `now`; returns how many. */
  sweep(now: number): Promise<number>;
}

/** A long-lived agent token bound to a user and a scope subset; stored hashed. */
export interface AgentTokenRecord {
  id: string;
  tokenHash: string;
  userName: string;
  scopes: string[];
  description: string;
  createdAt: string;
  createdBy: string;
  /** Milliseconds since the epoch, or null for no expiry. */
  expiresAt: number | null;
}

/** Agent tokens. */
export interface AgentTokenStore {
  create(token: AgentTokenRecord): Promise<void>;
  getByHash(tokenHash: string): Promise<AgentTokenRecord | null>;
  list(userName?: string): Promise<AgentTokenRecord[]>;
  /** Revokes (deletes) a token; false when absent. */
  revoke(id: string): Promise<boolean>;
}

/** One immutable audit record. */
export interface AuditRecord {
  /** Store-assigned, increasing; the pagination cursor. */
  seq: number;
  time: string;
  /** Who acted: a user name, or `anonymous`, or `system`. */
  actor: string;
  action: string;
  /** What was acted on, e.g. `user:alice`, `node`. */
  resource: string;
  requestId: string;
  result: "ok" | "denied" | "failed";
  /** The resource's new version, when the action made one. */
  version: number | null;
  /** Extra facts (never secrets). */
  detail: Record<string, unknown>;
}

/** Filters of an audit listing; all optional, combined with AND. */
export interface AuditQuery {
  resource?: string;
  actor?: string;
  /** ISO times, inclusive. */
  since?: string;
  until?: string;
  /** Records with `seq` greater than this. */
  afterSeq?: number;
  limit: number;
}

/** The append-only audit log. There is no update and no delete but retention. */
export interface AuditStore {
  append(record: Omit<AuditRecord, "seq">): Promise<number>;
  list(query: AuditQuery): Promise<AuditRecord[]>;
  /** Drops records older than `before` (retention); returns how many. */
  prune(before: string): Promise<number>;
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
  readonly groups: GroupStore;
  readonly sessions: SessionStore;
  readonly agentTokens: AgentTokenStore;
  readonly audit: AuditStore;
  readonly reencryption: ReencryptionStore;
  /** Cheap liveness check for `/readyz`. */
  healthy(): boolean;
  close(): Promise<void>;
}
