/**
 * The `event` actor: ingest. It authorises each publish against the topic
 * (cached briefly), de-duplicates idempotency keys, and adds the event to
 * the open write batch. A batch commits in one store transaction — one
 * fsync for many requests — as soon as no further publish is waiting in the
 * mailbox, when it is full (by events or body bytes), or at the latest when
 * it is old (group commit: whatever arrives while one commit runs forms the
 * next batch). While every commit slot is busy and the open batch is full,
 * publishes are refused (`overloaded`), so a disk that falls behind cannot
 * make the node hold ever more events in memory. The
 * publisher's answer waits for the topic's ack mode: `received` as soon as
 * the event is in the batch, `persisted` once the batch is durable. The
 * couriers of the topics involved are woken as soon as the commit can be
 * read, while its fsync is still running: a subscriber may have an event
 * before its publisher has the 202. Nothing is lost by it — an event the
 * machine loses before the flush ends was never answered 2xx, so its
 * publisher sends it again (a duplicate, which at-least-once allows) — and
 * the delivery latency no longer includes the disk's flush.
 *
 * Who may ask it: the HTTP layer. The topic actor tells it `topicChanged` and
 * `topicDeleted`.
 * It tells the delivery actor (through `onCommitted`).
 *
 * @module
 */

import client from "prom-client";
import { ActorStoppedError, MailboxFullError } from "./errors.ts";
import { tell } from "./system.ts";
import type { ActorContext, Behavior, Reply } from "./types.ts";
import {
  authorize,
  authorizeOnTopic,
  type Identity,
} from "../identity/authorize.ts";
import { uuidv7Generator } from "../ids/uuidv7.ts";
import { forgetSeries } from "../observability/forget_series.ts";
import { errorFields } from "../observability/logger.ts";
import { SealedError } from "../security/envelope.ts";
import type { NewEvent, Store, TopicRecord } from "../store/mod.ts";

/** A failed publish or read; codes map to problem codes. */
export type EventFailure = {
  ok: false;
  code:
    | "not_found"
    | "forbidden"
    | "payload_too_large"
    | "sealed"
    | "store_unavailable"
    | "overloaded";
  detail: string;
};

/** The answer to a publish. */
export type PublishResult =
  | { ok: true; id: string; duplicate: boolean }
  | EventFailure;

/** An event as the API shows it. */
export interface EventView {
  id: string;
  topic: string;
  method: string;
  path: string;
  query: string;
  contentType: string | null;
  headers: Record<string, string>;
  /** Base64 of the body bytes. */
  body: string;
  sender: string;
  receivedAt: string;
  deliveries: {
    subscriptionId: string;
    state: string;
    attempts: number;
    at: string | null;
  }[];
}

/** Event metadata in listings. */
export interface EventSummary {
  id: string;
  seq: number;
  method: string;
  path: string;
  query: string;
  contentType: string | null;
  sender: string;
  receivedAt: string;
}

/** What a publisher sends. */
export interface PublishRequest {
  topic: string;
  method: "POST" | "PUT" | "DELETE";
  path: string;
  query: string;
  contentType: string | null;
  headers: Record<string, string>;
  body: Uint8Array;
  idempotencyKey: string | null;
}

/** Messages of the event actor. */
export type EventMsg =
  | {
    type: "publish";
    identity: Identity;
    requestId: string;
    event: PublishRequest;
    reply: Reply<PublishResult>;
  }
  /** Commit the open batch (timer). */
  | { type: "flush" }
  /** A batch handed to the store was committed (or failed). */
  | {
    type: "committed";
    batch: Pending[];
    /** The batch's seqs, in order; null when it failed. */
    seqs: readonly number[] | null;
    error: unknown;
    /** The couriers were already woken when the commit became readable. */
    woken: boolean;
  }
  /** A topic changed: drop the cached copy. */
  | { type: "topicChanged"; name: string }
  /** A topic was deleted: drop the cached copy and its series. */
  | { type: "topicDeleted"; name: string }
  | {
    type: "get";
    identity: Identity;
    id: string;
    reply: Reply<{ ok: true; value: EventView } | EventFailure>;
  }
  | {
    type: "list";
    identity: Identity;
    topic: string;
    afterSeq: number;
    limit: number;
    reply: Reply<{ ok: true; value: EventSummary[] } | EventFailure>;
  };

