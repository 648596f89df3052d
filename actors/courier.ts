/**
 * A courier: one per active subscription, named `courier:<subscriptionId>`,
 * under the delivery supervisor. It reads the subscription's events from the
 * topic's log in seq order (plus replays of failed events), sends each with
 * Standard Webhooks signatures, keeps up to `maxInFlight` requests open (one
 * when `ordered`), records every 2xx as a Delivery, and handles failures:
 * unreachable → pause and probe the liveness URL with doubling waits;
 * 429/503 with `Retry-After` → hold all sending as told (capped); 410 → pause
 * as gone and call `onGone`; other non-2xx → back off and retry, or
 * dead-letter after `maxAttempts`.
 *
 * State is a cache of the store: `init` rebuilds it from the subscription's
 * delivery position and pending replays, so a panic (any throw, in a handler
 * or a send task) costs at most a redelivery of what was in flight or not
 * yet recorded — at-least-once, never lost, never stuck.
 *
 * Who may tell it: the `delivery` actor (wake, pause, resume, updated,
 * replay, flush). Its own timers and send tasks tell it the rest. It asks no
 * one; `onGone` and `onIdle` must not ask the delivery actor (tell only).
 *
 * A courier that has had nothing to do for `sleepAfterMs` — the log read to
 * its end, nothing in flight, waiting, held or unrecorded — reports it
 * through `onIdle`, and the delivery actor stops it until the topic's next
 * wake: ten thousand quiet subscriptions cost a map entry each, not an actor
 * each, while a busy one never pays a restart per event.
 *
 * @module
 */

import { SealedError } from "../security/envelope.ts";
import { tell } from "./system.ts";
import type { ActorContext, Behavior, TimerHandle } from "./types.ts";
import { ActorStoppedError } from "./errors.ts";
import { Deadlines } from "./deadlines.ts";
import type { AttemptResult } from "../delivery/attempt.ts";
import { createDeliveryClient } from "../delivery/client.ts";
import { localSender, type Sender } from "../delivery/sender.ts";
import { probeDelay, type Random, retryDelay } from "../delivery/backoff.ts";
import type { DeliveryMetrics } from "../delivery/metrics.ts";
import { deliveryHeaders, deliveryUrl } from "../delivery/request.ts";
import { signatureHeader } from "../delivery/signature.ts";
import type { Slots } from "../delivery/slots.ts";
import type {
  DeliveryRecord,
  DeliveryStore,
  EventRecord,
  EventStore,
  SigningSecrets,
  SubscriptionRecord,
} from "../store/mod.ts";
import { errorFields } from "../observability/logger.ts";

/** Events (and replays) read from the store at once. */
export const READ_BATCH = 256;

/**
 * Stored bytes read per page at most (at least one event): 256 events at
 * the body limit would be hundreds of MiB held at once by each courier.
 */
export const READ_BYTES = 4 * 1024 * 1024;
/** Async delivery records flushed at once at the latest. */
export const FLUSH_MAX = 256;
/** Unordered: events parked for a retry beyond the in-flight window. */
export const PARKED_MAX = 256;
/** Least time between two backlog reads for the gauge. */
const BACKLOG_REFRESH_MS = 5_000;

/** Messages of a courier. */
export type CourierMsg =
  /**
   * New events were committed for the topic, the largest of them `upTo`
   * when known. `n`, on this and the other messages of the delivery actor,
   * numbers them (see `CourierDeps.onIdle`).
   */
  | { type: "wake"; n?: number; upTo?: number }
  /**
   * The node sealed: start afresh from the store, so no plaintext event read
   * before the seal stays in memory (a normal stop; the supervisor restarts
   * the courier, whose `init` needs no key).
   */
  | { type: "reset"; n?: number }
  /** A send could not sign: the node is sealed. The event waits for a wake. */
  | { type: "sealedSend"; inc: number; seq: number; attemptId: string }
  /** A send finished (told by its task). */
  | {
    type: "attemptDone";
    inc: number;
    seq: number;
    attemptId: string;
    result: AttemptResult;
  }
  /** A retry wait ended: an event's backoff, or the `Retry-After` hold (seq null). */
  | { type: "retry"; inc: number; seq: number | null }
  /** Time to probe the liveness URL (timer). */
  | { type: "probe"; inc: number }
  /** A liveness probe finished (told by its task). */
  | { type: "probeDone"; inc: number; ok: boolean; detail: string }
  /** Stop sending (in-flight requests finish). */
  | { type: "pause" }
  /** Send again, from where it stopped. */
  | { type: "resume" }
  /** New settings of the subscription. */
  | { type: "updated"; subscription: SubscriptionRecord; n?: number }
  /** Failed events were marked for replay. */
  | { type: "replay"; n?: number }
  /** Write buffered (async) delivery records now. */
  | { type: "flush" }
  /** The idle wait ended (timer): report idle if still so. */
  | { type: "idleCheck" };

