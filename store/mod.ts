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
  /** Seals many records, each bound to its `ref`, in order (a batch's events). */
  sealMany(
    records: readonly { plaintext: Uint8Array; ref: RecordRef }[],
  ): Promise<Uint8Array[]>;
  open(ciphertext: Uint8Array, ref: RecordRef): Promise<Uint8Array>;
  /** The data key new records are sealed under. */
  readonly activeKeyId: number;
  /** True once its keys are gone (wiped): nothing may be opened, kept or not. */
  readonly sealed: boolean;
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

/** When a topic's publisher gets its answer. */
export type AckMode = "received" | "persisted" | "replicated";

/** A right a topic owner grants. */
export type GrantRight = "publish" | "subscribe";

/** One grant on a topic: `user:<name>` or `group:<name>` → rights. */
export interface TopicGrant {
  principal: string;
  rights: GrantRight[];
}

/** A topic as stored. */
export interface TopicRecord {
  id: string;
  name: string;
  owner: string;
  ack: AckMode;
  retentionMs: number;
  /** Per-topic body cap (never above the node's), or null for the node's. */
  maxBodyBytes: number | null;
  grants: TopicGrant[];
  createdAt: string;
  version: number;
}

/** The changeable settings of a topic. */
export interface TopicPatch {
  ack?: AckMode;
  retentionMs?: number;
  maxBodyBytes?: number | null;
  grants?: TopicGrant[];
}

/** What deleting a topic removed. */
export interface TopicDeletion {
  subscriptions: number;
  /** Undelivered (subscription, event) pairs dropped with them. */
  undelivered: number;
}

/** Topics, versioned. */
export interface TopicStore {
  create(
    topic: TopicRecord,
    change: ChangeContext,
  ): Promise<{ ok: true } | { ok: false; code: "exists" }>;
  get(name: string): Promise<TopicRecord | null>;
  getById(id: string): Promise<TopicRecord | null>;
  /** Every topic in name order. */
  list(): Promise<TopicRecord[]>;
  update(
    name: string,
    patch: TopicPatch,
    change: ChangeContext & { expectedVersion?: number },
  ): Promise<
    { ok: true; topic: TopicRecord } | {
      ok: false;
      code: "not_found" | "version_conflict";
    }
  >;
  /** Deletes the topic, its events and subscriptions (with their state). */
  delete(name: string): Promise<TopicDeletion | null>;
  versions(name: string): Promise<VersionRecord[]>;
}

/** What a subscriber does after a non-2xx answer. */
export interface FailurePolicy {
  mode: "retry" | "deadLetter";
  /** Attempts before dead-lettering (deadLetter mode). */
  maxAttempts: number;
}

/** Why a subscription is not delivering, or null when active. */
export type PauseReason = "manual" | "gone" | null;

/** A subscription as stored (its signing secrets are sealed apart). */
export interface SubscriptionRecord {
  id: string;
  topicId: string;
  owner: string;
  url: string;
  livenessUrl: string;
  ordered: boolean;
  maxInFlight: number;
  failurePolicy: FailurePolicy;
  record: "async" | "sync";
  timeoutMs: number;
  /** Extra headers sent with every delivery. */
  headers: Record<string, string>;
  paused: PauseReason;
  /**
   * May deliver to loopback and private addresses: set when an admin made the
   * subscription or last changed its URLs. The delivery client holds every
   * connection it opens to it (a name resolved again may have been rebound).
   */
  privateAllowed: boolean;
  createdAt: string;
  version: number;
}

/** The changeable settings of a subscription. */
export interface SubscriptionPatch {
  url?: string;
  livenessUrl?: string;
  ordered?: boolean;
  maxInFlight?: number;
  failurePolicy?: FailurePolicy;
  record?: "async" | "sync";
  timeoutMs?: number;
  headers?: Record<string, string>;
  paused?: PauseReason;
  privateAllowed?: boolean;
}

/** A subscription's signing secrets: the current one and, during a grace period, the previous. */
export interface SigningSecrets {
  current: string;
  previous: { secret: string; until: number } | null;
}

/** Subscriptions, versioned; secrets sealed (kind `subscription-secret`, id = subscription id). */
export interface SubscriptionStore {
  /** Creates the subscription; its cursor starts after the topic's newest event. */
  create(
    sub: SubscriptionRecord,
    secrets: SigningSecrets,
    change: ChangeContext,
  ): Promise<void>;
  get(id: string): Promise<SubscriptionRecord | null>;
  /** All subscriptions, or those of one topic or owner. */
  list(
    filter?: { topicId?: string; owner?: string },
  ): Promise<SubscriptionRecord[]>;
  update(
    id: string,
    patch: SubscriptionPatch,
    change: ChangeContext & { expectedVersion?: number },
  ): Promise<
    { ok: true; subscription: SubscriptionRecord } | {
      ok: false;
      code: "not_found" | "version_conflict";
    }
  >;
  /** Deletes it with its delivery state; null when absent, else how many events it had not delivered. */
  delete(id: string): Promise<{ undelivered: number } | null>;
  versions(id: string): Promise<VersionRecord[]>;
  secrets(id: string): Promise<SigningSecrets | null>;
  setSecrets(id: string, secrets: SigningSecrets): Promise<void>;
}

