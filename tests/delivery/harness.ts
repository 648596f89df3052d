/**
 * Fixtures for courier and delivery tests: real HTTP subscribers on
 * loopback, and a delivery actor with its couriers on a real actor system
 * over the real SQLite store (or the in-memory test double), with short
 * waits.
 *
 * @module
 */

import type { Sender } from "../../delivery/sender.ts";
import type { Slots } from "../../delivery/slots.ts";
import { Registry } from "prom-client";
import { ActorSystem, ask, tell } from "../../actors/system.ts";
import type { ActorRef } from "../../actors/types.ts";
import { deliveryBehavior, type DeliveryMsg } from "../../actors/delivery.ts";
import type { CourierWaits } from "../../actors/courier.ts";
import { newSigningSecret } from "../../delivery/signature.ts";
import { createLogger } from "../../observability/logger.ts";
import type {
  DeliveryRecord,
  DeliveryStore,
  EventStore,
  NewEvent,
  SigningSecrets,
  SubscriptionRecord,
} from "../../store/mod.ts";
import { openSqliteStore } from "../../store/sqlite/store.ts";
import { testKeyfile } from "../support/keys.ts";
import { MemoryStoreDouble } from "./memory_store_double.ts";

/** Which store the courier runs on: the real SQLite one, or the test double. */
export type StoreKind = "sqlite" | "double";

/** Both store kinds, for tests that run on each. */
export const STORE_KINDS: readonly StoreKind[] = ["sqlite", "double"];

/** A store under test, wrapped to count writes and wake waiters on changes. */
export class StoreProbe {
  readonly events: EventStore;
  readonly deliveries: DeliveryStore;
  /** Every delivery record written, in order. */
  readonly delivered: DeliveryRecord[] = [];
  /** Calls to `recordDelivered` (batches). */
  recordCalls = 0;
  /** Calls to `events.read` (reads of the log). */
  readCalls = 0;
  #waiters: (() => void)[] = [];

  constructor(
    inner: { events: EventStore; deliveries: DeliveryStore },
    readonly register: (
      sub: SubscriptionRecord,
      secrets: SigningSecrets,
    ) => Promise<void>,
    readonly close: () => Promise<void>,
  ) {
    this.events = {
      ...inner.events,
      append: async (events, onVisible) => {
        const seqs = await inner.events.append(events, onVisible);
        this.#changed();
        return seqs;
      },
      read: (topicId, afterSeq, limit, maxBytes) => {
        this.readCalls++;
        return inner.events.read(topicId, afterSeq, limit, maxBytes);
      },
    };
    this.deliveries = {
      ...inner.deliveries,
      recordDelivered: async (records) => {
        await inner.deliveries.recordDelivered(records);
        this.recordCalls++;
        this.delivered.push(...records);
        this.#changed();
      },
      recordFailed: async (failed) => {
        await inner.deliveries.recordFailed(failed);
        this.#changed();
      },
    };
  }

  /** Resolves once `predicate` holds (checked after every write), or rejects after `timeoutMs`. */
  until(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
    if (predicate()) return Promise.resolve();
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const timer = setTimeout(() => {
      this.#waiters = this.#waiters.filter((w) => w !== check);
      reject(new Error(`Store condition not met within ${timeoutMs} ms`));
    }, timeoutMs);
    const check = (): void => {
      if (!predicate()) return;
      clearTimeout(timer);
      this.#waiters = this.#waiters.filter((w) => w !== check);
      resolve();
    };
    this.#waiters.push(check);
    return promise;
  }

