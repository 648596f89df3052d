import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { Buffer } from "node:buffer";
import { tell } from "../../actors/system.ts";
import { READ_BYTES } from "../../actors/courier.ts";
import { deliveryUrl } from "../../delivery/request.ts";
import { newSigningSecret } from "../../delivery/signature.ts";
import { createDeliveryClient } from "../../delivery/client.ts";
import { localSender, type Sender } from "../../delivery/sender.ts";
import {
  freePort,
  harness,
  numberOf,
  type Received,
  STORE_KINDS,
  Subscriber,
  subscriptionRecord,
} from "../delivery/harness.ts";

const encoder = new TextEncoder();
const ok = () => new Response(null, { status: 204 });

/** Verifies a Standard Webhooks signature independently (node:crypto). */
function signaturesOf(received: Received, secrets: string[]): boolean[] {
  const id = received.headers.get("webhook-id")!;
  const timestamp = received.headers.get("webhook-timestamp")!;
  const sent = received.headers.get("webhook-signature")!.split(" ");
  return secrets.map((secret) => {
    const key = Buffer.from(secret.slice("whsec_".length), "base64");
    const expected = "v1," +
      createHmac("sha256", key).update(`${id}.${timestamp}.`).update(
        received.body,
      ).digest("base64");
    return sent.includes(expected);
  });
}

