import assert from "node:assert/strict";
import { serve } from "../support/loopback_server.ts";
import { attempt, parseRetryAfter } from "../../delivery/attempt.ts";
import { createDeliveryClient } from "../../delivery/client.ts";
import { Deadlines } from "../../actors/deadlines.ts";
import type { TimerHandle } from "../../actors/clock.ts";

const base = {
  method: "POST",
  headers: [],
  body: null,
  timeoutMs: 2000,
  privateAllowed: true,
};

Deno.test("attempt: classifies 2xx, 3xx (not followed), 410, 500 and 429 with Retry-After", async () => {
  let redirectedTo = 0;
  await using server = serve((request) => {
    const path = new URL(request.url).pathname;
    switch (path) {
      case "/ok":
        return new Response(null, { status: 204 });
      case "/moved":
        return new Response(null, {
          status: 302,
          headers: { location: "/target" },
        });
      case "/target":
        redirectedTo++;
        return new Response("x");
      case "/gone":
        return new Response("bye", { status: 410 });
      case "/busy":
        return new Response("later", {
          status: 429,
          headers: { "retry-after": "3" },
        });
      case "/unavailable":
        return new Response("later", {
          status: 503,
          headers: { "retry-after": "Wed, 21 Oct 2015 07:28:05 GMT" },
        });
      default:
        return new Response("a large body ".repeat(10_000), { status: 500 });
    }
  });
  await using client = createDeliveryClient();
  const run = (path: string) =>
    attempt({
      ...base,
      url: server.url + path,
      client,
      now: () => Date.parse("Wed, 21 Oct 2015 07:28:00 GMT"),
    });
  assert.deepEqual(await run("/ok"), { kind: "ok", status: 204 });
  assert.deepEqual(await run("/moved"), {
    kind: "http",
    status: 302,
    retryAfterMs: null,
  });
  assert.equal(redirectedTo, 0);
  assert.deepEqual(await run("/gone"), { kind: "gone" });
  assert.deepEqual(await run("/busy"), {
    kind: "http",
    status: 429,
    retryAfterMs: 3000,
  });
  assert.deepEqual(await run("/unavailable"), {
    kind: "http",
    status: 503,
    retryAfterMs: 5000,
  });
  assert.deepEqual(await run("/other"), {
    kind: "http",
    status: 500,
    retryAfterMs: null,
  });
});

Deno.test("attempt: connection refused and a timeout are unreachable", async () => {
  await using client = createDeliveryClient();
  const listener = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const port = listener.addr.port;
  listener.close();
  const refused = await attempt({
    ...base,
    client,
    url: `http://127.0.0.1:${port}/`,
  });
  assert.equal(refused.kind, "unreachable");

  const { promise: release, resolve } = Promise.withResolvers<void>();
  await using server = serve(async () => {
    await release;
    return new Response("late");
  });
  const slow = await attempt({
    ...base,
    client,
    url: server.url,
    timeoutMs: 50,
  });
  assert.deepEqual(slow, {
    kind: "unreachable",
    error: "No answer within 50 ms",
  });
  resolve();
});

Deno.test("attempt: with shared deadlines, attempts time out when the deadlines' timer says so, not on timers of their own", async () => {
  await using client = createDeliveryClient();
  const { promise: release, resolve } = Promise.withResolvers<void>();
  await using server = serve(async () => {
    await release;
    return new Response("late");
  });
  // A clock whose one timer fires when the test says: the attempts' own
  // timers (a minute) would not fire during the test.
  let now = 0;
  const armed: (() => void)[] = [];
  const deadlines = new Deadlines({
    now: () => now,
    setTimeout: (fn) => {
      armed.push(fn);
      return 0 as unknown as TimerHandle;
    },
    clearTimeout: () => {},
  });
  const slow = [1, 2, 3].map(() =>
    attempt({ ...base, client, url: server.url, timeoutMs: 60_000, deadlines })
  );
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(armed.length, 1, "one timer for the three attempts");
  now = 60_000;
  armed.shift()!();
  for (const result of await Promise.all(slow)) {
    assert.deepEqual(result, {
      kind: "unreachable",
      error: "No answer within 60000 ms",
    });
  }
  resolve();
  const onTime = attempt({
    ...base,
    client,
    url: server.url,
    timeoutMs: 60_000,
    deadlines,
  });
  assert.equal((await onTime).kind, "ok", "answered before its deadline");
  deadlines.close();
});