/** Waits of a courier, all in ms. */
export interface CourierWaits {
  /** First liveness probe wait (doubles per failed probe); 1 s in production. */
  probeInitialMs: number;
  /** Cap of every wait: probes, backoff, `Retry-After`; 5 min in production. */
  capMs: number;
  /** Scale of the first retry backoff after a non-2xx. */
  retryInitialMs: number;
}

/** What a courier needs. */
export interface CourierDeps {
  subscription: SubscriptionRecord;
  topicName: string;
  events: EventStore;
  deliveries: DeliveryStore;
  /** The subscription's signing secrets (read per send, so rotation applies at once). */
  secrets: () => Promise<SigningSecrets>;
  /** Called once when the subscriber answers 410; must only tell, never ask. */
  onGone: (subscription: SubscriptionRecord) => void | Promise<void>;
  /**
   * Called (tell only) each time the courier finds it has nothing to do.
   * `heard` is the highest `n` among the messages it has handled, so the
   * caller can tell whether a message of its own crossed the report. Without
   * it, an idle courier simply waits for its next wake.
   */
  onIdle?: (heard: number) => void;
  /** How long the courier must stay idle before it calls `onIdle`, in ms. */
  sleepAfterMs?: number;
  metrics?: DeliveryMetrics;
  waits: CourierWaits;
  /** Jitter source; `Math.random` by default. */
  random?: Random;
  /** How long async delivery records may wait in the buffer. */
  recordFlushMs: number;
  /** Node-wide cap on sends in flight, shared by every courier; none when absent. */
  slots?: Slots;
  /**
   * What to deliver through, shared by every courier of the node (its
   * connection pools outlive a sleeping courier); when absent the courier
   * makes and closes a client of its own on this thread.
   */
  client?: Sender;
  /**
   * What couriers that send one attempt at a time (`ordered`, or
   * `maxInFlight` 1) and liveness probes go through: each attempt waits for
   * the one before, so a hop to another thread would cost it more than it
   * frees. `client` when absent.
   */
  directClient?: Sender;
}

type Mode = "running" | "probing" | "paused" | "gone";

/** An event on its way: its attempts so far and the last failure. */
interface Pending {
  event: EventRecord;
  /** Requests sent (the `miranda-attempt` of the latest). */
  attempts: number;
  /** Non-2xx answers counted against `maxAttempts` (not throttling, not unreachable). */
  failures: number;
  lastStatus: number | null;
  lastError: string | null;
  /** A replay of a failed event (outside the log order). */
  replay: boolean;
}

interface Flight {
  pending: Pending;
  attemptId: string;
  abort: AbortController;
}

/** A courier's state: a cache of the store plus what is in flight. */
export interface CourierState {
  /** This incarnation; results of older ones' tasks are dropped. */
  inc: number;
  mode: Mode;
  client: Sender;
  /** Highest seq read from the log. */
  fetchedSeq: number;
  /** Seqs above the stored cursor already delivered or failed (skipped on read). */
  doneAbove: Set<number>;
  /** The last read found nothing more; cleared by `wake`. */
  logExhausted: boolean;
  /** The store may hold more replays than were read. */
  replaysPending: boolean;
  /** To send, in seq order. */
  ready: Pending[];
  inFlight: Map<number, Flight>;
  /** Backing off before a retry. */
  waiting: Map<number, { pending: Pending; timer: TimerHandle }>;
  /** Set while a `Retry-After` holds all sending. */
  hold: TimerHandle | null;
  /** Set when a send met the sealed keys; the next wake (after unsealing) clears it. */
  sealedIdle: boolean;
  /** Seqs in ready, in flight, waiting, or delivered but not yet recorded. */
  known: Set<number>;
  /** Async delivery records not yet written. */
  buffer: DeliveryRecord[];
  flushTimer: TimerHandle | null;
  /** Failed probes since the subscriber became unreachable. */
  probes: number;
  probeTimer: TimerHandle | null;
  probeAbort: AbortController | null;
  /** Running send and probe tasks, awaited (after abort) on terminate. */
  tasks: Set<Promise<void>>;
  /** The attempts' timeouts: one timer per length for all of them. */
  deadlines: Deadlines;
  backlogAt: number;
  /** Armed while idle, until `sleepAfterMs` has passed. */
  idleTimer: TimerHandle | null;
}