for (const kind of STORE_KINDS) {
  Deno.test(`courier [${kind}]: every delivery carries a valid signature; during rotation both secrets sign`, async () => {
    await using subscriber = new Subscriber(ok);
    await using h = await harness({ store: kind });
    const sub = subscriptionRecord({ url: subscriber.url + "/hook" });
    const current = newSigningSecret();
    const previous = newSigningSecret();
    h.secrets.set(sub.id, { current: previous, previous: null });
    await h.start(sub);
    const [first] = await h.publishNumbered(sub.topicId, 1, 1);
    await subscriber.until(() => subscriber.deliveries.length === 1);
    h.secrets.set(sub.id, {
      current,
      previous: { secret: previous, until: Date.now() + 60_000 },
    });
    await h.publishNumbered(sub.topicId, 2, 1);
    await subscriber.until(() => subscriber.deliveries.length === 2);

    const [one, two] = subscriber.deliveries as [Received, Received];
    assert.equal(one.headers.get("webhook-id"), first!.id);
    assert.ok(
      Math.abs(
        Number(one.headers.get("webhook-timestamp")) - Date.now() / 1000,
      ) <
        10,
    );
    assert.deepEqual(signaturesOf(one, [previous, current]), [true, false]);
    assert.equal(one.headers.get("webhook-signature")!.split(" ").length, 1);
    assert.deepEqual(signaturesOf(two, [current, previous]), [true, true]);
    assert.equal(two.headers.get("webhook-signature")!.split(" ").length, 2);
  });

  Deno.test(`courier [${kind}]: method, body, content type, kept and extra headers, path suffix and query arrive exactly as sent`, async () => {
    await using subscriber = new Subscriber(ok);
    await using h = await harness({ store: kind });
    const sub = subscriptionRecord({
      url: subscriber.url + "/hook?token=abc",
      headers: { "x-extra": "from-subscription", authorization: "Bearer s3" },
    });
    await h.start(sub, "orders");
    const binary = crypto.getRandomValues(new Uint8Array(3000));
    await h.publish(sub.topicId, [
      {
        method: "PUT",
        path: "/v1/items/42",
        query: "x=1&y=%20two",
        contentType: "application/octet-stream",
        headers: { "x-kept": "kept value", "idempotency-key": "k-1" },
        body: binary,
      },
      {
        method: "DELETE",
        path: "",
        query: "",
        contentType: null,
        body: new Uint8Array(),
      },
      {
        method: "POST",
        path: "/a",
        query: "",
        contentType: "text/plain; charset=utf-8",
        body: encoder.encode("héllo"),
      },
    ]);
    await subscriber.until(() => subscriber.deliveries.length === 3);
    const [put, del, post] = subscriber.deliveries as [
      Received,
      Received,
      Received,
    ];
    assert.equal(put.method, "PUT");
    assert.equal(put.path, "/hook/v1/items/42");
    assert.equal(put.search, "?token=abc&x=1&y=%20two");
    assert.deepEqual(put.body, binary);
    assert.equal(put.headers.get("content-type"), "application/octet-stream");
    assert.equal(put.headers.get("x-kept"), "kept value");
    assert.equal(put.headers.get("idempotency-key"), "k-1");
    assert.equal(put.headers.get("x-extra"), "from-subscription");
    assert.equal(put.headers.get("authorization"), "Bearer s3");
    assert.equal(put.headers.get("miranda-topic"), "orders");
    assert.equal(put.headers.get("miranda-attempt"), "1");
    assert.equal(del.method, "DELETE");
    assert.equal(del.path, "/hook");
    assert.equal(del.search, "?token=abc");
    assert.equal(del.body.length, 0);
    assert.equal(post.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(new TextDecoder().decode(post.body), "héllo");
    assert.equal(
      deliveryUrl("http://h/hook/", { path: "/x", query: "q=1" }),
      "http://h/hook/x?q=1",
    );
    assert.equal(
      deliveryUrl("http://h/", { path: "", query: "" }),
      "http://h/",
    );
  });

  Deno.test(`courier [${kind}]: ordered — a subscriber that fails event 3 twice still sees 1,2,3,4,5 in order`, async () => {
    let failuresLeft = 2;
    await using subscriber = new Subscriber((request) => {
      if (numberOf(request) === 3 && failuresLeft > 0) {
        failuresLeft--;
        return new Response("nope", { status: 500 });
      }
      return ok();
    });
    await using h = await harness({ store: kind });
    const sub = subscriptionRecord({ url: subscriber.url, record: "async" });
    await h.start(sub);
    await h.publishNumbered(sub.topicId, 1, 5);
    await subscriber.until(() => subscriber.deliveries.length === 7);
    assert.deepEqual(
      subscriber.deliveries.map(numberOf),
      [1, 2, 3, 3, 3, 4, 5],
    );
    assert.deepEqual(
      subscriber.deliveries.map((r) => r.headers.get("miranda-attempt")),
      ["1", "1", "1", "2", "3", "1", "1"],
    );
    assert.equal(subscriber.maxInFlight, 1);
    // Async records: flushed on the short timer, fewer writes than deliveries.
    await h.store.until(() => h.store.delivered.length === 5);
    assert.ok(h.store.recordCalls < 5, `${h.store.recordCalls} writes`);
    assert.deepEqual(
      h.store.delivered.map((d) => [d.seq, d.attempts]),
      [[1, 1], [2, 1], [3, 3], [4, 1], [5, 1]],
    );
    assert.equal(
      (await h.store.deliveries.position(sub.id)).cursor,
      5,
    );
  });

  Deno.test(`courier [${kind}]: unordered with maxInFlight 8 keeps several requests open at once`, async () => {
    const { promise: gate, resolve: open } = Promise.withResolvers<void>();
    await using subscriber = new Subscriber(async () => {
      await gate;
      return ok();
    });
    await using h = await harness({ store: kind });
    const sub = subscriptionRecord({
      url: subscriber.url,
      ordered: false,
      maxInFlight: 8,
    });
    await h.start(sub);
    await h.publishNumbered(sub.topicId, 1, 20);
    await subscriber.until(() => subscriber.inFlight === 8);
    open();
    await h.store.until(() => h.store.delivered.length === 20);
    assert.equal(subscriber.maxInFlight, 8);
    assert.deepEqual(
      subscriber.deliveries.map(numberOf).sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });

  Deno.test(`courier [${kind}]: a refused connection pauses delivery and probes with doubling waits; every event arrives once the subscriber is up`, async () => {
    const port = freePort();
    await using h = await harness({ store: kind });
    const url = `http://127.0.0.1:${port}`;
    const sub = subscriptionRecord({ url: url + "/hook" });
    await h.start(sub);
    await h.publishNumbered(sub.topicId, 1, 3);
    const probeLogs = () =>
      h.logs.filter((l) => l.msg === "Liveness probe failed");
    await h.until(() => probeLogs().length >= 5);
    const waits = probeLogs().slice(0, 5).map((l) => l.waitMs);
    // 20 ms first, then 40, 80, 160 (cap), 160, 160.
    assert.deepEqual(waits, [40, 80, 160, 160, 160]);
    const unreachable = h.logs.find((l) =>
      l.msg === "Subscriber unreachable, probing its liveness URL"
    );
    assert.equal(unreachable?.waitMs, 20);
    const times = probeLogs().slice(0, 4).map((l) =>
      Date.parse(l.time as string)
    );
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert.ok(gaps[0]! >= 35 && gaps[1]! >= 75 && gaps[2]! >= 150, `${gaps}`);

    await using subscriber = new Subscriber(ok, port);
    await h.store.until(() => h.store.delivered.length === 3);
    assert.deepEqual(subscriber.deliveries.map(numberOf), [1, 2, 3]);
    assert.ok(subscriber.received.some((r) => r.path === "/live"));
    assert.ok(
      h.logs.some((l) => l.msg === "Subscriber is live again; resuming"),
    );
    const live = await h.registry.getSingleMetric("miranda_subscription_live")
      ?.get();
    assert.equal(
      live?.values.find((v) => v.labels.subscription === sub.id)?.value,
      1,
    );
  });

  Deno.test(`courier [${kind}]: 429 with Retry-After holds delivery as told, bounded by the cap`, async () => {
    await using subscriber = new Subscriber((_request, index) =>
      index === 0
        ? new Response("slow down", {
          status: 429,
          headers: { "retry-after": "1" },
        })
        : ok()
    );
    // Retry-After: 1 s, capped to 150 ms; backoff would be ~5 ms.
    await using h = await harness({
      store: kind,
      waits: { capMs: 150, retryInitialMs: 10 },
    });
    const sub = subscriptionRecord({ url: subscriber.url });
    await h.start(sub);
    await h.publishNumbered(sub.topicId, 1, 2);
    await h.store.until(() => h.store.delivered.length === 2);
    const [first, second, third] = subscriber.deliveries as [
      Received,
      Received,
      Received,
    ];
    assert.deepEqual([first, second, third].map(numberOf), [1, 1, 2]);
    const waited = second.at - first.at;
    assert.ok(waited >= 140 && waited < 900, `waited ${waited} ms`);
    assert.deepEqual(await h.store.deliveries.listFailed(sub.id, 0, 10), []);
  });

  Deno.test(`courier [${kind}]: a 410 pauses the subscription as gone and calls onGone, with no retry`, async () => {
    await using subscriber = new Subscriber(() =>
      new Response("gone", { status: 410 })
    );
    await using h = await harness({ store: kind });
    const sub = subscriptionRecord({ url: subscriber.url });
    await h.start(sub);
    await h.publishNumbered(sub.topicId, 1, 3);
    await subscriber.until(() => subscriber.deliveries.length === 1);
    await h.until(() => h.gone.length > 0);
    assert.equal(h.gone[0]?.id, sub.id);
    // More events and a wake: nothing is sent while gone (a short wait is the
    // only way to observe an absence).
    await h.publishNumbered(sub.topicId, 4, 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(subscriber.deliveries.length, 1);
    assert.equal(h.gone.length, 1);
    assert.equal(h.store.delivered.length, 0);
    const failures = await h.registry.getSingleMetric(
      "miranda_delivery_failures_total",
    )?.get();
    assert.equal(
      failures?.values.find((v) => v.labels.reason === "gone")?.value,
      1,
    );
  });

  Deno.test(`courier [${kind}]: deadLetter after maxAttempts records a failed event and moves on; a replay delivers it again`, async () => {
    let accept = false;
    await using subscriber = new Subscriber((request) =>
      numberOf(request) === 2 && !accept
        ? new Response("bad", { status: 422 })
        : ok()
    );
    await using h = await harness({ store: kind });
    const sub = subscriptionRecord({
      url: subscriber.url,
      failurePolicy: { mode: "deadLetter", maxAttempts: 3 },
    });
    await h.start(sub);
    const events = await h.publishNumbered(sub.topicId, 1, 3);
    await h.store.until(() => h.store.delivered.length === 2);
    assert.deepEqual(subscriber.deliveries.map(numberOf), [1, 2, 2, 2, 3]);
    const [failed] = await h.store.deliveries.listFailed(sub.id, 0, 10);
    assert.deepEqual(
      failed && {
        seq: failed.seq,
        eventId: failed.eventId,
        reason: failed.reason,
        attempts: failed.attempts,
        lastStatus: failed.lastStatus,
        lastError: failed.lastError,
      },
      {
        seq: events[1]!.seq,
        eventId: events[1]!.id,
        reason: "dead_letter",
        attempts: 3,
        lastStatus: 422,
        lastError: "HTTP 422",
      },
    );
    assert.equal((await h.store.deliveries.position(sub.id)).cursor, 3);

    accept = true;
    assert.equal(await h.store.deliveries.markReplay(sub.id, null), 1);
    tell(h.delivery, { type: "replay", subscriptionId: sub.id });
    await h.store.until(() => h.store.delivered.length === 3);
    assert.equal(h.store.delivered[2]?.eventId, events[1]!.id);
    assert.deepEqual(subscriber.deliveries.map(numberOf), [1, 2, 2, 2, 3, 2]);
    assert.equal(
      subscriber.deliveries.at(-1)?.headers.get("miranda-attempt"),
      "1",
    );
    assert.deepEqual(await h.store.deliveries.listFailed(sub.id, 0, 10), []);
  });

  Deno.test(`courier [${kind}]: a panic (secrets failing once) restarts only that courier, and delivery resumes from the store`, async () => {
    await using subscriber = new Subscriber(ok);
    let failNext = "";
    await using h = await harness({
      store: kind,
      secretsHook: (id) => {
        if (id === failNext) {
          failNext = "";
          throw new Error("Injected secrets failure");
        }
      },
    });
    const a = subscriptionRecord({ url: subscriber.url + "/a" });
    const b = subscriptionRecord({
      url: subscriber.url + "/b",
      topicId: "topic-2",
    });
    await h.start(a);
    await h.start(b);
    await h.publishNumbered(a.topicId, 1, 2);
    await h.store.until(() => h.store.delivered.length === 2);
    failNext = a.id;
    await h.publishNumbered(a.topicId, 3, 3);
    await h.publishNumbered(b.topicId, 100, 3);
    await h.store.until(() => h.store.delivered.length === 8);
    const byPath = (path: string) =>
      subscriber.deliveries.filter((r) => r.path === path).map(numberOf);
    assert.deepEqual(byPath("/a"), [1, 2, 3, 4, 5]);
    assert.deepEqual(byPath("/b"), [100, 101, 102]);
    const restarts = await h.registry.getSingleMetric(
      "miranda_actor_restarts_total",
    )?.get();
    assert.deepEqual(
      restarts?.values.map((v) => [v.labels.actor, v.value]),
      [[`courier:${a.id}`, 1]],
    );
    assert.ok(h.logs.some((l) => l.error === "Injected secrets failure"));
  });

  Deno.test(`courier [${kind}]: a backlog of large events is read a few at a time (READ_BYTES) and delivered whole`, async () => {
    await using subscriber = new Subscriber(ok);
    await using h = await harness({ store: kind });
    const sub = subscriptionRecord({
      url: subscriber.url + "/hook",
      ordered: false,
      maxInFlight: 8,
    });
    const large = Math.floor(READ_BYTES / 3) + 1;
    const count = 7;
    await h.start(sub);
    const before = h.store.readCalls;
    // One append, one wake: the courier finds the whole backlog at once.
    const published = await h.publish(
      sub.topicId,
      Array.from({ length: count }, (_, i) => ({
        body: new Uint8Array(large).fill(0x61 + i),
      })),
    );
    await subscriber.until(() => subscriber.deliveries.length === count);
    // Three events reach the bound: pages of 3, 3 and 1.
    assert.ok(
      h.store.readCalls - before >= 3,
      `${
        h.store.readCalls - before
      } reads for ${count} events of ${large} bytes`,
    );
    await h.store.until(() => h.store.delivered.length === count);
    assert.deepEqual(
      h.store.delivered.map((d) => d.seq).sort((a, b) => a - b),
      published.map((p) => p.seq),
    );
  });

  Deno.test(`courier [${kind}]: a wake for events it has read already leaves the log alone; one for newer events reads it`, async () => {
    await using subscriber = new Subscriber(ok);
    await using h = await harness({ store: kind });
    const sub = subscriptionRecord({
      url: subscriber.url + "/hook",
      ordered: false,
      maxInFlight: 8,
    });
    await h.start(sub);
    const [first] = await h.publishNumbered(sub.topicId, 1, 1);
    // Recorded (`sync`): the courier has taken the answer, its window is open.
    await h.store.until(() => h.store.delivered.length === 1);
    const before = h.store.readCalls;
    // Wakes that queued behind a read which already took their events.
    for (let i = 0; i < 3; i++) {
      tell(h.delivery, {
        type: "wake",
        topicId: sub.topicId,
        upTo: first!.seq,
      });
    }
    // The next event's wake comes after them: once it is delivered, they
    // have been handled.
    await h.publishNumbered(sub.topicId, 2, 1);
    await subscriber.until(() => subscriber.deliveries.length === 2);
    assert.equal(h.store.readCalls - before, 1, "one read, for event 2");
    assert.deepEqual(subscriber.deliveries.map(numberOf), [1, 2]);
  });
}

/** A sender on this thread that notes each attempt's method and path. */
function notingSender(): Sender & { sent: string[] } {
  const inner = localSender(createDeliveryClient());
  const sent: string[] = [];
  return {
    sent,
    send: (request) => {
      sent.push(`${request.method} ${new URL(request.url).pathname}`);
      return inner.send(request);
    },
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
  };
}

Deno.test("courier: subscriptions sending one at a time, and liveness probes, go through the direct client; wider windows through the shared one", async () => {
  await using subscriber = new Subscriber(ok);
  await using client = notingSender();
  await using directClient = notingSender();
  await using h = await harness({ client, directClient });
  const ordered = subscriptionRecord({
    url: subscriber.url + "/ordered",
    topicId: "t-ordered",
  });
  const single = subscriptionRecord({
    url: subscriber.url + "/single",
    topicId: "t-single",
    ordered: false,
    maxInFlight: 1,
  });
  const wide = subscriptionRecord({
    url: subscriber.url + "/wide",
    topicId: "t-wide",
    ordered: false,
    maxInFlight: 8,
  });
  const down = `http://127.0.0.1:${freePort()}`;
  const unreachable = subscriptionRecord({
    url: down + "/down",
    livenessUrl: down + "/live",
    topicId: "t-down",
    ordered: false,
    maxInFlight: 8,
  });
  for (const sub of [ordered, single, wide, unreachable]) await h.start(sub);
  for (const sub of [ordered, single, wide, unreachable]) {
    await h.publishNumbered(sub.topicId, 1, 3);
  }
  await subscriber.until(() => subscriber.deliveries.length === 9);
  await h.until(() => directClient.sent.includes("GET /live"));
  const count = (sent: string[], line: string) =>
    sent.filter((s) => s === line).length;
  assert.equal(count(directClient.sent, "POST /ordered"), 3);
  assert.equal(count(directClient.sent, "POST /single"), 3);
  assert.equal(count(client.sent, "POST /wide"), 3);
  assert.ok(count(client.sent, "POST /down") >= 1);
  assert.ok(!client.sent.some((s) => /ordered|single|live/.test(s)));
  assert.ok(!directClient.sent.some((s) => /wide|down/.test(s)));
});