  #changed(): void {
    for (const check of [...this.#waiters]) check();
  }
}

async function openStore(kind: StoreKind): Promise<StoreProbe> {
  if (kind === "double") {
    const double = new MemoryStoreDouble();
    return new StoreProbe(
      double,
      (sub) => Promise.resolve(double.subscribe(sub.id, sub.topicId)),
      () => Promise.resolve(),
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "miranda-courier-" });
  const { keyring } = await testKeyfile();
  const store = openSqliteStore(`${dir}/miranda.db`, () => keyring);
  const change = {
    actor: "admin",
    requestId: "test",
    time: new Date().toISOString(),
  };
  return new StoreProbe(
    store,
    async (sub, secrets) => {
      if (await store.topics.getById(sub.topicId) === null) {
        await store.topics.create({
          id: sub.topicId,
          name: `topic-${sub.topicId}`,
          owner: "admin",
          ack: "persisted",
          retentionMs: 7 * 86_400_000,
          maxBodyBytes: null,
          grants: [],
          createdAt: change.time,
          version: 1,
        }, change);
      }
      await store.subscriptions.create(sub, secrets, change);
    },
    async () => {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  );
}

/** One request a subscriber received. */
export interface Received {
  method: string;
  path: string;
  search: string;
  headers: Headers;
  body: Uint8Array;
  /** `performance.now()` on arrival. */
  at: number;
}

/** A loopback HTTP subscriber that records requests and answers through `respond`. */
export class Subscriber implements AsyncDisposable {
  readonly received: Received[] = [];
  readonly server: Deno.HttpServer<Deno.NetAddr>;
  inFlight = 0;
  maxInFlight = 0;
  #waiters: (() => void)[] = [];

  /** Starts on `port` (0: any free port). */
  constructor(
    public respond: (
      request: Received,
      index: number,
    ) => Response | Promise<Response>,
    port = 0,
  ) {
    this.server = Deno.serve(
      { port, hostname: "127.0.0.1", onListen: () => {} },
      async (request) => {
        const url = new URL(request.url);
        const received: Received = {
          method: request.method,
          path: url.pathname,
          search: url.search,
          headers: request.headers,
          body: new Uint8Array(await request.arrayBuffer()),
          at: performance.now(),
        };
        const index = this.received.push(received) - 1;
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        this.#changed();
        try {
          return await this.respond(received, index);
        } finally {
          this.inFlight--;
          this.#changed();
        }
      },
    );
  }

  /** Base URL, e.g. `http://127.0.0.1:1234`. */
  get url(): string {
    return `http://127.0.0.1:${this.server.addr.port}`;
  }

  /** Requests for the delivery URL (not liveness probes). */
  get deliveries(): Received[] {
    return this.received.filter((r) => r.path !== "/live");
  }

  /** Resolves once `predicate` holds (checked on every request), or rejects after `timeoutMs`. */
  until(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
    if (predicate()) return Promise.resolve();
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const timer = setTimeout(() => {
      this.#waiters = this.#waiters.filter((w) => w !== check);
      reject(new Error(`Subscriber condition not met within ${timeoutMs} ms`));
    }, timeoutMs);
    const check = (): void => {
      if (!predicate()) return;
      clearTimeout(timer);
      this.#waiters = this.#waiters.filter((w) => w !== check);
      resolve();
    };
    this.#waiters.push(check);
    return promise;
  }

  #changed(): void {
    for (const check of [...this.#waiters]) check();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.server.shutdown();
  }
}

/** A port nothing listens on (for now). */
export function freePort(): number {
  const listener = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Body text of the numbered test event. */
export function numbered(n: number): string {
  return JSON.stringify({ n });
}

/** The number in a numbered event's body. */
export function numberOf(received: Received): number {
  return JSON.parse(new TextDecoder().decode(received.body)).n;
}

/** A subscription record with test defaults. */
export function subscriptionRecord(
  overrides: Partial<SubscriptionRecord> & { url: string },
): SubscriptionRecord {
  return {
    id: crypto.randomUUID(),
    topicId: "topic-1",
    owner: "alice",
    livenessUrl: new URL("/live", overrides.url).href,
    ordered: true,
    maxInFlight: 1,
    failurePolicy: { mode: "retry", maxAttempts: 3 },
    record: "sync",
    timeoutMs: 2_000,
    headers: {},
    paused: null,
    privateAllowed: true,
    createdAt: new Date().toISOString(),
    version: 1,
    ...overrides,
  };
}

/** Short waits for tests. */
export const TEST_WAITS: CourierWaits = {
  probeInitialMs: 20,
  capMs: 160,
  retryInitialMs: 10,
};

/** A delivery actor over the store double, with captured logs. */
export interface Harness extends AsyncDisposable {
  system: ActorSystem;
  store: StoreProbe;
  delivery: ActorRef<DeliveryMsg>;
  registry: Registry;
  logs: Record<string, unknown>[];
  secrets: Map<string, SigningSecrets>;
  gone: SubscriptionRecord[];
  /** The latest courier spawned per subscription id, as the delivery actor spawned it. */
  couriers: Map<string, ActorRef<unknown>>;
  /** Registers and starts the courier of `subscription`. */
  start(subscription: SubscriptionRecord, topicName?: string): Promise<void>;
  /** Appends events to `topicId` and wakes its couriers. */
  publish(
    topicId: string,
    events: Partial<NewEvent>[],
  ): Promise<{ id: string; seq: number }[]>;
  /** Resolves once `predicate` holds (checked on every log line and onGone call). */
  until(predicate: () => boolean, timeoutMs?: number): Promise<void>;
  /** Appends `count` numbered POST events starting at `from`. */
  publishNumbered(
    topicId: string,
    from: number,
    count: number,
  ): Promise<{ id: string; seq: number }[]>;
}

/** Builds the harness; `secrets` may be replaced per subscription. */
export async function harness(
  options: {
    store?: StoreKind;
    waits?: Partial<CourierWaits>;
    recordFlushMs?: number;
    sleepAfterMs?: number;
    slots?: Slots;
    secretsHook?: (subscriptionId: string) => void;
    client?: Sender;
    directClient?: Sender;
  } = {},
): Promise<Harness> {
  const logs: Record<string, unknown>[] = [];
  let waiters: (() => void)[] = [];
  const changed = (): void => {
    for (const check of [...waiters]) check();
  };
  const log = createLogger({
    level: "debug",
    sink: (line) => {
      logs.push(JSON.parse(line));
      changed();
    },
  });
  const registry = new Registry();
  const system = new ActorSystem({ log, registry, panicMode: "continue" });
  const store = await openStore(options.store ?? "sqlite");
  const secrets = new Map<string, SigningSecrets>();
  const gone: SubscriptionRecord[] = [];
  // The delivery actor's system, seen through a window that notes the
  // couriers it spawns, so a test can reach one behind its back.
  const couriers = new Map<string, ActorRef<unknown>>();
  const spawning = new Proxy(system, {
    get(target, key) {
      if (key !== "spawn") {
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      }
      return async (...args: Parameters<ActorSystem["spawn"]>) => {
        const ref = await target.spawn(...args);
        const name = args[0].name;
        if (name.startsWith("courier:")) {
          couriers.set(name.slice("courier:".length), ref as ActorRef<unknown>);
        }
        return ref;
      };
    },
  });
  const delivery = await system.spawn(deliveryBehavior({
    system: spawning,
    events: store.events,
    deliveries: store.deliveries,
    secrets: (subscriptionId) => {
      options.secretsHook?.(subscriptionId);
      const found = secrets.get(subscriptionId);
      if (found === undefined) {
        return Promise.reject(new Error(`No secrets for "${subscriptionId}"`));
      }
      return Promise.resolve(found);
    },
    onGone: (subscription) => {
      gone.push(subscription);
      changed();
    },
    registry,
    waits: { ...TEST_WAITS, ...options.waits },
    recordFlushMs: options.recordFlushMs ?? 20,
    ...(options.sleepAfterMs === undefined
      ? {}
      : { sleepAfterMs: options.sleepAfterMs }),
    ...(options.slots === undefined ? {} : { slots: options.slots }),
    ...(options.client === undefined ? {} : { client: options.client }),
    ...(options.directClient === undefined
      ? {}
      : { directClient: options.directClient }),
    random: () => 0.5,
  }));
  const h: Harness = {
    system,
    store,
    delivery,
    registry,
    logs,
    secrets,
    gone,
    couriers,
    async start(subscription, topicName = "orders") {
      if (!secrets.has(subscription.id)) {
        secrets.set(subscription.id, {
          current: newSigningSecret(),
          previous: null,
        });
      }
      await store.register(subscription, secrets.get(subscription.id)!);
      await ask<DeliveryMsg, boolean>(delivery, (reply) => ({
        type: "start",
        subscription,
        topicName,
        reply,
      }), { timeoutMs: 2_000 });
    },
    async publish(topicId, events) {
      const full: NewEvent[] = events.map((event) => ({
        id: crypto.randomUUID(),
        topicId,
        method: "POST",
        path: "",
        query: "",
        contentType: "application/json",
        headers: {},
        body: new Uint8Array(),
        sender: "bob",
        receivedAt: Date.now(),
        idempotencyKey: null,
        ...event,
      }));
      const seqs = await store.events.append(full);
      // As the node does: the wake names the largest new seq.
      tell(delivery, { type: "wake", topicId, upTo: Math.max(0, ...seqs) });
      return full.map((event, i) => ({ id: event.id, seq: seqs[i]! }));
    },
    publishNumbered(topicId, from, count) {
      const encoder = new TextEncoder();
      return h.publish(
        topicId,
        Array.from({ length: count }, (_, i) => ({
          body: encoder.encode(numbered(from + i)),
        })),
      );
    },
    until(predicate, timeoutMs = 5_000) {
      if (predicate()) return Promise.resolve();
      const { promise, resolve, reject } = Promise.withResolvers<void>();
      const timer = setTimeout(() => {
        waiters = waiters.filter((w) => w !== check);
        reject(new Error(`Condition not met within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = (): void => {
        if (!predicate()) return;
        clearTimeout(timer);
        waiters = waiters.filter((w) => w !== check);
        resolve();
      };
      waiters.push(check);
      return promise;
    },
    [Symbol.asyncDispose]: async () => {
      await system.stop();
      await store.close();
    },
  };
  return h;
}
