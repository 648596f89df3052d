import assert from "node:assert/strict";
import { serve } from "../support/loopback_server.ts";
import { eventually } from "../support/pipeline_client.ts";
import {
  createWorkerSender,
  DIRECT_IN_FLIGHT,
  RESTART_AFTER_FAILURE_MS,
  START_DELAY_MS,
} from "../../delivery/worker_sender.ts";
import type { Sender } from "../../delivery/sender.ts";
import { Deadlines } from "../../actors/deadlines.ts";
import { systemClock } from "../../actors/clock.ts";

const base = {
  method: "POST",
  headers: [] as [string, string][],
  body: null,
  timeoutMs: 2000,
  privateAllowed: true,
};

const FAULTY = new URL("../support/faulty_send_worker.ts", import.meta.url)
  .href;

/**
 * A fallback sender that answers 299 and records the paths it was given;
 * after `hold(n)` it keeps its next `n` answers until `release`.
 */
function recordingFallback() {
  const viaFallback: string[] = [];
  const held: (() => void)[] = [];
  const state = { toHold: 0 };
  const fallback: Sender = {
    send: (request) => {
      viaFallback.push(new URL(request.url).pathname);
      const result = { kind: "ok", status: 299 } as const;
      if (state.toHold === 0) return Promise.resolve(result);
      state.toHold--;
      return new Promise((resolve) => held.push(() => resolve(result)));
    },
    close: () => Promise.resolve(),
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
  return {
    fallback,
    viaFallback,
    /** Keeps the fallback's next `n` answers until `release`. */
    hold: (n: number) => (state.toHold = n),
    /** Answers what was kept. */
    release: () => {
      for (const answer of held.splice(0)) answer();
    },
  };
}

/** Starts `DIRECT_IN_FLIGHT` attempts the fallback keeps: the load is no longer light. */
function loadFallback(
  sender: Sender,
  f: ReturnType<typeof recordingFallback>,
): Promise<unknown> {
  f.hold(DIRECT_IN_FLIGHT);
  return Promise.all(
    Array.from(
      { length: DIRECT_IN_FLIGHT },
      (_, i) => sender.send({ ...base, url: `http://127.0.0.1:9/held/${i}` }),
    ),
  );
}

Deno.test("worker sender: many attempts started in one turn all arrive, each with its own body and headers, and each outcome is classified", async () => {
  const seen = new Map<string, { body: string; tag: string | null }>();
  await using server = serve(async (request) => {
    const path = new URL(request.url).pathname;
    seen.set(path, {
      body: await request.text(),
      tag: request.headers.get("x-tag"),
    });
    if (path === "/gone") return new Response(null, { status: 410 });
    if (path === "/busy") {
      return new Response(null, {
        status: 503,
        headers: { "retry-after": "7" },
      });
    }
    return new Response(null, { status: 204 });
  });
  await using sender = createWorkerSender();
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      sender.send({
        ...base,
        url: `${server.url}/e${i}`,
        headers: [["x-tag", `t${i}`]],
        body: new TextEncoder().encode(`body ${i}`),
      })),
  );
  assert.ok(results.every((r) => r.kind === "ok" && r.status === 204));
  for (let i = 0; i < 200; i++) {
    assert.deepEqual(seen.get(`/e${i}`), { body: `body ${i}`, tag: `t${i}` });
  }
  assert.deepEqual(await sender.send({ ...base, url: `${server.url}/gone` }), {
    kind: "gone",
  });
  assert.deepEqual(await sender.send({ ...base, url: `${server.url}/busy` }), {
    kind: "http",
    status: 503,
    retryAfterMs: 7000,
  });
});

Deno.test("worker sender: a subscriber that does not answer in time, an aborted attempt and a refused address each come back unreachable", async () => {
  const hung = Promise.withResolvers<void>();
  await using server = serve(async () => {
    await hung.promise;
    return new Response(null);
  });
  await using sender = createWorkerSender();
  try {
    const slow = await sender.send({
      ...base,
      url: `${server.url}/slow`,
      timeoutMs: 200,
    });
    assert.deepEqual(slow, {
      kind: "unreachable",
      error: "No answer within 200 ms",
    });
    const abort = new AbortController();
    const aborted = sender.send({
      ...base,
      url: `${server.url}/aborted`,
      timeoutMs: 60_000,
      signal: abort.signal,
    });
    setTimeout(() => abort.abort(), 50);
    assert.deepEqual(await aborted, {
      kind: "unreachable",
      error: "Attempt aborted",
    });
    const refused = await sender.send({
      ...base,
      url: `${server.url}/private`,
      privateAllowed: false,
    });
    assert.equal(refused.kind, "unreachable");
    assert.match(
      refused.kind === "unreachable" ? refused.error : "",
      /loopback|private|not allowed/i,
    );
  } finally {
    hung.resolve();
  }
});

Deno.test("worker sender: a worker that fails answers its attempts unreachable and a new worker takes the next ones", async () => {
  await using server = serve(() => new Response(null, { status: 200 }));
  await using sender = createWorkerSender({}, { workerUrl: FAULTY });
  const crashed = await sender.send({ ...base, url: `${server.url}/crash` });
  assert.equal(crashed.kind, "unreachable");
  assert.match(
    crashed.kind === "unreachable" ? crashed.error : "",
    /delivery worker failed/,
  );
  assert.deepEqual(await sender.send({ ...base, url: `${server.url}/next` }), {
    kind: "ok",
    status: 200,
  });
});