/** An event to append (id is a UUIDv7 made by the event actor). */
export interface NewEvent {
  id: string;
  topicId: string;
  method: "POST" | "PUT" | "DELETE";
  /** Path suffix after the topic name, starting with `/` or empty. */
  path: string;
  /** Query string without `?`, or empty. */
  query: string;
  contentType: string | null;
  /** Kept headers (the documented allow-list), sealed at rest with the body. */
  headers: Record<string, string>;
  body: Uint8Array;
  sender: string;
  /** Milliseconds since the epoch. */
  receivedAt: number;
  idempotencyKey: string | null;
}

/** An event as stored, with its log position. */
export interface EventRecord extends NewEvent {
  /** Position in the store's event log: increasing in commit order. */
  seq: number;
}

/** An event's metadata without headers and body (for listings). */
export type EventMeta = Omit<EventRecord, "headers" | "body">;

/** The event log. Headers and body are sealed (kind `event`, id = event id). */
export interface EventStore {
  /**
   * Appends a batch in one transaction (one fsync); resolves with the seq of
   * each, in order, once the commit is durable. `onVisible`, if given, is
   * called with the same seqs as soon as the commit can be read on this
   * node — before the flush to disk, so readers can start on the batch while
   * it is being made durable (the README's Ack modes say why delivery may
   * precede the 2xx). It must not throw: the commit would be reported failed.
   */
  append(
    events: readonly NewEvent[],
    onVisible?: (seqs: number[]) => void,
  ): Promise<number[]>;
  /** The id of an event with this idempotency key on the topic, received at or after `since`. */
  findByIdempotencyKey(
    topicId: string,
    key: string,
    since: number,
  ): Promise<string | null>;
  get(id: string): Promise<EventRecord | null>;
  /** Metadata of a topic's events after `afterSeq`, in seq order. */
  listMeta(
    topicId: string,
    afterSeq: number,
    limit: number,
  ): Promise<EventMeta[]>;
  /**
   * Full events of a topic after `afterSeq` (bodies opened), in seq order:
   * at most `limit`, and no more once those read hold `maxBytes` of stored
   * payload (at least one event), so that a page of large events stays
   * small. `more` is false only when no event of the topic follows the page.
   */
  read(
    topicId: string,
    afterSeq: number,
    limit: number,
    maxBytes?: number,
  ): Promise<{ events: EventRecord[]; more: boolean }>;
  /** Full events by seq (for replays), in seq order. */
  readSeqs(seqs: readonly number[]): Promise<EventRecord[]>;
  /**
   * Drops any decrypted events kept in memory (the node sealing). Stores
   * that keep none do nothing.
   */
  forgetOpened(): void;
  /** The newest seq of a topic, or 0. */
  lastSeq(topicId: string): Promise<number>;
  /**
   * Removes the topic's events received before `before`. Every subscription
   * that had not delivered one gets it in its failed list as `expired`.
   * Returns how many events were removed and how many (subscription, event)
   * pairs expired undelivered.
   */
  expire(
    topicId: string,
    before: number,
  ): Promise<{ removed: number; expiredUndelivered: number }>;
}

/** One delivered event. */
export interface DeliveryRecord {
  subscriptionId: string;
  seq: number;
  eventId: string;
  attemptId: string;
  attempts: number;
  /** Milliseconds since the epoch. */
  deliveredAt: number;
}

/** An event in a subscription's failed list. */
export interface FailedRecord {
  subscriptionId: string;
  seq: number;
  eventId: string;
  reason: "dead_letter" | "expired";
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  /** Milliseconds since the epoch. */
  failedAt: number;
  /** True once a replay was asked for and not yet delivered. */
  replaying: boolean;
}

/** Where a subscription stands in its topic's log. */
export interface DeliveryPosition {
  /** Every event with seq ≤ cursor is delivered or failed. */
  cursor: number;
  /** Seqs above the cursor already delivered or failed. */
  doneAbove: number[];
}

/** Per-subscription delivery state: cursor, deliveries, failed list, replays. */
export interface DeliveryStore {
  position(subscriptionId: string): Promise<DeliveryPosition>;
  /** Records deliveries (one transaction) and advances cursors. */
  recordDelivered(deliveries: readonly DeliveryRecord[]): Promise<void>;
  /** Puts an event in the failed list (dead letter) and advances the cursor past it. */
  recordFailed(failed: Omit<FailedRecord, "replaying">): Promise<void>;
  listDelivered(
    subscriptionId: string,
    afterSeq: number,
    limit: number,
  ): Promise<DeliveryRecord[]>;
  listFailed(
    subscriptionId: string,
    afterSeq: number,
    limit: number,
  ): Promise<FailedRecord[]>;
  /** Marks failed events for replay (all when `eventIds` is null); returns how many. */
  markReplay(
    subscriptionId: string,
    eventIds: readonly string[] | null,
  ): Promise<number>;
  /** Seqs marked for replay, oldest first. */
  replays(subscriptionId: string, limit: number): Promise<number[]>;
  /** Per-subscription state of one event, for `GET /api/v1/events/{id}`. */
  eventState(eventId: string): Promise<
    {
      subscriptionId: string;
      state: "pending" | "delivered" | "failed" | "expired";
      attempts: number;
      at: number | null;
    }[]
  >;
  /** Undelivered events of a subscription (for metrics and deletes). */
  backlog(subscriptionId: string): Promise<number>;
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
  readonly topics: TopicStore;
  readonly subscriptions: SubscriptionStore;
  readonly events: EventStore;
  readonly deliveries: DeliveryStore;
  readonly reencryption: ReencryptionStore;
  /**
   * Cheap check for `/readyz`: open, and its writes not failing (a full
   * disk, a read-only file system); `detail` says which.
   */
  health(): { ok: boolean; detail: string };
  close(): Promise<void>;
}
