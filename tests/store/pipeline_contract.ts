/**
 * The conformance suite of the event pipeline stores (topics,
 * subscriptions, events, delivery state), part of the store contract: every
 * implementation runs these tests unchanged.
 *
 * Seqs are only compared with each other, never with literal numbers, so an
 * implementation may start its log anywhere.
 *
 * @module
 */

import assert from "node:assert/strict";
import type {
  ChangeContext,
  NewEvent,
  SigningSecrets,
  Store,
  SubscriptionRecord,
  TopicRecord,
} from "../../store/mod.ts";
import { type Keyring, SealedError } from "../../security/envelope.ts";
import { rotateDataKey } from "../../security/keyfile.ts";
import { testKeyfile } from "../support/keys.ts";

/** Opens a fresh, empty store of the implementation under test. */
export type OpenPipelineStore = (
  cipher: () => Keyring,
) => Promise<Store & { location: string }>;

const T0 = "2026-01-01T00:00:00.000Z";
const MS0 = Date.parse(T0);
const encode = (s: string) => new TextEncoder().encode(s);

function change(actor = "alice", requestId = "r1", time = T0): ChangeContext {
  return { actor, requestId, time };
}

/** A topic record named `name` (id `topic-<name>`, owned by alice), with `fields` over it. */
export function topicRecord(
  name: string,
  fields: Partial<TopicRecord> = {},
): TopicRecord {
  return {
    id: `topic-${name}`,
    name,
    owner: "alice",
    ack: "persisted",
    retentionMs: 7 * 24 * 3600_000,
    maxBodyBytes: null,
    grants: [],
    createdAt: T0,
    version: 1,
    ...fields,
  };
}

/** A subscription record with test defaults, `fields` overriding them. */
export function subscriptionRecord(
  id: string,
  topicId: string,
  fields: Partial<SubscriptionRecord> = {},
): SubscriptionRecord {
  return {
    id,
    topicId,
    owner: "bob",
    url: `https://subscriber.example/${id}`,
    livenessUrl: `https://subscriber.example/${id}/health`,
    ordered: true,
    maxInFlight: 1,
    failurePolicy: { mode: "retry", maxAttempts: 5 },
    record: "async",
    timeoutMs: 30_000,
    headers: {},
    paused: null,
    privateAllowed: false,
    createdAt: T0,
    version: 1,
    ...fields,
  };
}

const SECRETS: SigningSecrets = {
  current: "whsec_Y3VycmVudA==",
  previous: null,
};

let eventCounter = 0;

function newEvent(topicId: string, fields: Partial<NewEvent> = {}): NewEvent {
  eventCounter++;
  return {
    id: `ev-${eventCounter}-${crypto.randomUUID()}`,
    topicId,
    method: "POST",
    path: "/items",
    query: "x=1",
    contentType: "application/json",
    headers: { "x-request-source": "test" },
    body: encode(`{"n":${eventCounter}}`),
    sender: "alice",
    receivedAt: MS0,
    idempotencyKey: null,
    ...fields,
  };
}

/** Creates topics (or fails the test) and returns their ids. */
async function addTopics(store: Store, ...names: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const name of names) {
    const topic = topicRecord(name);
    assert.deepEqual(await store.topics.create(topic, change()), { ok: true });
    ids.push(topic.id);
  }
  return ids;
}

async function addSubscription(
  store: Store,
  id: string,
  topicId: string,
  fields: Partial<SubscriptionRecord> = {},
): Promise<SubscriptionRecord> {
  const sub = subscriptionRecord(id, topicId, fields);
  await store.subscriptions.create(sub, SECRETS, change("bob"));
  return sub;
}

/** Appends one event per entry; returns the events with their seqs. */
async function append(
  store: Store,
  events: NewEvent[],
): Promise<(NewEvent & { seq: number })[]> {
  const seqs = await store.events.append(events);
  assert.equal(seqs.length, events.length);
  return events.map((event, i) => ({ ...event, seq: seqs[i]! }));
}

function delivered(
  subscriptionId: string,
  event: { id: string; seq: number },
  attempts = 1,
  deliveredAt = MS0 + 1000,
) {
  return {
    subscriptionId,
    seq: event.seq,
    eventId: event.id,
    attemptId: `attempt-${event.id}-${attempts}`,
    attempts,
    deliveredAt,
  };
}

function deadLetter(
  subscriptionId: string,
  event: { id: string; seq: number },
  attempts = 3,
) {
  return {
    subscriptionId,
    seq: event.seq,
    eventId: event.id,
    reason: "dead_letter" as const,
    attempts,
    lastStatus: 500,
    lastError: "Internal Server Error",
    failedAt: MS0 + 2000,
  };
}