function insertBySeq(list: Pending[], pending: Pending): void {
  let i = list.length;
  while (i > 0 && list[i - 1]!.event.seq > pending.event.seq) i--;
  list.splice(i, 0, pending);
}

function newPending(event: EventRecord, replay: boolean): Pending {
  return {
    event,
    attempts: 0,
    failures: 0,
    lastStatus: null,
    lastError: null,
    replay,
  };
}

/** The courier's behavior for one subscription. */
export function courierBehavior(
  deps: CourierDeps,
): Behavior<CourierState, CourierMsg> {
  // Survives restarts: the latest settings and a counter of incarnations.
  let subscription = deps.subscription;
  let incarnations = 0;
  // The highest `n` handled, across restarts (see `CourierDeps.onIdle`).
  let heard = 0;
  const id = subscription.id;
  const labels = { subscription: id };
  const { waits } = deps;

  function safeTell(ctx: ActorContext<CourierMsg>, msg: CourierMsg): void {
    try {
      tell(ctx.self, msg);
    } catch (error) {
      // Stopped meanwhile: the result belongs to nobody any more.
      if (!(error instanceof ActorStoppedError)) throw error;
    }
  }

  function runTask(
    state: CourierState,
    ctx: ActorContext<CourierMsg>,
    work: () => Promise<void>,
  ): void {
    const { promise, resolve } = Promise.withResolvers<void>();
    state.tasks.add(promise);
    ctx.spawnTask(async () => {
      try {
        await work();
      } finally {
        state.tasks.delete(promise);
        resolve();
      }
    });
  }

  function setLive(state: CourierState): void {
    deps.metrics?.live.set(labels, state.mode === "running" ? 1 : 0);
  }

  async function refreshBacklog(
    state: CourierState,
    ctx: ActorContext<CourierMsg>,
  ): Promise<void> {
    if (deps.metrics === undefined) return;
    const now = ctx.clock.now();
    if (now - state.backlogAt < BACKLOG_REFRESH_MS) return;
    state.backlogAt = now;
    deps.metrics.backlog.set(labels, await deps.deliveries.backlog(id));
  }

  async function loadReplays(state: CourierState): Promise<boolean> {
    const seqs = await deps.deliveries.replays(id, READ_BATCH);
    const fresh = seqs.filter((seq) => !state.known.has(seq));
    // More may wait behind a full page; look again once these are done.
    state.replaysPending = seqs.length === READ_BATCH && fresh.length > 0;
    if (fresh.length === 0) return false;
    for (const event of await deps.events.readSeqs(fresh)) {
      if (state.known.has(event.seq)) continue;
      state.known.add(event.seq);
      insertBySeq(state.ready, newPending(event, true));
    }
    return true;
  }

  /** Tops up `ready`; false when there is nothing more to send for now. */
  async function refill(state: CourierState): Promise<boolean> {
    if (state.replaysPending && await loadReplays(state)) return true;
    while (!state.logExhausted) {
      const { events, more } = await deps.events.read(
        subscription.topicId,
        state.fetchedSeq,
        READ_BATCH,
        READ_BYTES,
      );
      if (!more) state.logExhausted = true;
      let added = false;
      for (const event of events) {
        state.fetchedSeq = Math.max(state.fetchedSeq, event.seq);
        if (state.doneAbove.delete(event.seq)) continue;
        if (state.known.has(event.seq)) continue;
        state.known.add(event.seq);
        insertBySeq(state.ready, newPending(event, false));
        added = true;
      }
      if (added) return true;
    }
    return false;
  }

  /** Sends what the window allows; runs after every message. */
  async function pump(
    state: CourierState,
    ctx: ActorContext<CourierMsg>,
  ): Promise<void> {
    while (
      state.mode === "running" && state.hold === null && !state.sealedIdle
    ) {
      const { ordered } = subscription;
      const window = ordered ? 1 : Math.max(1, subscription.maxInFlight);
      if (state.inFlight.size >= window) break;
      // Ordered: N+1 never leaves before N is delivered or dead-lettered.
      if (ordered && state.waiting.size > 0) break;
      if (state.waiting.size >= PARKED_MAX) break;
      const next = state.ready.shift();
      if (next !== undefined) {
        send(state, next, ctx);
        continue;
      }
      if (!(await refill(state))) break;
    }
    await refreshBacklog(state, ctx);
  }

  /** Where one-at-a-time sends and probes go: see `CourierDeps.directClient`. */
  function directClient(state: CourierState): Sender {
    return deps.directClient ?? state.client;
  }

  function send(
    state: CourierState,
    pending: Pending,
    ctx: ActorContext<CourierMsg>,
  ): void {
    const { event } = pending;
    pending.attempts++;
    const attemptNo = pending.attempts;
    const attemptId = crypto.randomUUID();
    const abort = new AbortController();
    state.inFlight.set(event.seq, { pending, attemptId, abort });
    const { inc, deadlines } = state;
    const sub = subscription;
    const client = sub.ordered || sub.maxInFlight <= 1
      ? directClient(state)
      : state.client;
    runTask(state, ctx, async () => {
      // A node-wide slot first; aborted while waiting means stopping.
      if (deps.slots && !(await deps.slots.acquire(abort.signal))) return;
      try {
        await sendHolding();
      } finally {
        deps.slots?.release();
      }
    });

    async function sendHolding(): Promise<void> {
      let secrets: SigningSecrets;
      try {
        secrets = await deps.secrets();
      } catch (error) {
        if (!(error instanceof SealedError)) throw error;
        safeTell(ctx, { type: "sealedSend", inc, seq: event.seq, attemptId });
        return;
      }
      const now = ctx.clock.now();
      const timestamp = Math.floor(now / 1000);
      const signature = signatureHeader(secrets, {
        id: event.id,
        timestamp,
        body: event.body,
        now,
      });
      const result = await client.send({
        url: deliveryUrl(sub.url, event),
        method: event.method,
        headers: deliveryHeaders(event, {
          extra: sub.headers,
          topicName: deps.topicName,
          attempt: attemptNo,
          timestamp,
          signature,
        }),
        body: event.body,
        timeoutMs: sub.timeoutMs,
        signal: abort.signal,
        deadlines,
        privateAllowed: sub.privateAllowed,
        now: () => ctx.clock.now(),
      });
      safeTell(ctx, {
        type: "attemptDone",
        inc,
        seq: event.seq,
        attemptId,
        result,
      });
    }
  }

  async function flush(state: CourierState, ctx: ActorContext<CourierMsg>) {
    if (state.flushTimer !== null) {
      ctx.clearTimeout(state.flushTimer);
      state.flushTimer = null;
    }
    if (state.buffer.length === 0) return;
    const batch = state.buffer;
    state.buffer = [];
    await deps.deliveries.recordDelivered(batch);
    for (const record of batch) state.known.delete(record.seq);
  }

  /**
   * Writes buffered records; when the store refuses (disk full), keeps them
   * and tries again later instead of panicking: a courier that panics on
   * every flush would escalate and stop the node while the disk is full.
   */
  async function flushOrRetry(
    state: CourierState,
    ctx: ActorContext<CourierMsg>,
  ): Promise<void> {
    const batch = state.buffer;
    try {
      await flush(state, ctx);
    } catch (error) {
      state.buffer = [...batch, ...state.buffer];
      ctx.log.warn("Could not record deliveries; retrying", {
        subscription: id,
        records: state.buffer.length,
        ...errorFields(error),
      });
      if (state.flushTimer === null) {
        state.flushTimer = ctx.setTimeout(
          () => tell(ctx.self, { type: "flush" }),
          Math.max(1_000, deps.recordFlushMs),
        );
      }
    }
  }

  function finished(state: CourierState, pending: Pending): void {
    // A replay done frees room to look for more replays behind it.
    if (pending.replay && !state.replaysPending) state.replaysPending = true;
  }

  function requeue(state: CourierState, pending: Pending): void {
    insertBySeq(state.ready, pending);
  }

  function armProbe(state: CourierState, ctx: ActorContext<CourierMsg>) {
    const wait = probeDelay(state.probes + 1, {
      initialMs: waits.probeInitialMs,
      capMs: waits.capMs,
    });
    const { inc } = state;
    state.probeTimer = ctx.setTimeout(
      () => tell(ctx.self, { type: "probe", inc }),
      wait,
    );
    return wait;
  }

  function stopProbing(state: CourierState, ctx: ActorContext<CourierMsg>) {
    if (state.probeTimer !== null) ctx.clearTimeout(state.probeTimer);
    state.probeTimer = null;
    state.probeAbort?.abort();
    state.probeAbort = null;
    state.probes = 0;
  }

  async function settle(
    state: CourierState,
    flight: Flight,
    result: AttemptResult,
    ctx: ActorContext<CourierMsg>,
  ): Promise<void> {
    const { pending, attemptId } = flight;
    const { event } = pending;
    const now = ctx.clock.now();
    switch (result.kind) {
      case "ok": {
        const record: DeliveryRecord = {
          subscriptionId: id,
          seq: event.seq,
          eventId: event.id,
          attemptId,
          attempts: pending.attempts,
          deliveredAt: now,
        };
        deps.metrics?.deliveries.inc(labels);
        deps.metrics?.latency.observe(
          Math.max(0, now - event.receivedAt) / 1000,
        );
        finished(state, pending);
        if (subscription.record === "sync") {
          await deps.deliveries.recordDelivered([record]);
          state.known.delete(event.seq);
          return;
        }
        state.buffer.push(record);
        if (state.buffer.length >= FLUSH_MAX) {
          await flushOrRetry(state, ctx);
        } else if (state.flushTimer === null) {
          state.flushTimer = ctx.setTimeout(
            () => tell(ctx.self, { type: "flush" }),
            deps.recordFlushMs,
          );
        }
        return;
      }
      case "unreachable": {
        deps.metrics?.failures.inc({ ...labels, reason: "unreachable" });
        pending.lastError = result.error;
        requeue(state, pending);
        if (state.mode !== "running") return;
        state.mode = "probing";
        setLive(state);
        const waitMs = armProbe(state, ctx);
        ctx.log.warn("Subscriber unreachable, probing its liveness URL", {
          subscription: id,
          error: result.error,
          waitMs,
        });
        return;
      }
      case "gone": {
        deps.metrics?.failures.inc({ ...labels, reason: "gone" });
        pending.lastStatus = 410;
        requeue(state, pending);
        if (state.mode === "gone") return;
        stopProbing(state, ctx);
        state.mode = "gone";
        setLive(state);
        ctx.log.warn("Subscriber answered 410 Gone; pausing", {
          subscription: id,
        });
        await deps.onGone(subscription);
        return;
      }
      case "http": {
        pending.lastStatus = result.status;
        pending.lastError = `HTTP ${result.status}`;
        if (result.retryAfterMs !== null) {
          deps.metrics?.failures.inc({ ...labels, reason: "throttled" });
          requeue(state, pending);
          // The subscriber asked for a pause: it holds every send.
          if (state.hold !== null) ctx.clearTimeout(state.hold);
          const { inc } = state;
          state.hold = ctx.setTimeout(
            () => tell(ctx.self, { type: "retry", inc, seq: null }),
            Math.min(result.retryAfterMs, waits.capMs),
          );
          return;
        }
        deps.metrics?.failures.inc({ ...labels, reason: "http" });
        pending.failures++;
        const policy = subscription.failurePolicy;
        if (
          policy.mode === "deadLetter" && pending.failures >= policy.maxAttempts
        ) {
          // Deliveries below it go first, so the cursor never skips a record.
          await flush(state, ctx);
          await deps.deliveries.recordFailed({
            subscriptionId: id,
            seq: event.seq,
            eventId: event.id,
            reason: "dead_letter",
            attempts: pending.attempts,
            lastStatus: pending.lastStatus,
            lastError: pending.lastError,
            failedAt: now,
          });
          state.known.delete(event.seq);
          finished(state, pending);
          deps.metrics?.failures.inc({ ...labels, reason: "dead_letter" });
          return;
        }
        const { inc } = state;
        const seq = event.seq;
        const timer = ctx.setTimeout(
          () => tell(ctx.self, { type: "retry", inc, seq }),
          retryDelay(pending.failures, {
            initialMs: waits.retryInitialMs,
            capMs: waits.capMs,
            ...(deps.random ? { random: deps.random } : {}),
          }),
        );
        state.waiting.set(seq, { pending, timer });
        return;
      }
      default: {
        const _exhaustive: never = result;
        return;
      }
    }
  }

  /** Nothing to send, wait for or record: the courier may sleep. */
  function isIdle(state: CourierState): boolean {
    return state.mode === "running" && state.hold === null &&
      !state.sealedIdle && state.logExhausted && !state.replaysPending &&
      state.ready.length === 0 && state.inFlight.size === 0 &&
      state.waiting.size === 0 && state.buffer.length === 0 &&
      state.flushTimer === null && state.tasks.size === 0;
  }

  /** Starts the idle wait when there is nothing to do. */
  function armIdle(state: CourierState, ctx: ActorContext<CourierMsg>): void {
    if (deps.onIdle === undefined || state.idleTimer !== null) return;
    if (!isIdle(state)) return;
    state.idleTimer = ctx.setTimeout(
      () => tell(ctx.self, { type: "idleCheck" }),
      deps.sleepAfterMs ?? 0,
    );
  }

  function reportIfIdle(state: CourierState): void {
    if (deps.onIdle === undefined || !isIdle(state)) return;
    // Everything up to the log's end is done.
    deps.metrics?.backlog.set(labels, 0);
    deps.onIdle(heard);
  }

  function applyPause(
    state: CourierState,
    ctx: ActorContext<CourierMsg>,
    mode: "paused" | "gone",
  ): void {
    stopProbing(state, ctx);
    state.mode = mode;
    setLive(state);
  }

  return {
    name: `courier:${id}`,
    async init(ctx) {
      const inc = ++incarnations;
      const position = await deps.deliveries.position(id);
      const state: CourierState = {
        inc,
        mode: subscription.paused === null
          ? "running"
          : subscription.paused === "gone"
          ? "gone"
          : "paused",
        client: deps.client ?? localSender(createDeliveryClient()),
        fetchedSeq: position.cursor,
        doneAbove: new Set(position.doneAbove),
        logExhausted: false,
        replaysPending: true,
        ready: [],
        inFlight: new Map(),
        waiting: new Map(),
        hold: null,
        sealedIdle: false,
        known: new Set(),
        buffer: [],
        flushTimer: null,
        probes: 0,
        probeTimer: null,
        probeAbort: null,
        tasks: new Set(),
        deadlines: new Deadlines(ctx.clock),
        backlogAt: -Infinity,
        idleTimer: null,
      };
      setLive(state);
      tell(ctx.self, { type: "wake" });
      return state;
    },
    async handle(state, msg, ctx) {
      if ("n" in msg && msg.n !== undefined) heard = Math.max(heard, msg.n);
      if (msg.type === "idleCheck") {
        state.idleTimer = null;
        reportIfIdle(state);
        return state;
      }
      // Anything else is activity: the idle wait starts again afterwards.
      if (state.idleTimer !== null) {
        ctx.clearTimeout(state.idleTimer);
        state.idleTimer = null;
      }
      switch (msg.type) {
        case "wake": {
          // A read takes every committed event of the topic above
          // `fetchedSeq`, so a wake for seqs at or below it was answered by
          // an earlier read (wakes queue up while the courier works).
          if (msg.upTo === undefined || msg.upTo > state.fetchedSeq) {
            state.logExhausted = false;
          }
          state.sealedIdle = false;
          break;
        }
        case "reset": {
          ctx.stop();
          return state;
        }
        case "sealedSend": {
          if (msg.inc !== state.inc) return state;
          const flight = state.inFlight.get(msg.seq);
          if (flight === undefined || flight.attemptId !== msg.attemptId) {
            return state;
          }
          state.inFlight.delete(msg.seq);
          // The attempt never left: it does not count.
          flight.pending.attempts--;
          insertBySeq(state.ready, flight.pending);
          state.sealedIdle = true;
          return state;
        }
        case "attemptDone": {
          if (msg.inc !== state.inc) return state;
          const flight = state.inFlight.get(msg.seq);
          if (flight === undefined || flight.attemptId !== msg.attemptId) {
            return state;
          }
          state.inFlight.delete(msg.seq);
          await settle(state, flight, msg.result, ctx);
          break;
        }
        case "retry": {
          if (msg.inc !== state.inc) return state;
          if (msg.seq === null) {
            state.hold = null;
            break;
          }
          const parked = state.waiting.get(msg.seq);
          if (parked === undefined) return state;
          state.waiting.delete(msg.seq);
          requeue(state, parked.pending);
          break;
        }
        case "probe": {
          if (msg.inc !== state.inc || state.mode !== "probing") return state;
          state.probeTimer = null;
          const abort = new AbortController();
          state.probeAbort = abort;
          const { inc, deadlines } = state;
          const client = directClient(state);
          const sub = subscription;
          runTask(state, ctx, async () => {
            const result = await client.send({
              url: sub.livenessUrl,
              method: "GET",
              headers: [],
              body: null,
              timeoutMs: sub.timeoutMs,
              signal: abort.signal,
              deadlines,
              privateAllowed: sub.privateAllowed,
            });
            safeTell(ctx, {
              type: "probeDone",
              inc,
              ok: result.kind === "ok",
              detail: result.kind === "unreachable"
                ? result.error
                : result.kind === "gone"
                ? "HTTP 410"
                : `HTTP ${result.status}`,
            });
          });
          return state;
        }
        case "probeDone": {
          if (msg.inc !== state.inc || state.mode !== "probing") return state;
          state.probeAbort = null;
          if (msg.ok) {
            ctx.log.info("Subscriber is live again; resuming", {
              subscription: id,
              probes: state.probes + 1,
            });
            state.probes = 0;
            state.mode = "running";
            setLive(state);
            break;
          }
          state.probes++;
          const waitMs = armProbe(state, ctx);
          ctx.log.info("Liveness probe failed", {
            subscription: id,
            probes: state.probes,
            detail: msg.detail,
            waitMs,
          });
          return state;
        }
        case "pause": {
          if (state.mode !== "gone") applyPause(state, ctx, "paused");
          return state;
        }
        case "resume": {
          if (state.mode === "paused" || state.mode === "gone") {
            state.mode = "running";
            setLive(state);
          }
          break;
        }
        case "updated": {
          subscription = msg.subscription;
          const paused = subscription.paused;
          if (paused !== null) {
            const mode = paused === "gone" ? "gone" : "paused";
            if (state.mode !== mode) applyPause(state, ctx, mode);
          } else if (state.mode === "paused" || state.mode === "gone") {
            state.mode = "running";
            setLive(state);
          }
          break;
        }
        case "replay": {
          state.replaysPending = true;
          break;
        }
        case "flush": {
          await flushOrRetry(state, ctx);
          armIdle(state, ctx);
          return state;
        }
        default: {
          const _exhaustive: never = msg;
          return state;
        }
      }
      try {
        await pump(state, ctx);
      } catch (error) {
        // Sealed: nothing can be read or signed; the next wake after unsealing resumes.
        if (!(error instanceof SealedError)) throw error;
        ctx.log.debug("courier idle while sealed", { subscription: id });
      }
      armIdle(state, ctx);
      return state;
    },
    async terminate(state, ctx) {
      for (const flight of state.inFlight.values()) flight.abort.abort();
      state.probeAbort?.abort();
      await Promise.allSettled([...state.tasks]);
      state.deadlines.close();
      const records = state.buffer.length;
      try {
        await flush(state, ctx);
      } catch (error) {
        ctx.log.warn("Could not record buffered deliveries on stop", {
          subscription: id,
          records,
          ...errorFields(error),
        });
      }
      // The subscription's series outlive the courier (restarts, sleeps);
      // the delivery actor drops them when the subscription goes.
      if (!deps.client) await state.client.close();
    },
  };
}