Deno.test("worker sender: an attempt the worker never answers ends at its backstop on the caller's deadlines", async () => {
  await using server = serve(() => new Response(null));
  await using sender = createWorkerSender({}, {
    workerUrl: FAULTY,
    backstopMs: 100,
  });
  const deadlines = new Deadlines(systemClock);
  try {
    const result = await sender.send({
      ...base,
      url: `${server.url}/ignore`,
      timeoutMs: 100,
      deadlines,
    });
    assert.deepEqual(result, {
      kind: "unreachable",
      error: "No answer from the delivery worker within 200 ms",
    });
  } finally {
    deadlines.close();
  }
});

Deno.test("worker sender: once closed, attempts in flight and new ones come back unreachable, and closing again is a no-op", async () => {
  const hung = Promise.withResolvers<void>();
  await using server = serve(async () => {
    await hung.promise;
    return new Response(null);
  });
  const sender = createWorkerSender();
  const inFlight = sender.send({
    ...base,
    url: `${server.url}/hung`,
    timeoutMs: 60_000,
  });
  await new Promise((r) => setTimeout(r, 100));
  await sender.close();
  assert.equal((await inFlight).kind, "unreachable");
  assert.deepEqual(await sender.send({ ...base, url: `${server.url}/late` }), {
    kind: "unreachable",
    error: "The delivery client is closed",
  });
  await sender.close();
  hung.resolve();
});

Deno.test("worker sender: the worker starts with the first attempt, is retired once attempts stop for the idle time, and the next attempt starts another", async () => {
  await using server = serve(() => new Response(null, { status: 200 }));
  await using sender = createWorkerSender({}, { idleMs: 1000 });
  assert.equal(sender.workerRunning, false);
  const ok = { kind: "ok", status: 200 };
  assert.deepEqual(await sender.send({ ...base, url: `${server.url}/a` }), ok);
  assert.equal(sender.workerRunning, true);
  await new Promise((r) => setTimeout(r, 600));
  assert.deepEqual(await sender.send({ ...base, url: `${server.url}/b` }), ok);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(
    sender.workerRunning,
    true,
    "idle time restarts with each attempt",
  );
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(sender.workerRunning, false);
  assert.deepEqual(await sender.send({ ...base, url: `${server.url}/c` }), ok);
  assert.equal(sender.workerRunning, true);
});

Deno.test("worker sender: with a fallback, a light load goes through it and starts no worker; beyond it the worker is started and takes the rest once ready", async () => {
  const atServer: string[] = [];
  await using server = serve((request) => {
    atServer.push(new URL(request.url).pathname);
    return new Response(null, { status: 200 });
  });
  const f = recordingFallback();
  await using sender = createWorkerSender({}, {}, f.fallback);
  for (const path of ["/a", "/b", "/c"]) {
    const result = await sender.send({ ...base, url: `${server.url}${path}` });
    assert.deepEqual(result, { kind: "ok", status: 299 });
  }
  await new Promise((r) => setTimeout(r, START_DELAY_MS + 200));
  assert.equal(sender.workerStarts, 0, "a light load started a worker");
  const held = loadFallback(sender, f);
  // Beyond the light load: through the fallback while the worker loads.
  const loading = await sender.send({ ...base, url: `${server.url}/d` });
  assert.deepEqual(loading, { kind: "ok", status: 299 });
  assert.equal(sender.workerRunning, false, "started a little later");
  const later = await eventually("an attempt through the worker", async () => {
    const result = await sender.send({ ...base, url: `${server.url}/e` });
    return result.kind === "ok" && result.status === 299 ? undefined : result;
  });
  assert.deepEqual(later, { kind: "ok", status: 200 });
  assert.deepEqual(atServer, ["/e"]);
  f.release();
  await held;
});

Deno.test("worker sender: with a fallback, a worker that fails to load leaves attempts to the fallback and is not started again at once", async () => {
  const broken = `data:application/javascript,${
    encodeURIComponent('throw new Error("no delivery worker here");')
  }`;
  const f = recordingFallback();
  await using sender = createWorkerSender(
    {},
    { workerUrl: broken },
    f.fallback,
  );
  const held = loadFallback(sender, f);
  await sender.send({ ...base, url: "http://127.0.0.1:9/a" });
  assert.equal(sender.workerStarts, 0, "started a little later");
  await eventually(
    "the worker started and failed",
    () =>
      Promise.resolve(
        sender.workerStarts > 0 && !sender.workerRunning ? true : undefined,
      ),
  );
  assert.equal(sender.workerStarts, 1);
  assert.equal(sender.workerRunning, false, "the broken worker is gone");
  await sender.send({ ...base, url: "http://127.0.0.1:9/b" });
  await new Promise((r) => setTimeout(r, START_DELAY_MS + 200));
  assert.equal(
    sender.workerStarts,
    1,
    `not started again within ${RESTART_AFTER_FAILURE_MS} ms`,
  );
  assert.deepEqual(f.viaFallback.filter((p) => !p.startsWith("/held/")), [
    "/a",
    "/b",
  ]);
  f.release();
  await held;
});