/** One event waiting in the open batch. */
interface Pending {
  event: NewEvent;
  topic: string;
  /** Set when the publisher waits for durability (`persisted`). */
  reply: Reply<PublishResult> | null;
}

/** State: the topic cache and the open batch. */
export interface EventState {
  topics: Map<string, { topic: TopicRecord | null; at: number }>;
  batch: Pending[];
  /** Body bytes of the events in the open batch. */
  batchBytes: number;
  /** Idempotency keys of events not yet committed: `topicId\nkey` → event id. */
  pendingKeys: Map<string, string>;
  flushArmed: boolean;
  /** Batches handed to the store and not yet answered. */
  inFlight: number;
  /**
   * Ids of topics deleted lately: a batch committed after its topic was
   * deleted must not bring the topic's accepted series back.
   */
  deletedTopics: Set<string>;
}

/** Deleted topic ids remembered at most (then forgotten all at once). */
const DELETED_TOPICS_KEPT = 1_024;

/** A topic that got events in a commit, and the largest seq among them when known. */
export interface CommittedTopic {
  topicId: string;
  upTo?: number;
}

/** What the event actor needs. */
export interface EventDeps {
  store: Store;
  /** Node-wide body cap (a topic's own cap is never above it). */
  maxBodyBytes: number;
  batchMaxEvents: number;
  /** A batch commits once its bodies reach this many bytes. */
  batchMaxBytes: number;
  batchMaxDelayMs: number;
  /**
   * Called once a commit can be read (its flush to disk may still be
   * running) with each topic that got events and its largest new seq.
   */
  onCommitted(topics: readonly CommittedTopic[]): void;
  registry: client.Registry;
  /** How long a cached topic is trusted (bounds staleness across nodes). */
  topicCacheMs?: number;
}

/**
 * The topics a committed batch touched, each with its largest seq. Without
 * a seq per event the wakes name none, and couriers read.
 */
function committedTopics(
  batch: readonly Pending[],
  seqs: readonly number[] | null,
): CommittedTopic[] {
  const known = seqs !== null && seqs.length === batch.length;
  const upTo = new Map<string, number>();
  batch.forEach((pending, i) => {
    const { topicId } = pending.event;
    upTo.set(topicId, Math.max(upTo.get(topicId) ?? 0, seqs?.[i] ?? 0));
  });
  return [...upTo].map(([topicId, seq]) =>
    known ? { topicId, upTo: seq } : { topicId }
  );
}

/** How long a message to itself waits before it is offered again to a full mailbox. */
const FULL_MAILBOX_RETRY_MS = 5;

/**
 * Tells the actor a message of its own (a commit's outcome, a flush). A
 * full mailbox — publishers can fill it faster than a turn ends — must not
 * lose it: a lost `committed` would leave its publishers unanswered and
 * its commit counted in flight for good. So it is offered again shortly;
 * once the actor has stopped it is dropped (its publishers' asks fail).
 */
function tellSelf(ctx: ActorContext<EventMsg>, msg: EventMsg): void {
  try {
    tell(ctx.self, msg);
  } catch (error) {
    if (error instanceof MailboxFullError) {
      setTimeout(() => tellSelf(ctx, msg), FULL_MAILBOX_RETRY_MS);
    } else if (!(error instanceof ActorStoppedError)) {
      throw error;
    }
  }
}

/**
 * Write batches handed to the store at once (their fsyncs overlap). A
 * second one starts only once the open batch is full — a disk slower than
 * the publishers — so at any other time the publishes that arrive during a
 * commit join the next one: commits stay few and large, the seal worker
 * takes them (it takes batches of 8 or more), and the node's thread spends
 * less per event. Four commits at once whenever a slot was free made most
 * commits hold 4 events or fewer at full rate (about 20 % more thread time
 * per event; `bench/HISTORY.md`, fourteenth session).
 */
const MAX_COMMITS_IN_FLIGHT = 4;

