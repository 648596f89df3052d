/**
 * The event actor around its commits: couriers woken before the flush, a
 * commit's outcome through a full mailbox, a deleted topic's series, and
 * publishes refused while every commit slot is busy and the batch is full.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { MailboxFullError } from "../../actors/errors.ts";
import {
  type CommittedTopic,
  eventBehavior,
  type EventMsg,
  type PublishResult,
} from "../../actors/event.ts";
import { ActorSystem, ask, tell } from "../../actors/system.ts";
import type { ActorRef } from "../../actors/types.ts";
import { silentLogger } from "../../observability/logger.ts";
import type { Store } from "../../store/mod.ts";
import { openSqliteStore } from "../../store/sqlite/store.ts";
import { testKeyfile } from "../support/keys.ts";
import { topicRecord } from "../store/pipeline_contract.ts";
import { eventually } from "../support/pipeline_client.ts";

const T0 = "2026-01-01T00:00:00.000Z";

/**
 * An event actor on a real SQLite store whose WAL flushes wait for
 * `releaseFlushes` (or `stopHoldingFlushes`), and whose topic lookups wait for `releaseLookups` once
 * `holdLookups` is set; `woken` collects what it tells the couriers. Topics
 * `orders` and `refunds` are `persisted`, `fast` is `received`.
 */