Deno.test("attempt: sends method, headers and body as given", async () => {
  let seen: { method: string; type: string | null; body: string } | undefined;
  await using server = serve(async (request) => {
    seen = {
      method: request.method,
      type: request.headers.get("content-type"),
      body: await request.text(),
    };
    return new Response(null, { status: 200 });
  });
  await using client = createDeliveryClient();
  const result = await attempt({
    ...base,
    client,
    method: "PUT",
    url: server.url,
    headers: [["content-type", "text/plain"]],
    body: new TextEncoder().encode("hello"),
  });
  assert.deepEqual(result, { kind: "ok", status: 200 });
  assert.deepEqual(seen, { method: "PUT", type: "text/plain", body: "hello" });
});

Deno.test("attempt: Retry-After parsing", () => {
  const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
  assert.equal(parseRetryAfter("120", now), 120_000);
  assert.equal(parseRetryAfter(" 0 ", now), 0);
  assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:29:00 GMT", now), 60_000);
  assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:00:00 GMT", now), 0);
  assert.equal(parseRetryAfter("-5", now), null);
  assert.equal(parseRetryAfter("soon", now), null);
  assert.equal(parseRetryAfter(null, now), null);
});

/** A response body that sends 64 KiB chunks until the client goes away. */
function endlessBody(): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  return new ReadableStream({
    pull: (controller) => controller.enqueue(chunk),
  });
}

Deno.test("attempt: an endless answer body is given up after MAX_DRAINED_BODY_BYTES and the status still counts", async () => {
  await using server = serve(() =>
    new Response(endlessBody(), { status: 500 })
  );
  await using client = createDeliveryClient();
  // The deadline is far off: only the body limit can end this attempt.
  const result = attempt({
    ...base,
    client,
    url: server.url,
    timeoutMs: 60_000,
  });
  let guard: ReturnType<typeof setTimeout> | undefined;
  const stuck = new Promise<"stuck">((resolve) => {
    guard = setTimeout(() => resolve("stuck"), 10_000);
  });
  const outcome = await Promise.race([result, stuck]);
  clearTimeout(guard);
  assert.deepEqual(outcome, { kind: "http", status: 500, retryAfterMs: null });
  const next = await attempt({ ...base, client, url: server.url });
  assert.equal(next.kind, "http", "the next attempt gets a fresh connection");
});

Deno.test("attempt: a body still arriving at the deadline ends the attempt with its status", async () => {
  const { promise: release, resolve } = Promise.withResolvers<void>();
  await using server = serve(() =>
    new Response(
      new ReadableStream({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode("partial"));
          await release;
          controller.close();
        },
      }),
      { status: 201 },
    )
  );
  await using client = createDeliveryClient();
  const result = await attempt({
    ...base,
    client,
    url: server.url,
    timeoutMs: 100,
  });
  assert.deepEqual(result, { kind: "ok", status: 201 });
  resolve();
});

Deno.test("attempt: aborting the signal ends an attempt waiting for its answer", async () => {
  const { promise: release, resolve } = Promise.withResolvers<void>();
  let arrived!: () => void;
  const requested = new Promise<void>((r) => arrived = r);
  await using server = serve(async () => {
    arrived();
    await release;
    return new Response("late");
  });
  await using client = createDeliveryClient();
  const controller = new AbortController();
  const result = attempt({
    ...base,
    client,
    url: server.url,
    timeoutMs: 60_000,
    signal: controller.signal,
  });
  await requested;
  controller.abort();
  assert.deepEqual(await result, {
    kind: "unreachable",
    error: "Attempt aborted",
  });
  const already = await attempt({
    ...base,
    client,
    url: server.url,
    signal: controller.signal,
  });
  assert.deepEqual(already, { kind: "unreachable", error: "Attempt aborted" });
  resolve();
});