/** The event actor's behavior. */
export function eventBehavior(deps: EventDeps): Behavior<EventState, EventMsg> {
  const topicCacheMs = deps.topicCacheMs ?? 1_000;
  const nextId = uuidv7Generator();
  const registers = [deps.registry];
  const accepted = new client.Counter({
    name: "miranda_events_accepted_total",
    help: "Events accepted (committed) per topic",
    labelNames: ["topic"],
    registers,
  });
  const rejected = new client.Counter({
    name: "miranda_events_rejected_total",
    help: "Publishes refused per topic and reason",
    labelNames: ["topic", "reason"],
    registers,
  });
  const batchSize = new client.Histogram({
    name: "miranda_event_batch_size",
    help: "Events per group commit",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers,
  });

  const commitSeconds = new client.Histogram({
    name: "miranda_event_commit_seconds",
    help: "Time to seal and commit one write batch",
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
    registers,
  });

  async function topicNamed(
    state: EventState,
    name: string,
    now: number,
  ): Promise<TopicRecord | null> {
    const cached = state.topics.get(name);
    if (cached && now - cached.at < topicCacheMs) return cached.topic;
    const topic = await deps.store.topics.get(name);
    if (state.topics.size > 10_000) state.topics.clear();
    state.topics.set(name, { topic, at: now });
    return topic;
  }

  function refuse(
    topic: string,
    code: EventFailure["code"],
    detail: string,
  ): EventFailure {
    rejected.inc({ topic, reason: code });
    return { ok: false, code, detail };
  }

  async function publish(
    state: EventState,
    msg: Extract<EventMsg, { type: "publish" }>,
    ctx: ActorContext<EventMsg>,
  ): Promise<PublishResult | null> {
    const now = ctx.clock.now();
    const { event } = msg;
    const topic = await topicNamed(state, event.topic, now);
    if (!topic) {
      // Labelled "": a label per name asked for would let publishers add
      // series without bound.
      return refuse("", "not_found", `No topic "${event.topic}"`);
    }
    const decision = authorizeOnTopic(msg.identity, "events:publish", topic);
    if (!decision.ok) {
      return refuse(
        decision.code === "forbidden" ? topic.name : event.topic,
        decision.code,
        decision.detail,
      );
    }
    const cap = Math.min(
      topic.maxBodyBytes ?? deps.maxBodyBytes,
      deps.maxBodyBytes,
    );
    if (event.body.byteLength > cap) {
      return refuse(
        topic.name,
        "payload_too_large",
        `The body is larger than topic "${topic.name}" accepts (${cap} bytes)`,
      );
    }
    if (event.idempotencyKey !== null) {
      const key = `${topic.id}\n${event.idempotencyKey}`;
      const inBatch = state.pendingKeys.get(key);
      if (inBatch) return { ok: true, id: inBatch, duplicate: true };
      const stored = await deps.store.events.findByIdempotencyKey(
        topic.id,
        event.idempotencyKey,
        now - topic.retentionMs,
      );
      if (stored) return { ok: true, id: stored, duplicate: true };
    }
    if (state.inFlight >= MAX_COMMITS_IN_FLIGHT && batchFull(state)) {
      // Every commit slot is busy and the next batch is full: holding more
      // would let memory grow without bound (a `received` publisher does not
      // wait for the commit).
      return refuse(
        topic.name,
        "overloaded",
        "The store is behind: every group commit is busy and the next batch is full; retry shortly",
      );
    }
    const id = nextId();
    const pending: Pending = {
      event: {
        id,
        topicId: topic.id,
        method: event.method,
        path: event.path,
        query: event.query,
        contentType: event.contentType,
        headers: event.headers,
        body: event.body,
        sender: msg.identity.user,
        receivedAt: now,
        idempotencyKey: event.idempotencyKey,
      },
      topic: topic.name,
      reply: topic.ack === "received" ? null : msg.reply,
    };
    state.batch.push(pending);
    state.batchBytes += event.body.byteLength;
    if (event.idempotencyKey !== null) {
      state.pendingKeys.set(`${topic.id}\n${event.idempotencyKey}`, id);
    }
    if (!state.flushArmed) {
      state.flushArmed = true;
      ctx.setTimeout(
        () => tellSelf(ctx, { type: "flush" }),
        deps.batchMaxDelayMs,
      );
    }
    // `received`: answer now; `persisted`: the flush answers.
    return pending.reply === null ? { ok: true, id, duplicate: false } : null;
  }

  /** Starts committing the open batch; the outcome comes back as `committed`. */
  function flush(state: EventState, ctx: ActorContext<EventMsg>): void {
    const batch = state.batch;
    if (batch.length === 0) return;
    state.batch = [];
    state.batchBytes = 0;
    state.inFlight++;
    const started = performance.now();
    let woken = false;
    // Commits run in call order inside the store; their fsyncs overlap, so
    // the actor keeps filling the next batch meanwhile.
    deps.store.events.append(batch.map((p) => p.event), (seqs) => {
      // A failure here must not fail the commit: `committed` wakes them then.
      try {
        deps.onCommitted(committedTopics(batch, seqs));
        woken = true;
      } catch (error) {
        ctx.log.warn("couriers not woken at commit", errorFields(error));
      }
    }).then(
      (seqs) => {
        commitSeconds.observe((performance.now() - started) / 1000);
        tellSelf(ctx, { type: "committed", batch, seqs, error: null, woken });
      },
      (error) =>
        tellSelf(ctx, { type: "committed", batch, seqs: null, error, woken }),
    );
  }

  function committed(
    state: EventState,
    msg: Extract<EventMsg, { type: "committed" }>,
    ctx: ActorContext<EventMsg>,
  ): void {
    // A restarted actor may get the answer of a batch its predecessor sent.
    state.inFlight = Math.max(0, state.inFlight - 1);
    const { batch, seqs, error } = msg;
    for (const pending of batch) {
      if (pending.event.idempotencyKey !== null) {
        state.pendingKeys.delete(
          `${pending.event.topicId}\n${pending.event.idempotencyKey}`,
        );
      }
    }
    if (error !== null) {
      const sealed = error instanceof SealedError;
      ctx.log.error("group commit failed", {
        events: batch.length,
        ...errorFields(error),
      });
      const unanswered: Pending[] = [];
      for (const pending of batch) {
        if (pending.reply) {
          pending.reply(
            sealed
              ? {
                ok: false,
                code: "sealed",
                detail: "The node was sealed before the event was stored",
              }
              : {
                ok: false,
                code: "store_unavailable",
                detail: "The event could not be stored; retry later",
              },
          );
        } else {
          unanswered.push(pending);
        }
      }
      // Events already answered (`received`) stay in memory and are tried again.
      if (unanswered.length > 0) {
        for (const pending of unanswered) {
          if (pending.event.idempotencyKey !== null) {
            state.pendingKeys.set(
              `${pending.event.topicId}\n${pending.event.idempotencyKey}`,
              pending.event.id,
            );
          }
        }
        state.batch = [...unanswered, ...state.batch];
        if (!state.flushArmed) {
          state.flushArmed = true;
          ctx.setTimeout(() => tellSelf(ctx, { type: "flush" }), 1_000);
        }
      }
      return;
    }
    batchSize.observe(batch.length);
    for (const pending of batch) {
      if (!state.deletedTopics.has(pending.event.topicId)) {
        accepted.inc({ topic: pending.topic });
      }
      pending.reply?.({ ok: true, id: pending.event.id, duplicate: false });
    }
    if (!msg.woken) deps.onCommitted(committedTopics(batch, seqs));
  }

  /** The open batch holds as many events or body bytes as a batch may. */
  function batchFull(state: EventState): boolean {
    return state.batch.length >= deps.batchMaxEvents ||
      state.batchBytes >= deps.batchMaxBytes;
  }

  /**
   * Whether the open batch may start committing now: when nothing commits,
   * or when it is full and a slot is free (see `MAX_COMMITS_IN_FLIGHT`).
   */
  function mayCommit(state: EventState): boolean {
    if (state.batch.length === 0) return false;
    if (state.inFlight === 0) return true;
    return state.inFlight < MAX_COMMITS_IN_FLIGHT && batchFull(state);
  }

  /** Commits when nothing more is waiting (or the batch is full), within the in-flight bound. */
  function maybeFlush(state: EventState, ctx: ActorContext<EventMsg>): void {
    if (!mayCommit(state)) return;
    if (batchFull(state) || ctx.self.depth === 0) flush(state, ctx);
  }

  async function view(
    msg: Extract<EventMsg, { type: "get" }>,
  ): Promise<{ ok: true; value: EventView } | EventFailure> {
    const notFound: EventFailure = {
      ok: false,
      code: "not_found",
      detail: `No event "${msg.id}"`,
    };
    const event = await deps.store.events.get(msg.id);
    if (!event) return notFound;
    const topic = await deps.store.topics.getById(event.topicId);
    if (!topic) return notFound;
    const decision = authorize(msg.identity, "events:read", {
      owner: topic.owner,
    });
    if (!decision.ok && event.sender === msg.identity.user) {
      // Its sender may read it, but scopes still narrow: never widen them.
      if (decision.code === "scope_missing") {
        return { ok: false, code: "forbidden", detail: decision.detail };
      }
    } else if (!decision.ok) return notFound;
    const states = await deps.store.deliveries.eventState(event.id);
    return {
      ok: true,
      value: {
        id: event.id,
        topic: topic.name,
        method: event.method,
        path: event.path,
        query: event.query,
        contentType: event.contentType,
        headers: event.headers,
        body: event.body.toBase64(),
        sender: event.sender,
        receivedAt: new Date(event.receivedAt).toISOString(),
        deliveries: states.map((s) => ({
          subscriptionId: s.subscriptionId,
          state: s.state,
          attempts: s.attempts,
          at: s.at === null ? null : new Date(s.at).toISOString(),
        })),
      },
    };
  }

  return {
    name: "event",
    init: () => ({
      topics: new Map(),
      batch: [],
      batchBytes: 0,
      pendingKeys: new Map(),
      flushArmed: false,
      deletedTopics: new Set(),
      inFlight: 0,
    }),
    async handle(state, msg, ctx) {
      switch (msg.type) {
        case "publish": {
          const result = await publish(state, msg, ctx);
          if (result) msg.reply(result);
          maybeFlush(state, ctx);
          return state;
        }
        case "committed":
          committed(state, msg, ctx);
          maybeFlush(state, ctx);
          return state;
        case "flush":
          state.flushArmed = false;
          // A commit in flight takes this batch when it ends (`committed`).
          if (mayCommit(state)) flush(state, ctx);
          return state;
        case "topicChanged":
          state.topics.delete(msg.name);
          return state;
        case "topicDeleted": {
          // Known by id only while cached, as it is while publishes to it
          // are being committed.
          const id = state.topics.get(msg.name)?.topic?.id;
          if (id !== undefined) {
            if (state.deletedTopics.size >= DELETED_TOPICS_KEPT) {
              state.deletedTopics.clear();
            }
            state.deletedTopics.add(id);
          }
          state.topics.delete(msg.name);
          await forgetSeries(accepted, "topic", msg.name);
          await forgetSeries(rejected, "topic", msg.name);
          return state;
        }
        case "get":
          msg.reply(await view(msg));
          return state;
        case "list": {
          const topic = await deps.store.topics.get(msg.topic);
          const readable = topic &&
            authorize(msg.identity, "events:read", {
              owner: topic.owner,
              grants: topic.grants,
            }).ok;
          if (!topic || !readable) {
            msg.reply({
              ok: false,
              code: "not_found",
              detail: `No topic "${msg.topic}"`,
            });
            return state;
          }
          const metas = await deps.store.events.listMeta(
            topic.id,
            msg.afterSeq,
            msg.limit,
          );
          msg.reply({
            ok: true,
            value: metas.map((m) => ({
              id: m.id,
              seq: m.seq,
              method: m.method,
              path: m.path,
              query: m.query,
              contentType: m.contentType,
              sender: m.sender,
              receivedAt: new Date(m.receivedAt).toISOString(),
            })),
          });
          return state;
        }
        default: {
          const _exhaustive: never = msg;
          return state;
        }
      }
    },
    async terminate(state, ctx) {
      // Commit what is open (a graceful stop, or a restart after a panic elsewhere).
      const batch = state.batch;
      if (batch.length === 0) return;
      state.batch = [];
      state.batchBytes = 0;
      state.inFlight++;
      let error: unknown = null;
      let seqs: number[] | null = null;
      try {
        seqs = await deps.store.events.append(batch.map((p) => p.event));
      } catch (failure) {
        error = failure;
      }
      committed(
        state,
        { type: "committed", batch, seqs, error, woken: false },
        ctx,
      );
    },
  };
}
