/**
 * The event pipeline on the embedded store: topics, subscriptions, the
 * shared event log and each subscription's delivery state.
 *
 * The log is one table for every topic; `seq` increases in commit order.
 * Fan-out copies nothing: a subscription keeps a cursor (every event of its
 * topic at or below it is delivered or failed) plus the delivered and failed
 * rows above it. Event headers and body are sealed together as one cell
 * (kind `event`, id = event id); subscription secrets as one cell (kind
 * `subscription-secret`, id = subscription id).
 *
 * Sealing and opening are asynchronous and happen outside transactions;
 * everything that touches the database is synchronous and runs inside one
 * `BEGIN IMMEDIATE` transaction per call, so a cursor advance cannot race an
 * append: while it holds the write lock no event can take a smaller seq.
 *
 * @module
 */

import { nextVersion, versionWriter } from "./versions.ts";
import type { WalSync } from "./wal_sync.ts";
import { OpenedEvents } from "./opened_events.ts";
import type {
  DatabaseSync,
  SQLInputValue,
  SQLOutputValue,
  StatementSync,
} from "node:sqlite";
import type {
  Cipher,
  DeliveryRecord,
  DeliveryStore,
  EventMeta,
  EventRecord,
  EventStore,
  FailedRecord,
  NewEvent,
  SigningSecrets,
  SubscriptionRecord,
  SubscriptionStore,
  TopicRecord,
  TopicStore,
  VersionRecord,
} from "../mod.ts";

/** The record kind of an event's sealed headers and body. */
export const EVENT_KIND = "event";

/** The record kind of a subscription's sealed signing secrets. */
export const SUBSCRIPTION_SECRET_KIND = "subscription-secret";

const TOPIC_KIND = "topic";
const SUBSCRIPTION_KIND = "subscription";

/** Events examined per step of a cursor advance. */
const WALK_PAGE = 512;

/**
 * Steps per advance: a longer run of done events is finished by the next
 * record call (the cursor is a lower bound; rows above it stay exact).
 */
const WALK_MAX_PAGES = 64;

type Row = Record<string, SQLOutputValue>;

/** The four pipeline stores. */
export interface PipelineStores {
  topics: TopicStore;
  subscriptions: SubscriptionStore;
  events: EventStore;
  deliveries: DeliveryStore;
}

/**
 * Runs a function in one write transaction, rolling back when it throws;
 * `walBytes` is about how much it may write to the WAL, when it may write
 * more than a few pages (see `wal_reserve.ts`).
 */
export type Transaction = <T>(fn: () => T, walBytes?: number) => T;

/** WAL pages an event's row and its index entries take, beside its payload. */
const PAGES_PER_EVENT = 4;
const PAGE_BYTES = 4096;

/** Events one retention step removes at most (see `events.expire`). */
export const EXPIRE_STEP_EVENTS = 2_000;
/** About how much of the WAL such a step may write, for `wal_reserve.ts`. */
const EXPIRE_STEP_WAL_BYTES = 8 * 1024 * 1024;