/** Registers the pipeline conformance tests for one implementation. */
export function pipelineContract(
  name: string,
  openStore: OpenPipelineStore,
): void {
  const open = async () => {
    const { keyring } = await testKeyfile();
    return await openStore(() => keyring);
  };

  Deno.test(`${name} store: topics are created once and found by name and id, listed by name`, async () => {
    await using store = await open();
    const orders = topicRecord("orders", {
      grants: [{ principal: "user:bob", rights: ["subscribe"] }],
      maxBodyBytes: 1024,
      version: 7,
    });
    assert.deepEqual(await store.topics.create(orders, change()), { ok: true });
    assert.deepEqual(
      await store.topics.create({ ...orders, id: "other-id" }, change()),
      { ok: false, code: "exists" },
    );
    await addTopics(store, "audit-log");
    const stored = { ...orders, version: 1 };
    assert.deepEqual(await store.topics.get("orders"), stored);
    assert.deepEqual(await store.topics.getById(orders.id), stored);
    assert.equal(await store.topics.get("missing"), null);
    assert.equal(await store.topics.getById("missing"), null);
    assert.deepEqual(
      (await store.topics.list()).map((t) => t.name),
      ["audit-log", "orders"],
    );
    assert.deepEqual(await store.topics.versions("orders"), [{
      version: 1,
      time: T0,
      actor: "alice",
      requestId: "r1",
      snapshot: {
        ack: "persisted",
        retentionMs: orders.retentionMs,
        maxBodyBytes: 1024,
        grants: orders.grants,
      },
    }]);
  });

  Deno.test(`${name} store: updating a topic makes a new version; a stale version conflicts`, async () => {
    await using store = await open();
    await addTopics(store, "orders");
    const grants = [{
      principal: "group:ops",
      rights: ["publish" as const, "subscribe" as const],
    }];
    const updated = await store.topics.update(
      "orders",
      { ack: "received", grants, maxBodyBytes: 2048 },
      {
        ...change("admin", "r2", "2026-01-02T00:00:00.000Z"),
        expectedVersion: 1,
      },
    );
    assert.ok(updated.ok);
    assert.equal(updated.topic.version, 2);
    assert.equal(updated.topic.ack, "received");
    assert.deepEqual(await store.topics.get("orders"), updated.topic);
    assert.deepEqual(
      await store.topics.update("orders", { retentionMs: 1 }, {
        ...change(),
        expectedVersion: 1,
      }),
      { ok: false, code: "version_conflict" },
    );
    assert.deepEqual(
      await store.topics.update("missing", {}, change()),
      { ok: false, code: "not_found" },
    );
    // maxBodyBytes: null clears the cap; an absent field keeps it.
    const cleared = await store.topics.update("orders", {
      maxBodyBytes: null,
    }, change());
    assert.ok(cleared.ok);
    assert.equal(cleared.topic.maxBodyBytes, null);
    assert.deepEqual(cleared.topic.grants, grants);
    const versions = await store.topics.versions("orders");
    assert.deepEqual(versions.map((v) => [v.version, v.actor]), [
      [1, "alice"],
      [2, "admin"],
      [3, "alice"],
    ]);
    assert.deepEqual(versions[1]!.snapshot, {
      ack: "received",
      retentionMs: updated.topic.retentionMs,
      maxBodyBytes: 2048,
      grants,
    });
    assert.equal((await store.topics.get("orders"))!.retentionMs, 604800000);
  });

  Deno.test(`${name} store: deleting a topic removes its events and subscriptions and counts the undelivered`, async () => {
    await using store = await open();
    const [orders, other] = await addTopics(store, "orders", "other");
    await addSubscription(store, "s1", orders!);
    await addSubscription(store, "s2", orders!);
    await addSubscription(store, "keep", other!);
    const events = await append(store, [
      newEvent(orders!),
      newEvent(other!),
      newEvent(orders!),
      newEvent(orders!),
    ]);
    await store.deliveries.recordDelivered([delivered("s1", events[0]!)]);
    await store.deliveries.recordFailed(deadLetter("s2", events[2]!));
    // s1 misses 2 of 3, s2 misses 2 of 3.
    assert.deepEqual(await store.topics.delete("orders"), {
      subscriptions: 2,
      undelivered: 4,
    });
    assert.equal(await store.topics.get("orders"), null);
    assert.deepEqual(await store.topics.versions("orders"), []);
    assert.equal(await store.subscriptions.get("s1"), null);
    assert.deepEqual(await store.subscriptions.list({ topicId: orders! }), []);
    assert.equal(await store.events.get(events[0]!.id), null);
    assert.deepEqual(await store.events.listMeta(orders!, 0, 10), []);
    assert.deepEqual(await store.deliveries.listDelivered("s1", 0, 10), []);
    assert.deepEqual(await store.deliveries.listFailed("s2", 0, 10), []);
    assert.equal(await store.topics.delete("orders"), null);
    // The other topic keeps its event and subscription.
    assert.equal((await store.events.get(events[1]!.id))?.id, events[1]!.id);
    assert.equal((await store.subscriptions.get("keep"))?.id, "keep");
    assert.equal(await store.deliveries.backlog("keep"), 1);
  });

  Deno.test(`${name} store: a new subscription starts after the topic's existing events`, async () => {
    await using store = await open();
    const [orders] = await addTopics(store, "orders");
    const before = await append(store, [newEvent(orders!), newEvent(orders!)]);
    const sub = await addSubscription(store, "s1", orders!, { version: 4 });
    assert.deepEqual(await store.subscriptions.get("s1"), {
      ...sub,
      version: 1,
    });
    const position = await store.deliveries.position("s1");
    assert.equal(position.cursor, before[1]!.seq);
    assert.deepEqual(position.doneAbove, []);
    assert.equal(await store.deliveries.backlog("s1"), 0);
    const [after] = await append(store, [newEvent(orders!)]);
    assert.equal(await store.deliveries.backlog("s1"), 1);
    assert.deepEqual(
      (await store.events.read(orders!, position.cursor, 10)).events.map((e) =>
        e.id
      ),
      [after!.id],
    );
    assert.deepEqual(
      await store.deliveries.eventState(before[0]!.id),
      [],
      "an event older than the subscription is not its to deliver",
    );
  });

  Deno.test(`${name} store: subscriptions are updated as versions, listed by topic and owner`, async () => {
    await using store = await open();
    const [orders, other] = await addTopics(store, "orders", "other");
    await addSubscription(store, "s1", orders!);
    await addSubscription(store, "s2", orders!, { owner: "carol" });
    await addSubscription(store, "s3", other!);
    const updated = await store.subscriptions.update("s1", {
      url: "https://new.example/hook",
      failurePolicy: { mode: "deadLetter", maxAttempts: 3 },
      headers: { "x-team": "blue" },
      paused: "manual",
      ordered: false,
      maxInFlight: 8,
      privateAllowed: true,
    }, { ...change("bob", "r2"), expectedVersion: 1 });
    assert.ok(updated.ok);
    assert.equal(updated.subscription.version, 2);
    assert.equal(updated.subscription.privateAllowed, true);
    assert.deepEqual(await store.subscriptions.get("s1"), updated.subscription);
    assert.deepEqual(
      await store.subscriptions.update("s1", { paused: null }, {
        ...change(),
        expectedVersion: 1,
      }),
      { ok: false, code: "version_conflict" },
    );
    assert.deepEqual(
      await store.subscriptions.update("nope", {}, change()),
      { ok: false, code: "not_found" },
    );
    const resumed = await store.subscriptions.update(
      "s1",
      { paused: null },
      change(),
    );
    assert.ok(resumed.ok);
    assert.equal(resumed.subscription.paused, null);
    assert.equal(resumed.subscription.url, "https://new.example/hook");
    const versions = await store.subscriptions.versions("s1");
    assert.deepEqual(versions.map((v) => v.version), [1, 2, 3]);
    assert.deepEqual(versions[1]!.snapshot, {
      url: "https://new.example/hook",
      livenessUrl: "https://subscriber.example/s1/health",
      ordered: false,
      maxInFlight: 8,
      failurePolicy: { mode: "deadLetter", maxAttempts: 3 },
      record: "async",
      timeoutMs: 30_000,
      headers: { "x-team": "blue" },
      paused: "manual",
      privateAllowed: true,
    });
    assert.equal(
      (versions[0]!.snapshot as { privateAllowed: boolean }).privateAllowed,
      false,
    );
    const ids = (subs: SubscriptionRecord[]) => subs.map((s) => s.id).sort();
    assert.deepEqual(ids(await store.subscriptions.list()), ["s1", "s2", "s3"]);
    assert.deepEqual(
      ids(await store.subscriptions.list({ topicId: orders! })),
      ["s1", "s2"],
    );
    assert.deepEqual(
      ids(await store.subscriptions.list({ owner: "bob" })),
      ["s1", "s3"],
    );
    assert.deepEqual(
      ids(await store.subscriptions.list({ topicId: orders!, owner: "bob" })),
      ["s1"],
    );
  });

  Deno.test(`${name} store: subscription secrets round-trip sealed and are unreadable while sealed`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    const [orders] = await addTopics(store, "orders");
    await addSubscription(store, "s1", orders!);
    assert.deepEqual(await store.subscriptions.secrets("s1"), SECRETS);
    assert.equal(await store.subscriptions.secrets("missing"), null);
    const rotated: SigningSecrets = {
      current: "whsec_bmV3",
      previous: { secret: SECRETS.current, until: MS0 + 86_400_000 },
    };
    await store.subscriptions.setSecrets("s1", rotated);
    assert.deepEqual(await store.subscriptions.secrets("s1"), rotated);
    keyring.wipe();
    await assert.rejects(() => store.subscriptions.secrets("s1"), {
      name: "SealedError",
    });
    await assert.rejects(
      () => store.subscriptions.setSecrets("s1", SECRETS),
      { name: "SealedError" },
    );
    await assert.rejects(
      () =>
        store.subscriptions.create(
          subscriptionRecord("s2", orders!),
          SECRETS,
          change(),
        ),
      { name: "SealedError" },
    );
    assert.equal(await store.subscriptions.get("s2"), null);
  });

  Deno.test(`${name} store: deleting a subscription drops its state and says how many it had not delivered`, async () => {
    await using store = await open();
    const [orders] = await addTopics(store, "orders");
    await addSubscription(store, "s1", orders!);
    await addSubscription(store, "s2", orders!);
    const events = await append(store, [
      newEvent(orders!),
      newEvent(orders!),
      newEvent(orders!),
    ]);
    await store.deliveries.recordDelivered([delivered("s1", events[1]!)]);
    assert.deepEqual(await store.subscriptions.delete("s1"), {
      undelivered: 2,
    });
    assert.equal(await store.subscriptions.delete("s1"), null);
    assert.equal(await store.subscriptions.get("s1"), null);
    assert.deepEqual(await store.subscriptions.versions("s1"), []);
    assert.deepEqual(await store.deliveries.listDelivered("s1", 0, 10), []);
    assert.equal(await store.deliveries.backlog("s2"), 3);
    // A delivery finishing after the delete changes nothing.
    await store.deliveries.recordDelivered([delivered("s1", events[0]!)]);
    assert.deepEqual(await store.deliveries.listDelivered("s1", 0, 10), []);
    assert.deepEqual(
      (await store.deliveries.eventState(events[0]!.id)).map((s) =>
        s.subscriptionId
      ),
      ["s2"],
    );
  });

  Deno.test(`${name} store: a batch append returns increasing seqs in order, in one transaction`, async () => {
    await using store = await open();
    const [orders] = await addTopics(store, "orders");
    assert.deepEqual(await store.events.append([]), []);
    assert.equal(await store.events.lastSeq(orders!), 0);
    const batch = Array.from({ length: 20 }, () => newEvent(orders!));
    const seqs = await store.events.append(batch);
    assert.equal(seqs.length, 20);
    for (let i = 1; i < seqs.length; i++) {
      assert.ok(seqs[i]! > seqs[i - 1]!, `seq ${i} increases`);
    }
    assert.equal(await store.events.lastSeq(orders!), seqs[19]);
    const next = await store.events.append([newEvent(orders!)]);
    assert.ok(next[0]! > seqs[19]!);
    // A batch with a duplicate id fails whole: nothing of it is stored.
    const fresh = newEvent(orders!);
    await assert.rejects(() =>
      store.events.append([fresh, { ...newEvent(orders!), id: batch[0]!.id }])
    );
    assert.equal(await store.events.get(fresh.id), null);
    assert.equal(await store.events.lastSeq(orders!), next[0]);
  });

  Deno.test(`${name} store: an append while sealed is refused and stores nothing`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    const [orders] = await addTopics(store, "orders");
    const [stored] = await append(store, [newEvent(orders!)]);
    keyring.wipe();
    await assert.rejects(() => store.events.append([newEvent(orders!)]), {
      name: "SealedError",
    });
    await assert.rejects(() => store.events.get(stored!.id), {
      name: "SealedError",
    });
    assert.equal(await store.events.lastSeq(orders!), stored!.seq);
    assert.equal((await store.events.listMeta(orders!, 0, 10)).length, 1);
  });

  Deno.test(`${name} store: an event appended while sealed is refused, and stored when appended again once the node is unsealed`, async () => {
    const { keyring } = await testKeyfile();
    let sealed = true;
    await using store = await openStore(() => {
      if (sealed) throw new SealedError("seal an event");
      return keyring;
    });
    sealed = false;
    const [orders] = await addTopics(store, "orders");
    sealed = true;
    const event = newEvent(orders!);
    await assert.rejects(() => store.events.append([event]), {
      name: "SealedError",
    });
    sealed = false;
    const [seq] = await store.events.append([event]);
    const read = await store.events.get(event.id);
    assert.equal(read?.seq, seq);
    assert.deepEqual(read?.body, event.body);
  });

  Deno.test(`${name} store: an idempotency key finds the original event only since the given time`, async () => {
    await using store = await open();
    const [orders, other] = await addTopics(store, "orders", "other");
    const [first] = await append(store, [
      newEvent(orders!, { idempotencyKey: "k1", receivedAt: MS0 }),
      newEvent(other!, { idempotencyKey: "k2", receivedAt: MS0 }),
      newEvent(orders!, { receivedAt: MS0 }),
    ]);
    const find = store.events.findByIdempotencyKey;
    assert.equal(await find(orders!, "k1", MS0), first!.id);
    assert.equal(await find(orders!, "k1", MS0 - 1), first!.id);
    assert.equal(await find(orders!, "k1", MS0 + 1), null, "outside window");
    assert.equal(await find(orders!, "k2", 0), null, "other topic's key");
    assert.equal(await find(orders!, "k3", 0), null);
  });

  Deno.test(`${name} store: topics share the log's seqs but each reads only its own events`, async () => {
    await using store = await open();
    const [a, b] = await addTopics(store, "a", "b");
    await addSubscription(store, "sa", a!);
    const events = await append(store, [
      newEvent(a!),
      newEvent(b!),
      newEvent(a!),
      newEvent(b!),
      newEvent(a!),
    ]);
    const ofA = events.filter((e) => e.topicId === a);
    const ofB = events.filter((e) => e.topicId === b);
    assert.deepEqual(
      (await store.events.read(a!, 0, 10)).events.map((e) => e.seq),
      ofA.map((e) => e.seq),
    );
    assert.deepEqual(
      (await store.events.listMeta(b!, 0, 10)).map((e) => e.id),
      ofB.map((e) => e.id),
    );
    // Pagination: after the first of A, at most one.
    assert.deepEqual(
      (await store.events.read(a!, ofA[0]!.seq, 1)).events.map((e) => e.id),
      [ofA[1]!.id],
    );
    assert.deepEqual(
      await store.events.listMeta(a!, ofA[2]!.seq, 10),
      [],
    );
    assert.equal(await store.events.lastSeq(a!), ofA[2]!.seq);
    assert.equal(await store.events.lastSeq(b!), ofB[1]!.seq);
    // Delivering A's own events moves the cursor past B's in between.
    await store.deliveries.recordDelivered(
      ofA.map((e) => delivered("sa", e)),
    );
    assert.deepEqual(await store.deliveries.position("sa"), {
      cursor: ofA[2]!.seq,
      doneAbove: [],
    });
    assert.equal(await store.deliveries.backlog("sa"), 0);
  });

  Deno.test(`${name} store: a page of events stops once it holds the byte bound (at least one event), and says whether more follow`, async () => {
    await using store = await open();
    const [a, b] = await addTopics(store, "a", "b");
    const body = (n: number) =>
      encode(JSON.stringify({ n, pad: "x".repeat(990) }));
    const events = await append(store, [
      newEvent(a!, { body: body(1) }),
      newEvent(b!, { body: body(2) }),
      newEvent(a!, { body: body(3) }),
      newEvent(a!, { body: body(4) }),
      newEvent(a!, { body: body(5) }),
      newEvent(a!, { body: body(6) }),
    ]);
    const ofA = events.filter((e) => e.topicId === a).map((e) => e.seq);
    const page = async (after: number, limit: number, maxBytes: number) => {
      const { events, more } = await store.events.read(
        a!,
        after,
        limit,
        maxBytes,
      );
      return { seqs: events.map((e) => e.seq), more };
    };
    // Each stored payload is a little over 1,000 bytes: the third reaches 2,500.
    assert.deepEqual(await page(0, 10, 2_500), {
      seqs: ofA.slice(0, 3),
      more: true,
    });
    assert.deepEqual(await page(ofA[2]!, 10, 2_500), {
      seqs: ofA.slice(3),
      more: false,
    });
    assert.deepEqual(await page(0, 10, 1), {
      seqs: ofA.slice(0, 1),
      more: true,
    });
    assert.deepEqual(await page(0, 5, 1e9), { seqs: ofA, more: true });
    assert.deepEqual(await page(0, 6, 1e9), { seqs: ofA, more: false });
    assert.deepEqual(await page(ofA[4]!, 10, 1), { seqs: [], more: false });
    const [opened] = (await store.events.read(a!, 0, 1, 1)).events;
    assert.deepEqual(opened!.body, body(1));
  });

  Deno.test(`${name} store: event bodies and headers round-trip byte for byte`, async () => {
    await using store = await open();
    const [orders] = await addTopics(store, "orders");
    const binary = new Uint8Array(512);
    for (let i = 0; i < binary.length; i++) binary[i] = (i * 7 + 3) % 256;
    const inputs = [
      newEvent(orders!, {
        body: binary,
        contentType: "application/octet-stream",
        headers: { "x-ünïcode": "välue ✓", "content-language": "de" },
        method: "PUT",
        path: "/a/b%20c",
        query: "q=%E2%9C%93&r",
        idempotencyKey: "idem-1",
        receivedAt: MS0 + 5,
      }),
      newEvent(orders!, {
        body: new Uint8Array(0),
        headers: {},
        contentType: null,
        method: "DELETE",
        path: "",
        query: "",
      }),
      newEvent(orders!, { body: encode("\u0000\u0001{}\r\n") }),
    ];
    const events = await append(store, inputs);
    for (const event of events) {
      const got = await store.events.get(event.id);
      assert.deepEqual(got, event);
      assert.deepEqual([...got!.body], [...event.body]);
    }
    assert.deepEqual((await store.events.read(orders!, 0, 10)).events, events);
    assert.deepEqual(
      await store.events.readSeqs([events[2]!.seq, events[0]!.seq, 999_999]),
      [events[0], events[2]],
    );
    assert.deepEqual(await store.events.readSeqs([]), []);
    const meta = await store.events.listMeta(orders!, 0, 10);
    assert.deepEqual(meta[0], {
      id: events[0]!.id,
      seq: events[0]!.seq,
      topicId: orders,
      method: "PUT",
      path: "/a/b%20c",
      query: "q=%E2%9C%93&r",
      contentType: "application/octet-stream",
      sender: "alice",
      receivedAt: MS0 + 5,
      idempotencyKey: "idem-1",
    });
    assert.equal(await store.events.get("missing"), null);
  });

  Deno.test(`${name} store: the cursor advances over out-of-order completions (3, then 1, then 2)`, async () => {
    await using store = await open();
    const [orders] = await addTopics(store, "orders");
    await addSubscription(store, "s1", orders!);
    const start = (await store.deliveries.position("s1")).cursor;
    const [e1, e2, e3] = await append(store, [
      newEvent(orders!),
      newEvent(orders!),
      newEvent(orders!),
    ]);
    await store.deliveries.recordDelivered([delivered("s1", e3!)]);
    let position = await store.deliveries.position("s1");
    assert.ok(position.cursor >= start && position.cursor < e1!.seq);
    assert.deepEqual(position.doneAbove, [e3!.seq]);
    assert.equal(await store.deliveries.backlog("s1"), 2);

    await store.deliveries.recordDelivered([delivered("s1", e1!)]);
    position = await store.deliveries.position("s1");
    assert.ok(position.cursor >= e1!.seq && position.cursor < e2!.seq);
    assert.deepEqual(position.doneAbove, [e3!.seq]);

    await store.deliveries.recordDelivered([delivered("s1", e2!)]);
    assert.deepEqual(await store.deliveries.position("s1"), {
      cursor: e3!.seq,
      doneAbove: [],
    });
    assert.equal(await store.deliveries.backlog("s1"), 0);

    // A redelivery recorded again keeps the first record.
    await store.deliveries.recordDelivered([
      delivered("s1", e1!, 2, MS0 + 9000),
    ]);
    const list = await store.deliveries.listDelivered("s1", 0, 10);
    assert.deepEqual(list.map((d) => [d.seq, d.attempts]), [
      [e1!.seq, 1],
      [e2!.seq, 1],
      [e3!.seq, 1],
    ]);
    assert.deepEqual(list[0], delivered("s1", e1!));
    assert.deepEqual(
      (await store.deliveries.listDelivered("s1", e1!.seq, 1)).map((d) =>
        d.seq
      ),
      [e2!.seq],
    );
  });

  Deno.test(`${name} store: one delivery batch spans subscriptions and advances each cursor`, async () => {
    await using store = await open();
    const [orders] = await addTopics(store, "orders");
    await addSubscription(store, "s1", orders!);
    await addSubscription(store, "s2", orders!);
    const [e1, e2] = await append(store, [
      newEvent(orders!),
      newEvent(orders!),
    ]);
    await store.deliveries.recordDelivered([
      delivered("s1", e1!),
      delivered("s2", e2!),
      delivered("s1", e2!),
    ]);
    assert.equal((await store.deliveries.position("s1")).cursor, e2!.seq);
    const s2 = await store.deliveries.position("s2");
    assert.ok(s2.cursor < e1!.seq, "s2 has not delivered the first event");
    assert.deepEqual(s2.doneAbove, [e2!.seq]);
  });

  Deno.test(`${name} store: a dead letter advances the cursor past it and is listed`, async () => {
    await using store = await open();
    const [orders] = await addTopics(store, "orders");
    await addSubscription(store, "s1", orders!);
    const [e1, e2] = await append(store, [
      newEvent(orders!),
      newEvent(orders!),
    ]);
    await store.deliveries.recordFailed(deadLetter("s1", e1!));
    assert.deepEqual(await store.deliveries.position("s1"), {
      cursor: e1!.seq,
      doneAbove: [],
    });
    assert.equal(await store.deliveries.backlog("s1"), 1);
    assert.deepEqual(await store.deliveries.listFailed("s1", 0, 10), [{
      ...deadLetter("s1", e1!),
      replaying: false,
    }]);
    await store.deliveries.recordDelivered([delivered("s1", e2!)]);
    assert.equal((await store.deliveries.position("s1")).cursor, e2!.seq);
    // Failing it again replaces the row.
    await store.deliveries.recordFailed({
      ...deadLetter("s1", e1!, 6),
      lastStatus: null,
      lastError: "Connection reset",
    });
    const failed = await store.deliveries.listFailed("s1", 0, 10);
    assert.deepEqual(failed.map((f) => [f.attempts, f.lastStatus]), [[
      6,
      null,
    ]]);
    assert.deepEqual(await store.deliveries.listFailed("s1", e1!.seq, 10), []);
  });

  Deno.test(`${name} store: replays are marked, listed, and cleared by their delivery`, async () => {
    await using store = await open();
    const [orders] = await addTopics(store, "orders");
    await addSubscription(store, "s1", orders!);
    await addSubscription(store, "s2", orders!);
    const [e1, e2, e3] = await append(store, [
      newEvent(orders!),
      newEvent(orders!),
      newEvent(orders!),
    ]);
    await store.deliveries.recordFailed(deadLetter("s1", e1!));
    await store.deliveries.recordFailed(deadLetter("s1", e2!));
    await store.deliveries.recordFailed(deadLetter("s2", e1!));
    assert.deepEqual(await store.deliveries.replays("s1", 10), []);
    assert.equal(await store.deliveries.markReplay("s1", [e2!.id, e3!.id]), 1);
    assert.deepEqual(await store.deliveries.replays("s1", 10), [e2!.seq]);
    assert.equal(await store.deliveries.markReplay("s1", null), 2);
    assert.deepEqual(await store.deliveries.replays("s1", 10), [
      e1!.seq,
      e2!.seq,
    ]);
    assert.deepEqual(await store.deliveries.replays("s1", 1), [e1!.seq]);
    assert.deepEqual(await store.deliveries.replays("s2", 10), []);
    assert.equal(
      (await store.deliveries.listFailed("s1", 0, 10))[0]!.replaying,
      true,
    );
    assert.deepEqual(
      (await store.deliveries.eventState(e1!.id)).map((s) => [
        s.subscriptionId,
        s.state,
      ]),
      [["s1", "pending"], ["s2", "failed"]],
    );
    await store.deliveries.recordDelivered([delivered("s1", e1!, 4)]);
    assert.deepEqual(await store.deliveries.replays("s1", 10), [e2!.seq]);
    assert.deepEqual(
      (await store.deliveries.listFailed("s1", 0, 10)).map((f) => f.seq),
      [e2!.seq],
    );
    // A replay that fails again is a plain dead letter once more.
    await store.deliveries.recordFailed(deadLetter("s1", e2!, 8));
    assert.deepEqual(await store.deliveries.replays("s1", 10), []);
    // A delivery of a dead letter not being replayed leaves it listed.
    await store.deliveries.recordDelivered([delivered("s2", e1!)]);
    assert.equal((await store.deliveries.listFailed("s2", 0, 10)).length, 1);
    assert.deepEqual(
      (await store.deliveries.eventState(e1!.id)).map((s) => s.state),
      ["delivered", "delivered"],
    );
  });

  Deno.test(`${name} store: expiry turns undelivered events into expired failed rows and removes the events`, async () => {
    await using store = await open();
    const [orders, other] = await addTopics(store, "orders", "other");
    await addSubscription(store, "s1", orders!);
    await addSubscription(store, "s2", orders!);
    await addSubscription(store, "so", other!);
    const [old1, old2, otherOld, young] = await append(store, [
      newEvent(orders!, { receivedAt: MS0 }),
      newEvent(orders!, { receivedAt: MS0 + 10 }),
      newEvent(other!, { receivedAt: MS0 }),
      newEvent(orders!, { receivedAt: MS0 + 100 }),
    ]);
    // Both finished old2 (above their cursors), neither old1.
    await store.deliveries.recordDelivered([delivered("s1", old2!)]);
    await store.deliveries.recordFailed(deadLetter("s2", old2!));
    assert.deepEqual(await store.events.expire(orders!, MS0 + 100), {
      removed: 2,
      expiredUndelivered: 2,
    });
    assert.equal(await store.events.get(old1!.id), null);
    assert.equal(await store.events.get(old2!.id), null);
    assert.equal((await store.events.get(young!.id))?.id, young!.id);
    assert.equal((await store.events.get(otherOld!.id))?.id, otherOld!.id);
    const s1Failed = await store.deliveries.listFailed("s1", 0, 10);
    assert.deepEqual(
      s1Failed.map((f) => [f.eventId, f.reason, f.attempts, f.replaying]),
      [[old1!.id, "expired", 0, false]],
    );
    assert.equal(typeof s1Failed[0]!.failedAt, "number");
    // Delivery records leave with their events (retention bounds them too).
    assert.deepEqual(await store.deliveries.listDelivered("s1", 0, 10), []);
    assert.deepEqual(
      (await store.deliveries.listFailed("s2", 0, 10)).map((f) => [
        f.eventId,
        f.reason,
      ]),
      [[old1!.id, "expired"], [old2!.id, "dead_letter"]],
    );
    // Only the young event is left to deliver, and the cursors say so.
    for (const id of ["s1", "s2"]) {
      assert.equal(await store.deliveries.backlog(id), 1);
      const position = await store.deliveries.position(id);
      assert.ok(position.cursor >= old2!.seq && position.cursor < young!.seq);
      assert.deepEqual(
        (await store.events.read(orders!, position.cursor, 10)).events.map((
          e,
        ) => e.id),
        [young!.id],
      );
    }
    // An expired event cannot be replayed; a dead letter whose event is gone neither.
    assert.equal(await store.deliveries.markReplay("s2", null), 0);
    assert.equal(await store.deliveries.backlog("so"), 1);
    assert.deepEqual(await store.events.expire(orders!, MS0 + 100), {
      removed: 0,
      expiredUndelivered: 0,
    });
    // A new event after expiry still gets a seq above every cursor.
    await store.events.expire(orders!, MS0 + 1000);
    const [later] = await append(store, [newEvent(orders!)]);
    assert.ok(later!.seq > young!.seq);
    assert.equal(await store.deliveries.backlog("s1"), 1);
  });

  Deno.test(`${name} store: an event's state is given per subscription`, async () => {
    await using store = await open();
    const [orders] = await addTopics(store, "orders");
    for (const id of ["s1", "s2", "s3", "s4"]) {
      await addSubscription(store, id, orders!);
    }
    const [e1, e2] = await append(store, [
      newEvent(orders!, { receivedAt: MS0 }),
      newEvent(orders!, { receivedAt: MS0 + 50 }),
    ]);
    await store.deliveries.recordDelivered([
      delivered("s1", e2!, 2, MS0 + 777),
    ]);
    await store.deliveries.recordFailed(deadLetter("s2", e2!, 5));
    await store.deliveries.recordDelivered([delivered("s4", e1!)]);
    await store.events.expire(orders!, MS0 + 10);
    await addSubscription(store, "s5", orders!);
    const states = await store.deliveries.eventState(e2!.id);
    assert.deepEqual(
      states.sort((x, y) => x.subscriptionId.localeCompare(y.subscriptionId)),
      [
        {
          subscriptionId: "s1",
          state: "delivered",
          attempts: 2,
          at: MS0 + 777,
        },
        { subscriptionId: "s2", state: "failed", attempts: 5, at: MS0 + 2000 },
        { subscriptionId: "s3", state: "pending", attempts: 0, at: null },
        { subscriptionId: "s4", state: "pending", attempts: 0, at: null },
      ],
    );
    assert.deepEqual(await store.deliveries.eventState(e1!.id), []);
    const expired = (await store.deliveries.listFailed("s3", 0, 10))[0]!;
    assert.equal(expired.reason, "expired");
    assert.equal(expired.eventId, e1!.id);
    assert.deepEqual(await store.deliveries.eventState("missing"), []);
  });

  Deno.test(`${name} store: backlog counts the events above the cursor not yet done`, async () => {
    await using store = await open();
    const [orders, other] = await addTopics(store, "orders", "other");
    await addSubscription(store, "s1", orders!);
    assert.equal(await store.deliveries.backlog("s1"), 0);
    assert.equal(await store.deliveries.backlog("missing"), 0);
    const events = await append(store, [
      newEvent(orders!),
      newEvent(other!),
      newEvent(orders!),
      newEvent(orders!),
      newEvent(orders!),
    ]);
    const mine = events.filter((e) => e.topicId === orders);
    assert.equal(await store.deliveries.backlog("s1"), 4);
    await store.deliveries.recordDelivered([delivered("s1", mine[3]!)]);
    assert.equal(await store.deliveries.backlog("s1"), 3);
    await store.deliveries.recordFailed(deadLetter("s1", mine[1]!));
    assert.equal(await store.deliveries.backlog("s1"), 2);
    await store.deliveries.recordDelivered([
      delivered("s1", mine[0]!),
      delivered("s1", mine[2]!),
    ]);
    assert.equal(await store.deliveries.backlog("s1"), 0);
    assert.deepEqual(await store.deliveries.position("s1"), {
      cursor: mine[3]!.seq,
      doneAbove: [],
    });
  });

  Deno.test(`${name} store: re-encryption covers event payloads and subscription secrets`, async () => {
    const created = await testKeyfile();
    let keyring = created.keyring;
    await using store = await openStore(() => keyring);
    const [orders] = await addTopics(store, "orders");
    await addSubscription(store, "s1", orders!);
    const [event] = await append(store, [newEvent(orders!)]);
    assert.deepEqual([...(await store.reencryption.countByKey())], [[1, 2]]);
    keyring = (await rotateDataKey(created.keyfile, keyring)).keyring;
    const cells = await store.reencryption.underOtherKeys(
      keyring.activeKeyId,
      10,
    );
    assert.deepEqual(
      cells.map((c) => `${c.ref.kind}:${c.ref.id}`).sort(),
      [`event:${event!.id}`, "subscription-secret:s1"],
    );
    for (const cell of cells) {
      const plain = await keyring.open(cell.ciphertext, cell.ref);
      const resealed = await keyring.seal(plain, cell.ref);
      assert.equal(
        await store.reencryption.replace(cell, resealed, keyring.activeKeyId),
        true,
      );
    }
    assert.deepEqual(
      [...(await store.reencryption.countByKey())],
      [[keyring.activeKeyId, 2]],
    );
    assert.deepEqual(await store.events.get(event!.id), event);
    assert.deepEqual(await store.subscriptions.secrets("s1"), SECRETS);
  });
}