async function heldEventActor(
  options: {
    mailboxCapacity?: number;
    batchMaxEvents?: number;
    batchMaxBytes?: number;
  } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "miranda-event-" });
  const { keyring } = await testKeyfile();
  const flushGates: PromiseWithResolvers<void>[] = [];
  let holdFlushes = true;
  const inner = openSqliteStore(`${dir}/miranda.db`, () => keyring, {
    walFlush: (file) => {
      if (!holdFlushes) return file.syncData();
      const gate = Promise.withResolvers<void>();
      flushGates.push(gate);
      return gate.promise;
    },
  });
  for (
    const [id, name, ack] of [
      ["t1", "orders", "persisted"],
      ["t2", "refunds", "persisted"],
      ["t3", "fast", "received"],
    ] as const
  ) {
    await inner.topics.create(
      topicRecord(name, { id, owner: "root", retentionMs: 60_000, ack }),
      { actor: "root", requestId: "r1", time: T0 },
    );
  }
  const lookups = Promise.withResolvers<void>();
  const held = { lookups: false };
  const store: Store = {
    ...inner,
    topics: {
      ...inner.topics,
      get: async (name) => {
        if (held.lookups) await lookups.promise;
        return inner.topics.get(name);
      },
    },
  };
  const woken: CommittedTopic[] = [];
  const registry = new Registry();
  const system = new ActorSystem({
    log: silentLogger,
    registry: new Registry(),
  });
  const event = await system.spawn(
    eventBehavior({
      store,
      maxBodyBytes: 1024,
      batchMaxEvents: options.batchMaxEvents ?? 64,
      batchMaxBytes: options.batchMaxBytes ?? 1024 * 1024,
      batchMaxDelayMs: 1,
      registry,
      onCommitted: (topics) => woken.push(...topics),
    }),
    { mailboxCapacity: options.mailboxCapacity ?? 1024 },
  );
  const releaseFlushes = () => {
    for (const gate of flushGates.splice(0)) gate.resolve();
  };
  return {
    inner,
    event,
    registry,
    woken,
    flushGates,
    releaseFlushes,
    /** Releases held flushes and lets later ones through. */
    stopHoldingFlushes: () => {
      holdFlushes = false;
      releaseFlushes();
    },
    holdLookups: () => (held.lookups = true),
    releaseLookups: () => lookups.resolve(),
    async [Symbol.asyncDispose]() {
      // A failed assertion must leave nothing waiting on a gate.
      holdFlushes = false;
      releaseFlushes();
      lookups.resolve();
      await system[Symbol.asyncDispose]();
      await inner[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Publishes `body` (`{}` by default) to `topic` as root. */
function publish(
  event: ActorRef<EventMsg>,
  topic: string,
  body = "{}",
): Promise<PublishResult> {
  return ask<EventMsg, PublishResult>(event, (reply) => ({
    type: "publish",
    identity: { user: "root", roles: ["admin"], groups: [], scopes: null },
    requestId: crypto.randomUUID(),
    event: {
      topic,
      method: "POST",
      path: "",
      query: "",
      contentType: "application/json",
      headers: {},
      body: new TextEncoder().encode(body),
      idempotencyKey: null,
    },
    reply,
  }), { timeoutMs: 10_000 });
}

/** Resolves once `check` holds, polling. */
function until(what: string, check: () => boolean): Promise<true> {
  return eventually(what, () => Promise.resolve(check() ? true : undefined));
}

Deno.test("event actor: couriers are woken once a batch can be read, while its flush runs; the publisher's 202 waits for the flush", async () => {
  await using held = await heldEventActor();
  let answer: PublishResult | null = null;
  const publishing = publish(held.event, "orders");
  // Rejected only when the test fails first; its own failure says why.
  publishing.then((result) => (answer = result), () => {});
  await until("couriers woken", () => held.woken.length > 0);
  const [seq] = (await held.inner.events.read("t1", 0, 10)).events.map((e) =>
    e.seq
  );
  assert.deepEqual(held.woken, [{ topicId: "t1", upTo: seq }]);
  // The flush starts once the WAL file is open, a moment after the wake.
  await until("a WAL flush started", () => held.flushGates.length > 0);
  assert.equal(answer, null, "answered before the WAL was flushed");
  held.releaseFlushes();
  assert.equal((await publishing).ok, true);
  assert.equal(held.woken.length, 1, "couriers woken again after the flush");
});

Deno.test("event actor: a commit that ends while publishers fill its mailbox is still answered", async () => {
  const capacity = 4;
  await using held = await heldEventActor({ mailboxCapacity: capacity });
  const first = publish(held.event, "orders");
  first.catch(() => {});
  await until("first batch committed", () => held.flushGates.length > 0);
  // The actor is held inside a publish (its topic lookup) while the mailbox fills.
  held.holdLookups();
  const blocked = publish(held.event, "refunds");
  blocked.catch(() => {});
  const queued: Promise<PublishResult>[] = [];
  let refused = 0;
  /** Publishes until the mailbox refuses one. */
  const fill = async () => {
    const before = refused;
    while (refused === before) {
      const p = publish(held.event, "refunds");
      queued.push(p);
      p.catch((error) => {
        if (error instanceof MailboxFullError) refused++;
      });
      await Promise.resolve();
    }
  };
  await fill();
  // Let the first batch's flush timer, queued meanwhile, be handled or lapse.
  await new Promise((resolve) => setTimeout(resolve, 20));
  await fill();
  // The first commit ends now, with the mailbox full.
  held.stopHoldingFlushes();
  await new Promise((resolve) => setTimeout(resolve, 50));
  held.releaseLookups();
  const answer = await first;
  assert.equal(answer.ok, true);
  assert.equal((await blocked).ok, true);
  const settled = await Promise.allSettled(queued);
  const answered = settled.filter((s) => s.status === "fulfilled");
  assert.equal(
    answered.length,
    queued.length - refused,
    "every publish the mailbox took is answered",
  );
  assert.ok(answered.every((s) => s.value.ok));
});

Deno.test("event actor: a batch committed after its topic was deleted does not bring back the topic's accepted series", async () => {
  await using held = await heldEventActor();
  const publishing = publish(held.event, "orders");
  publishing.catch(() => {});
  await until("a commit under way", () => held.flushGates.length > 0);
  tell(held.event, { type: "topicDeleted", name: "orders" });
  await new Promise((resolve) => setTimeout(resolve, 20));
  held.stopHoldingFlushes();
  assert.equal((await publishing).ok, true);
  assert.equal((await publish(held.event, "refunds")).ok, true);
  const text = await held.registry.metrics();
  assert.match(text, /miranda_events_accepted_total\{topic="refunds"\} 1/);
  assert.doesNotMatch(text, /miranda_events_accepted_total\{topic="orders"\}/);
});

for (
  const [bound, options, body] of [
    ["events", { batchMaxEvents: 3 }, "{}"],
    ["bytes", { batchMaxBytes: 100 }, JSON.stringify({ pad: "x".repeat(50) })],
  ] as const
) {
  Deno.test(`event actor: while every commit slot waits for its flush and the open batch is full (by ${bound}), a received publish is refused overloaded; once the flushes end, every accepted event is committed and publishes are accepted again`, async () => {
    await using held = await heldEventActor(options);
    const accepted: string[] = [];
    let refusal: PublishResult | null = null;
    // `received` answers at once, so nothing but the bound stops the batch.
    for (let i = 0; i < 64 && refusal === null; i++) {
      const result = await publish(held.event, "fast", body);
      if (result.ok) accepted.push(result.id);
      else refusal = result;
    }
    assert.ok(refusal !== null, "64 publishes were accepted without a bound");
    assert.equal(refusal.ok, false);
    assert.equal(refusal.ok === false && refusal.code, "overloaded");
    // The first event commits alone; while it waits, each further commit
    // starts only with a full batch — of 3 events, or of ≥ 100 bytes (2) —
    // up to four in flight; then one more full batch, and the refusal.
    const full = bound === "events" ? 3 : 2;
    assert.equal(accepted.length, 1 + 3 * full + full);
    held.stopHoldingFlushes();
    await eventually("every accepted event committed", async () => {
      const stored = (await held.inner.events.read("t3", 0, 100)).events;
      return stored.length === accepted.length ? stored : undefined;
    });
    const stored = (await held.inner.events.read("t3", 0, 100)).events;
    assert.deepEqual(stored.map((e) => e.id), accepted);
    assert.equal((await publish(held.event, "fast", body)).ok, true);
    const text = await held.registry.metrics();
    assert.match(
      text,
      /miranda_events_rejected_total\{topic="fast",reason="overloaded"\} 1/,
    );
  });
}