/** About how many WAL bytes inserting events with these payloads writes. */
function walBytesOf(payloads: readonly Uint8Array[]): number {
  let bytes = 0;
  for (const payload of payloads) {
    bytes += payload.byteLength + PAGES_PER_EVENT * PAGE_BYTES;
  }
  // Overflow pages hold a little less than a page each; frames carry headers.
  return Math.ceil(bytes * 1.1);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Builds the pipeline stores on an open database; statements are prepared here, once. */
export function pipelineStores(
  db: DatabaseSync,
  cipher: () => Cipher,
  transaction: Transaction,
  walSync: WalSync,
): PipelineStores {
  const sql = preparePipeline(db);

  const writeVersion = versionWriter(db);

  function lastSeq(topicId: string): number {
    const row = sql.lastSeq.get(topicId);
    return row ? Number(row["seq"]) : 0;
  }

  function backlog(subscriptionId: string): number {
    const position = sql.position.get(subscriptionId);
    if (!position) return 0;
    const row = sql.backlog.get(
      text(position["topic_id"]),
      Number(position["cursor"]),
      subscriptionId,
    );
    return Number(row?.["n"] ?? 0);
  }

  /**
   * Moves the cursor to the largest seq S such that every event of the topic
   * with cursor < seq ≤ S is done, walking the topic's events in seq order
   * from the cursor and stopping at the first one not done. Seqs between the
   * topic's events belong to other topics (or to removed events), so the
   * cursor may stop just below the first pending event.
   */
  function advance(subscriptionId: string): void {
    const position = sql.position.get(subscriptionId);
    if (!position) return;
    const topicId = text(position["topic_id"]);
    const cursor = Number(position["cursor"]);
    let next = cursor;
    for (let page = 0; page < WALK_MAX_PAGES; page++) {
      // Stepped, not fetched whole: a walk usually stops at its first row
      // (an event still in flight), and `all()` would compute all 512.
      let rows = 0;
      let blocked = false;
      for (
        const row of sql.walk.iterate(subscriptionId, topicId, next, WALK_PAGE)
      ) {
        rows++;
        const seq = Number(row["seq"]);
        if (!row["done"]) {
          next = seq - 1;
          blocked = true;
          break;
        }
        next = seq;
      }
      if (blocked || rows < WALK_PAGE) break;
    }
    if (next > cursor) sql.setCursor.run(next, subscriptionId);
  }

  /** Removes a subscription and its delivery state; how many events it had not delivered. */
  function removeSubscription(id: string): number {
    const undelivered = backlog(id);
    sql.deleteSubscriptionDeliveries.run(id);
    sql.deleteSubscriptionFailed.run(id);
    sql.deletePosition.run(id);
    sql.deleteVersions.run(SUBSCRIPTION_KIND, id);
    sql.deleteSubscription.run(id);
    return undelivered;
  }

  const opened = new OpenedEvents();

  /** Keeps a committed batch decrypted: its couriers read it next. */
  function keepAppended(batch: readonly NewEvent[], seqs: number[]): void {
    let c: Cipher;
    try {
      c = cipher();
    } catch {
      return; // Sealed since the batch was sealed: nothing is kept.
    }
    if (c.sealed) return;
    batch.forEach((event, i) => opened.set(c, { ...event, seq: seqs[i]! }));
  }

  // Opens under way by seq: couriers that fan one event out read it in the
  // same turn, before the first open has finished and been kept.
  const opening = new Map<number, { c: Cipher; event: Promise<EventRecord> }>();

  function openEvent(c: Cipher, row: Row): Promise<EventRecord> {
    const seq = Number(row["seq"]);
    // A wiped keyring serves nothing kept: its `open` below refuses.
    if (!c.sealed) {
      const kept = opened.get(c, seq);
      if (kept !== undefined) return Promise.resolve(kept);
      const running = opening.get(seq);
      if (running?.c === c) return running.event;
    }
    const event = (async () => {
      const meta = eventMetaFromRow(row);
      const plaintext = await c.open(row["payload"] as Uint8Array, {
        kind: EVENT_KIND,
        id: meta.id,
      });
      const record = { ...meta, ...decodePayload(plaintext, meta.id) };
      // Sealed while it was opened: the seal's forgetOpened has run.
      if (!c.sealed) opened.set(c, record);
      return record;
    })();
    opening.set(seq, { c, event });
    const done = () => {
      if (opening.get(seq)?.event === event) opening.delete(seq);
    };
    event.then(done, done);
    return event;
  }

  async function openEvents(rows: Row[]): Promise<EventRecord[]> {
    if (rows.length === 0) return [];
    // Asked first: it throws while the node is sealed, kept events or not.
    const c = cipher();
    return await Promise.all(rows.map((row) => openEvent(c, row)));
  }

  async function sealSecrets(
    id: string,
    secrets: SigningSecrets,
  ): Promise<{ keyId: number; ciphertext: Uint8Array }> {
    const c = cipher();
    const ciphertext = await c.seal(encoder.encode(JSON.stringify(secrets)), {
      kind: SUBSCRIPTION_SECRET_KIND,
      id,
    });
    return { keyId: c.activeKeyId, ciphertext };
  }

  const topics: TopicStore = {
    create: (topic, change) =>
      settle(() =>
        transaction(() => {
          if (sql.topicByName.get(topic.name) || sql.topicById.get(topic.id)) {
            return { ok: false, code: "exists" } as const;
          }
          const first = { ...topic, version: 1 };
          sql.insertTopic.run(
            first.id,
            first.name,
            first.owner,
            first.ack,
            first.retentionMs,
            first.maxBodyBytes,
            JSON.stringify(first.grants),
            first.createdAt,
            first.version,
          );
          writeVersion({
            kind: TOPIC_KIND,
            id: first.id,
            version: first.version,
            change: change,
            snapshot: topicSnapshot(first),
          });
          return { ok: true } as const;
        })
      ),
    get: (name) =>
      settle(() => {
        const row = sql.topicByName.get(name);
        return row ? topicFromRow(row) : null;
      }),
    getById: (id) =>
      settle(() => {
        const row = sql.topicById.get(id);
        return row ? topicFromRow(row) : null;
      }),
    list: () => settle(() => sql.listTopics.all().map(topicFromRow)),
    update: (name, patch, change) =>
      settle(() =>
        transaction(() => {
          const row = sql.topicByName.get(name);
          const versioned = nextVersion(
            row ? topicFromRow(row) : null,
            patch,
            change.expectedVersion,
          );
          if (!versioned.ok) return versioned;
          const next = versioned.next;
          sql.updateTopic.run(
            next.ack,
            next.retentionMs,
            next.maxBodyBytes,
            JSON.stringify(next.grants),
            next.version,
            next.id,
          );
          writeVersion({
            kind: TOPIC_KIND,
            id: next.id,
            version: next.version,
            change: change,
            snapshot: topicSnapshot(next),
          });
          return { ok: true, topic: next } as const;
        })
      ),
    delete: (name) =>
      settle(() =>
        transaction(() => {
          const row = sql.topicByName.get(name);
          if (!row) return null;
          const id = text(row["id"]);
          const subscriptionIds = sql.subscriptionIdsOfTopic.all(id).map((r) =>
            text(r["id"])
          );
          let undelivered = 0;
          for (const subscriptionId of subscriptionIds) {
            undelivered += removeSubscription(subscriptionId);
          }
          sql.deleteTopicEvents.run(id);
          sql.deleteVersions.run(TOPIC_KIND, id);
          sql.deleteTopic.run(id);
          return { subscriptions: subscriptionIds.length, undelivered };
        })
      ),
    versions: (name) =>
      settle(() => {
        const row = sql.topicByName.get(name);
        if (!row) return [];
        return sql.listVersions.all(TOPIC_KIND, text(row["id"])).map(
          versionFromRow,
        );
      }),
  };

  const subscriptions: SubscriptionStore = {
    async create(sub, secrets, change) {
      const sealed = await sealSecrets(sub.id, secrets);
      transaction(() => {
        const first = { ...sub, version: 1 };
        // New subscriptions get only events appended after them.
        const start = lastSeq(first.topicId);
        sql.insertSubscription.run(
          ...subscriptionColumns(first),
          first.id,
          first.topicId,
          first.owner,
          first.createdAt,
          sealed.keyId,
          sealed.ciphertext,
        );
        sql.insertPosition.run(first.id, start, start);
        writeVersion({
          kind: SUBSCRIPTION_KIND,
          id: first.id,
          version: first.version,
          change: change,
          snapshot: subscriptionSnapshot(first),
        });
      });
    },
    get: (id) =>
      settle(() => {
        const row = sql.subscriptionById.get(id);
        return row ? subscriptionFromRow(row) : null;
      }),
    list: (filter = {}) =>
      settle(() =>
        sql.listSubscriptions.all(filter.topicId ?? null, filter.owner ?? null)
          .map(subscriptionFromRow)
      ),
    update: (id, patch, change) =>
      settle(() =>
        transaction(() => {
          const row = sql.subscriptionById.get(id);
          const versioned = nextVersion(
            row ? subscriptionFromRow(row) : null,
            patch,
            change.expectedVersion,
          );
          if (!versioned.ok) return versioned;
          const next = versioned.next;
          sql.updateSubscription.run(...subscriptionColumns(next), next.id);
          writeVersion({
            kind: SUBSCRIPTION_KIND,
            id: next.id,
            version: next.version,
            change: change,
            snapshot: subscriptionSnapshot(next),
          });
          return { ok: true, subscription: next } as const;
        })
      ),
    delete: (id) =>
      settle(() =>
        transaction(() => {
          if (!sql.subscriptionById.get(id)) return null;
          return { undelivered: removeSubscription(id) };
        })
      ),
    versions: (id) =>
      settle(() =>
        sql.listVersions.all(SUBSCRIPTION_KIND, id).map(versionFromRow)
      ),
    async secrets(id) {
      const row = sql.subscriptionSecrets.get(id);
      if (!row) return null;
      const plaintext = await cipher().open(row["secrets"] as Uint8Array, {
        kind: SUBSCRIPTION_SECRET_KIND,
        id,
      });
      return JSON.parse(decoder.decode(plaintext)) as SigningSecrets;
    },
    async setSecrets(id, secrets) {
      const sealed = await sealSecrets(id, secrets);
      sql.setSubscriptionSecrets.run(sealed.keyId, sealed.ciphertext, id);
    },
  };

  /**
   * Runs `fn` in a transaction whose commit writes the WAL without flushing
   * it (`synchronous=NORMAL`): durable against a crash of the process, not
   * yet of the machine. Callers then await `walSync.sync()`, which flushes
   * off the JavaScript thread and is shared by concurrent commits — what
   * `synchronous=FULL` does at commit, without stopping the event loop.
   */
  function commitUnflushed<T>(fn: () => T, walBytes?: number): T {
    sql.syncNormal.run();
    try {
      return transaction(fn, walBytes);
    } finally {
      sql.syncFull.run();
    }
  }

  // The tail of the append queue: resolves when the last append has committed.
  let appendQueue: Promise<void> = Promise.resolve();

  const events: EventStore = {
    async append(batch, onVisible) {
      if (batch.length === 0) return [];
      // Seal first, all at once (on the seal worker when the batch is big
      // enough): the write lock is held only for the inserts.
      let sealing: Promise<{ keyId: number; ciphertexts: Uint8Array[] }>;
      try {
        const c = cipher();
        sealing = c.sealMany(
          batch.map((event) => ({
            plaintext: encodePayload(event),
            ref: { kind: EVENT_KIND, id: event.id },
          })),
        ).then((ciphertexts) => ({ keyId: c.activeKeyId, ciphertexts }));
      } catch (error) {
        sealing = Promise.reject(error);
      }
      // Concurrent appends commit in call order, so seqs follow acceptance.
      const turn = appendQueue;
      const done = Promise.withResolvers<void>();
      appendQueue = done.promise;
      let sealed: Awaited<typeof sealing>;
      try {
        [sealed] = await Promise.all([sealing, turn]);
      } catch (error) {
        await turn;
        done.resolve();
        throw error;
      }
      let seqs: number[];
      try {
        seqs = commitUnflushed(() =>
          batch.map((event, i) =>
            Number(
              sql.insertEvent.run(
                event.id,
                event.topicId,
                event.method,
                event.path,
                event.query,
                event.contentType,
                event.sender,
                event.receivedAt,
                event.idempotencyKey,
                sealed.keyId,
                sealed.ciphertexts[i]!,
              ).lastInsertRowid,
            )
          ), walBytesOf(sealed.ciphertexts));
      } finally {
        done.resolve();
      }
      keepAppended(batch, seqs);
      onVisible?.(seqs);
      await walSync.sync();
      return seqs;
    },
    findByIdempotencyKey: (topicId, key, since) =>
      settle(() => {
        const row = sql.eventByIdempotencyKey.get(topicId, key, since);
        return row ? text(row["id"]) : null;
      }),
    async get(id) {
      const row = sql.eventById.get(id);
      return row ? (await openEvents([row]))[0]! : null;
    },
    listMeta: (topicId, afterSeq, limit) =>
      settle(() =>
        sql.eventMetaAfter.all(topicId, afterSeq, Math.max(0, limit)).map(
          eventMetaFromRow,
        )
      ),
    async read(topicId, afterSeq, limit, maxBytes = Infinity) {
      const max = Math.max(0, limit);
      let rows: Row[];
      let cut = false;
      if (maxBytes === Infinity) {
        rows = sql.eventsAfter.all(topicId, afterSeq, max);
      } else {
        // Row by row, so that rows past the byte bound are never read.
        rows = [];
        let bytes = 0;
        for (const row of sql.eventsAfter.iterate(topicId, afterSeq, max)) {
          rows.push(row);
          bytes += (row["payload"] as Uint8Array).byteLength;
          if (bytes >= maxBytes) {
            cut = true;
            break;
          }
        }
      }
      return {
        events: await openEvents(rows),
        more: cut || rows.length === max,
      };
    },
    forgetOpened: () => opened.clear(),
    readSeqs: (seqs) =>
      openEvents(
        seqs.length === 0 ? [] : sql.eventsBySeq.all(JSON.stringify(seqs)),
      ),
    lastSeq: (topicId) => settle(() => lastSeq(topicId)),
    async expire(topicId, before) {
      let removed = 0;
      let expiredUndelivered = 0;
      // In steps of at most a few thousand events, the oldest first, with
      // the event loop served between them: one transaction for a long
      // backlog (a minute of a busy topic) held the node's thread for
      // seconds and wrote hundreds of MiB of log in one commit.
      for (;;) {
        const boundary = sql.expireBoundary.get(
          topicId,
          before,
          EXPIRE_STEP_EVENTS,
        );
        let cutoff = boundary === undefined
          ? before
          : Number(boundary["received_at"]);
        let step = transaction(
          () => expireBefore(topicId, cutoff),
          EXPIRE_STEP_WAL_BYTES,
        );
        if (boundary !== undefined && step.removed === 0) {
          // More than a step shares the oldest millisecond: it goes whole.
          cutoff = Math.min(cutoff + 1, before);
          step = transaction(
            () => expireBefore(topicId, cutoff),
            EXPIRE_STEP_WAL_BYTES,
          );
        }
        removed += step.removed;
        expiredUndelivered += step.expiredUndelivered;
        if (boundary === undefined) break;
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      return { removed, expiredUndelivered };
    },
  };

  /**
   * Removes the topic's events received before `before` in the open
   * transaction; undelivered ones become `expired` failed rows.
   */
  function expireBefore(
    topicId: string,
    before: number,
  ): { removed: number; expiredUndelivered: number } {
    const expiredUndelivered = Number(
      sql.expireUndelivered.run(topicId, before, Date.now()).changes,
    );
    sql.deleteExpiredDeliveries.run(topicId, before);
    const removed = Number(
      sql.deleteExpiredEvents.run(topicId, before).changes,
    );
    // Nothing removed, nothing became done: no cursor can move (a sweep of
    // a quiet node then walks none of its subscriptions).
    if (removed > 0 || expiredUndelivered > 0) {
      for (const row of sql.subscriptionIdsOfTopic.all(topicId)) {
        advance(text(row["id"]));
      }
    }
    return { removed, expiredUndelivered };
  }

  const deliveries: DeliveryStore = {
    position: (subscriptionId) =>
      settle(() => {
        const row = sql.position.get(subscriptionId);
        if (!row) return { cursor: 0, doneAbove: [] };
        const cursor = Number(row["cursor"]);
        return {
          cursor,
          doneAbove: sql.doneAbove.all(subscriptionId, cursor).map((r) =>
            Number(r["seq"])
          ),
        };
      }),
    async recordDelivered(records) {
      commitUnflushed(() => {
        const known = new Map<string, boolean>();
        for (const record of records) {
          let exists = known.get(record.subscriptionId);
          if (exists === undefined) {
            exists = sql.position.get(record.subscriptionId) !== undefined;
            known.set(record.subscriptionId, exists);
          }
          // A delivery that finished after its subscription was deleted
          // has nothing left to update.
          if (!exists) continue;
          sql.insertDelivery.run(
            record.subscriptionId,
            record.seq,
            record.eventId,
            record.attemptId,
            record.attempts,
            record.deliveredAt,
          );
          sql.deleteReplayedFailed.run(record.subscriptionId, record.seq);
        }
        for (const [subscriptionId, exists] of known) {
          if (exists) advance(subscriptionId);
        }
      });
      await walSync.sync();
    },
    async recordFailed(failed) {
      commitUnflushed(() => {
        if (!sql.position.get(failed.subscriptionId)) return;
        sql.upsertFailed.run(
          failed.subscriptionId,
          failed.seq,
          failed.eventId,
          failed.reason,
          failed.attempts,
          failed.lastStatus,
          failed.lastError,
          failed.failedAt,
        );
        advance(failed.subscriptionId);
      });
      await walSync.sync();
    },
    listDelivered: (subscriptionId, afterSeq, limit) =>
      settle(() =>
        sql.listDelivered.all(subscriptionId, afterSeq, Math.max(0, limit))
          .map(deliveryFromRow)
      ),
    listFailed: (subscriptionId, afterSeq, limit) =>
      settle(() =>
        sql.listFailed.all(subscriptionId, afterSeq, Math.max(0, limit)).map(
          failedFromRow,
        )
      ),
    markReplay: (subscriptionId, eventIds) =>
      settle(() =>
        Number(
          (eventIds === null
            ? sql.markReplayAll.run(subscriptionId)
            : sql.markReplayIds.run(subscriptionId, JSON.stringify(eventIds)))
            .changes,
        )
      ),
    replays: (subscriptionId, limit) =>
      settle(() =>
        sql.replays.all(subscriptionId, Math.max(0, limit)).map((r) =>
          Number(r["seq"])
        )
      ),
    eventState: (eventId) =>
      settle(() => {
        const event = sql.eventTopic.get(eventId);
        if (!event) return [];
        return sql.eventState.all(text(event["topic_id"]), Number(event["seq"]))
          .map(eventStateFromRow);
      }),
    backlog: (subscriptionId) => settle(() => backlog(subscriptionId)),
  };

  return { topics, subscriptions, events, deliveries };
}

/** Every statement of the pipeline stores, prepared once. */
function preparePipeline(db: DatabaseSync) {
  const p = (text: string): StatementSync => db.prepare(text);
  // A bound limit is written `LIMIT CAST(? AS INTEGER)`: a bare `LIMIT ?`
  // more than doubles the cost of a small read in the SQLite Deno ships
  // (3.53), which appears to plan such a statement again on every binding:
  // 16-18 µs against 7.5 µs per read of one event
  // (`bench/probes/sqlite_limit.ts`).
  // Done for a subscription: delivered, or in its failed list.
  const done = (subscription: string, seq: string) =>
    `(EXISTS (SELECT 1 FROM deliveries d WHERE d.subscription_id = ${subscription} AND d.seq = ${seq}) OR EXISTS (SELECT 1 FROM failed f WHERE f.subscription_id = ${subscription} AND f.seq = ${seq}))`;
  return {
    syncNormal: p("PRAGMA synchronous = NORMAL"),
    syncFull: p("PRAGMA synchronous = FULL"),
    listVersions: p(
      "SELECT * FROM resource_versions WHERE kind = ? AND id = ? ORDER BY version",
    ),
    deleteVersions: p(
      "DELETE FROM resource_versions WHERE kind = ? AND id = ?",
    ),

    insertTopic: p(
      "INSERT INTO topics (id, name, owner, ack, retention_ms, max_body_bytes, grants, created_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    topicByName: p("SELECT * FROM topics WHERE name = ?"),
    topicById: p("SELECT * FROM topics WHERE id = ?"),
    listTopics: p("SELECT * FROM topics ORDER BY name"),
    updateTopic: p(
      "UPDATE topics SET ack = ?, retention_ms = ?, max_body_bytes = ?, grants = ?, version = ? WHERE id = ?",
    ),
    deleteTopic: p("DELETE FROM topics WHERE id = ?"),
    deleteTopicEvents: p("DELETE FROM events WHERE topic_id = ?"),

    insertSubscription: p(
      "INSERT INTO subscriptions (url, liveness_url, ordered, max_in_flight, failure_mode, max_attempts, record_mode, timeout_ms, headers, paused, private_allowed, version, id, topic_id, owner, created_at, secrets_key_id, secrets) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    subscriptionById: p("SELECT * FROM subscriptions WHERE id = ?"),
    listSubscriptions: p(
      "SELECT * FROM subscriptions WHERE (?1 IS NULL OR topic_id = ?1) AND (?2 IS NULL OR owner = ?2) ORDER BY created_at, id",
    ),
    subscriptionIdsOfTopic: p(
      "SELECT id FROM subscriptions WHERE topic_id = ? ORDER BY id",
    ),
    updateSubscription: p(
      "UPDATE subscriptions SET url = ?, liveness_url = ?, ordered = ?, max_in_flight = ?, failure_mode = ?, max_attempts = ?, record_mode = ?, timeout_ms = ?, headers = ?, paused = ?, private_allowed = ?, version = ? WHERE id = ?",
    ),
    deleteSubscription: p("DELETE FROM subscriptions WHERE id = ?"),
    subscriptionSecrets: p("SELECT secrets FROM subscriptions WHERE id = ?"),
    setSubscriptionSecrets: p(
      "UPDATE subscriptions SET secrets_key_id = ?, secrets = ? WHERE id = ?",
    ),

    insertEvent: p(
      "INSERT INTO events (id, topic_id, method, path, query, content_type, sender, received_at, idempotency_key, key_id, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    lastSeq: p(
      "SELECT seq FROM events WHERE topic_id = ? ORDER BY seq DESC LIMIT 1",
    ),
    eventByIdempotencyKey: p(
      "SELECT id FROM events WHERE topic_id = ? AND idempotency_key = ? AND received_at >= ? ORDER BY seq LIMIT 1",
    ),
    eventById: p("SELECT * FROM events WHERE id = ?"),
    eventTopic: p("SELECT seq, topic_id FROM events WHERE id = ?"),
    eventMetaAfter: p(
      "SELECT seq, id, topic_id, method, path, query, content_type, sender, received_at, idempotency_key FROM events WHERE topic_id = ? AND seq > ? ORDER BY seq LIMIT CAST(? AS INTEGER)",
    ),
    eventsAfter: p(
      "SELECT * FROM events WHERE topic_id = ? AND seq > ? ORDER BY seq LIMIT CAST(? AS INTEGER)",
    ),
    eventsBySeq: p(
      "SELECT * FROM events WHERE seq IN (SELECT value FROM json_each(?)) ORDER BY seq",
    ),
    // Every event about to expire that a subscription has neither delivered
    // nor failed goes to its failed list as expired.
    expireUndelivered: p(
      `INSERT INTO failed (subscription_id, seq, event_id, reason, attempts, last_status, last_error, failed_at, replaying)
       SELECT s.id, e.seq, e.id, 'expired', 0, NULL, NULL, ?3, 0
       FROM subscriptions s
       JOIN subscription_positions p ON p.subscription_id = s.id
       JOIN events e ON e.topic_id = s.topic_id AND e.seq > p.cursor
       WHERE s.topic_id = ?1 AND e.received_at < ?2
         AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.subscription_id = s.id AND d.seq = e.seq)
         AND NOT EXISTS (SELECT 1 FROM failed f WHERE f.subscription_id = s.id AND f.seq = e.seq)`,
    ),
    deleteExpiredDeliveries: p(
      "DELETE FROM deliveries WHERE subscription_id IN (SELECT id FROM subscriptions WHERE topic_id = ?1) AND seq IN (SELECT seq FROM events WHERE topic_id = ?1 AND received_at < ?2)",
    ),
    deleteExpiredEvents: p(
      "DELETE FROM events WHERE topic_id = ? AND received_at < ?",
    ),
    // The receipt time of the event just past the oldest `?3` that expire.
    expireBoundary: p(
      "SELECT received_at FROM events WHERE topic_id = ?1 AND received_at < ?2 ORDER BY received_at LIMIT 1 OFFSET CAST(?3 AS INTEGER)",
    ),

    insertPosition: p(
      "INSERT INTO subscription_positions (subscription_id, start_seq, cursor) VALUES (?, ?, ?)",
    ),
    position: p(
      "SELECT p.cursor, s.topic_id FROM subscription_positions p JOIN subscriptions s ON s.id = p.subscription_id WHERE p.subscription_id = ?",
    ),
    setCursor: p(
      "UPDATE subscription_positions SET cursor = ? WHERE subscription_id = ?",
    ),
    deletePosition: p(
      "DELETE FROM subscription_positions WHERE subscription_id = ?",
    ),
    walk: p(
      `SELECT e.seq, ${
        done("?1", "e.seq")
      } AS done FROM events e WHERE e.topic_id = ?2 AND e.seq > ?3 ORDER BY e.seq LIMIT CAST(?4 AS INTEGER)`,
    ),
    doneAbove: p(
      "SELECT seq FROM deliveries WHERE subscription_id = ?1 AND seq > ?2 UNION SELECT seq FROM failed WHERE subscription_id = ?1 AND seq > ?2 ORDER BY seq",
    ),
    // Events above the cursor minus those of them already done: three index
    // range counts instead of two lookups per event of the backlog.
    backlog: p(
      `SELECT
         (SELECT COUNT(*) FROM events e WHERE e.topic_id = ?1 AND e.seq > ?2)
       - (SELECT COUNT(*) FROM deliveries d JOIN events e ON e.seq = d.seq
            WHERE d.subscription_id = ?3 AND d.seq > ?2)
       - (SELECT COUNT(*) FROM failed f JOIN events e ON e.seq = f.seq
            WHERE f.subscription_id = ?3 AND f.seq > ?2
              AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.subscription_id = ?3 AND d.seq = f.seq))
         AS n`,
    ),

    insertDelivery: p(
      "INSERT INTO deliveries (subscription_id, seq, event_id, attempt_id, attempts, delivered_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (subscription_id, seq) DO NOTHING",
    ),
    deleteReplayedFailed: p(
      "DELETE FROM failed WHERE subscription_id = ? AND seq = ? AND replaying = 1",
    ),
    upsertFailed: p(
      `INSERT INTO failed (subscription_id, seq, event_id, reason, attempts, last_status, last_error, failed_at, replaying)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)
       ON CONFLICT (subscription_id, seq) DO UPDATE SET event_id = excluded.event_id,
         reason = excluded.reason, attempts = excluded.attempts,
         last_status = excluded.last_status, last_error = excluded.last_error,
         failed_at = excluded.failed_at, replaying = 0`,
    ),
    listDelivered: p(
      "SELECT * FROM deliveries WHERE subscription_id = ? AND seq > ? ORDER BY seq LIMIT CAST(? AS INTEGER)",
    ),
    listFailed: p(
      "SELECT * FROM failed WHERE subscription_id = ? AND seq > ? ORDER BY seq LIMIT CAST(? AS INTEGER)",
    ),
    // Only dead letters whose event is still kept can be replayed.
    markReplayAll: p(
      "UPDATE failed SET replaying = 1 WHERE subscription_id = ? AND reason = 'dead_letter' AND EXISTS (SELECT 1 FROM events e WHERE e.seq = failed.seq)",
    ),
    markReplayIds: p(
      "UPDATE failed SET replaying = 1 WHERE subscription_id = ? AND reason = 'dead_letter' AND event_id IN (SELECT value FROM json_each(?)) AND EXISTS (SELECT 1 FROM events e WHERE e.seq = failed.seq)",
    ),
    replays: p(
      "SELECT seq FROM failed WHERE subscription_id = ? AND replaying = 1 ORDER BY seq LIMIT CAST(? AS INTEGER)",
    ),
    deleteSubscriptionDeliveries: p(
      "DELETE FROM deliveries WHERE subscription_id = ?",
    ),
    deleteSubscriptionFailed: p("DELETE FROM failed WHERE subscription_id = ?"),
    // Subscriptions created after the event (start_seq at or above it) never
    // had it to deliver, so they have no state for it.
    eventState: p(
      `SELECT s.id AS subscription_id,
         d.attempts AS delivered_attempts, d.delivered_at,
         f.reason, f.attempts AS failed_attempts, f.failed_at, f.replaying
       FROM subscriptions s
       JOIN subscription_positions p ON p.subscription_id = s.id
       LEFT JOIN deliveries d ON d.subscription_id = s.id AND d.seq = ?2
       LEFT JOIN failed f ON f.subscription_id = s.id AND f.seq = ?2
       WHERE s.topic_id = ?1 AND p.start_seq < ?2
       ORDER BY s.created_at, s.id`,
    ),
  };
}

/** Runs synchronous work as the interface's promise; a throw becomes a rejection. */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}

/** The sealed cell of an event: `u32 length of headers JSON ‖ headers JSON ‖ body`. */
function encodePayload(event: NewEvent): Uint8Array {
  const headers = encoder.encode(JSON.stringify(event.headers));
  const out = new Uint8Array(4 + headers.length + event.body.length);
  new DataView(out.buffer).setUint32(0, headers.length);
  out.set(headers, 4);
  out.set(event.body, 4 + headers.length);
  return out;
}

function decodePayload(
  plaintext: Uint8Array,
  id: string,
): { headers: Record<string, string>; body: Uint8Array } {
  const view = new DataView(
    plaintext.buffer,
    plaintext.byteOffset,
    plaintext.byteLength,
  );
  const length = plaintext.length >= 4 ? view.getUint32(0) : -1;
  if (length < 0 || 4 + length > plaintext.length) {
    throw new Error(`Event payload of "${id}" is malformed`);
  }
  return {
    headers: JSON.parse(decoder.decode(plaintext.subarray(4, 4 + length))),
    body: plaintext.slice(4 + length),
  };
}

function topicSnapshot(topic: TopicRecord): unknown {
  return {
    ack: topic.ack,
    retentionMs: topic.retentionMs,
    maxBodyBytes: topic.maxBodyBytes,
    grants: topic.grants,
  };
}

function subscriptionSnapshot(sub: SubscriptionRecord): unknown {
  return {
    url: sub.url,
    livenessUrl: sub.livenessUrl,
    ordered: sub.ordered,
    maxInFlight: sub.maxInFlight,
    failurePolicy: sub.failurePolicy,
    record: sub.record,
    timeoutMs: sub.timeoutMs,
    headers: sub.headers,
    paused: sub.paused,
    privateAllowed: sub.privateAllowed,
  };
}

/** The changeable columns of a subscription, in the order both statements bind them. */
function subscriptionColumns(sub: SubscriptionRecord): SQLInputValue[] {
  return [
    sub.url,
    sub.livenessUrl,
    sub.ordered ? 1 : 0,
    sub.maxInFlight,
    sub.failurePolicy.mode,
    sub.failurePolicy.maxAttempts,
    sub.record,
    sub.timeoutMs,
    JSON.stringify(sub.headers),
    sub.paused,
    sub.privateAllowed ? 1 : 0,
    sub.version,
  ];
}

function text(value: SQLOutputValue | undefined): string {
  return String(value);
}

function nullableText(value: SQLOutputValue | undefined): string | null {
  return value === null || value === undefined ? null : String(value);
}

function nullableNumber(value: SQLOutputValue | undefined): number | null {
  return value === null || value === undefined ? null : Number(value);
}

function versionFromRow(row: Row): VersionRecord {
  return {
    version: Number(row["version"]),
    time: text(row["time"]),
    actor: text(row["actor"]),
    requestId: text(row["request_id"]),
    snapshot: JSON.parse(text(row["snapshot"])),
  };
}

function topicFromRow(row: Row): TopicRecord {
  return {
    id: text(row["id"]),
    name: text(row["name"]),
    owner: text(row["owner"]),
    ack: text(row["ack"]) as TopicRecord["ack"],
    retentionMs: Number(row["retention_ms"]),
    maxBodyBytes: nullableNumber(row["max_body_bytes"]),
    grants: JSON.parse(text(row["grants"])),
    createdAt: text(row["created_at"]),
    version: Number(row["version"]),
  };
}

function subscriptionFromRow(row: Row): SubscriptionRecord {
  return {
    id: text(row["id"]),
    topicId: text(row["topic_id"]),
    owner: text(row["owner"]),
    url: text(row["url"]),
    livenessUrl: text(row["liveness_url"]),
    ordered: Number(row["ordered"]) === 1,
    maxInFlight: Number(row["max_in_flight"]),
    failurePolicy: {
      mode: text(row["failure_mode"]) === "deadLetter" ? "deadLetter" : "retry",
      maxAttempts: Number(row["max_attempts"]),
    },
    record: text(row["record_mode"]) === "sync" ? "sync" : "async",
    timeoutMs: Number(row["timeout_ms"]),
    headers: JSON.parse(text(row["headers"])),
    paused: nullableText(row["paused"]) as SubscriptionRecord["paused"],
    privateAllowed: Number(row["private_allowed"]) === 1,
    createdAt: text(row["created_at"]),
    version: Number(row["version"]),
  };
}

function eventMetaFromRow(row: Row): EventMeta {
  return {
    seq: Number(row["seq"]),
    id: text(row["id"]),
    topicId: text(row["topic_id"]),
    method: text(row["method"]) as EventMeta["method"],
    path: text(row["path"]),
    query: text(row["query"]),
    contentType: nullableText(row["content_type"]),
    sender: text(row["sender"]),
    receivedAt: Number(row["received_at"]),
    idempotencyKey: nullableText(row["idempotency_key"]),
  };
}

function deliveryFromRow(row: Row): DeliveryRecord {
  return {
    subscriptionId: text(row["subscription_id"]),
    seq: Number(row["seq"]),
    eventId: text(row["event_id"]),
    attemptId: text(row["attempt_id"]),
    attempts: Number(row["attempts"]),
    deliveredAt: Number(row["delivered_at"]),
  };
}

function failedFromRow(row: Row): FailedRecord {
  return {
    subscriptionId: text(row["subscription_id"]),
    seq: Number(row["seq"]),
    eventId: text(row["event_id"]),
    reason: text(row["reason"]) === "expired" ? "expired" : "dead_letter",
    attempts: Number(row["attempts"]),
    lastStatus: nullableNumber(row["last_status"]),
    lastError: nullableText(row["last_error"]),
    failedAt: Number(row["failed_at"]),
    replaying: Number(row["replaying"]) === 1,
  };
}

/**
 * A delivery wins over a failed row (a late 2xx after dead-lettering); a
 * dead letter being replayed is pending again.
 */
function eventStateFromRow(row: Row): {
  subscriptionId: string;
  state: "pending" | "delivered" | "failed" | "expired";
  attempts: number;
  at: number | null;
} {
  const subscriptionId = text(row["subscription_id"]);
  if (row["delivered_at"] !== null) {
    return {
      subscriptionId,
      state: "delivered",
      attempts: Number(row["delivered_attempts"]),
      at: Number(row["delivered_at"]),
    };
  }
  if (row["reason"] !== null && Number(row["replaying"]) !== 1) {
    return {
      subscriptionId,
      state: row["reason"] === "expired" ? "expired" : "failed",
      attempts: Number(row["failed_attempts"]),
      at: Number(row["failed_at"]),
    };
  }
  return {
    subscriptionId,
    state: "pending",
    attempts: row["reason"] === null ? 0 : Number(row["failed_attempts"]),
    at: null,
  };
}
