import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Registry } from "prom-client";
import { listen } from "../../http/listener.ts";
import { createLogger } from "../../observability/logger.ts";
import { runWithFileLimit } from "../support/file_limit.ts";

const FIXTURE = fileURLToPath(
  new URL("../support/listener_exhaustion.ts", import.meta.url),
);

interface FixtureResult {
  blocked: boolean;
  shutdownMs?: number;
  answer?: string;
  answerAgain?: string;
  stopWaits: number[];
  restarts: string;
  log: string[];
}

/** Runs the fixture with at most 256 open files; see its module comment. */
async function exhaust(
  holdMs: number,
  then: "shutdown" | "recover" | "again",
): Promise<FixtureResult> {
  return await runWithFileLimit(FIXTURE, 256, [
    String(holdMs),
    then,
  ]) as FixtureResult;
}

Deno.test("listener: serves the handler, and shutdown ends it and settles finished", async () => {
  const registry = new Registry();
  const listener = await listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: null,
    handler: () => new Response("hello"),
    log: createLogger({ sink: () => {} }),
    registry,
  });
  const answer = await fetch(`http://127.0.0.1:${listener.addr.port}/`);
  assert.equal(await answer.text(), "hello");
  await listener.shutdown();
  await listener.finished;
  assert.match(
    await registry.metrics(),
    /^miranda_http_listener_restarts_total 0$/m,
  );
});

Deno.test("listener: a server stopped by EMFILE is listened again, retrying with backoff while the port is taken", async () => {
  const result = await exhaust(1_000, "recover");
  assert.ok(result.blocked, "the fixture could not take the port in time");
  assert.equal(result.answer, "ok");
  assert.equal(result.restarts, "miranda_http_listener_restarts_total 1");
  assert.equal(
    result.log[0],
    "HTTP server stopped accepting connections; listening again",
  );
  const retries = result.log.filter((m) => m.includes("could not listen"));
  // 0.1 + 0.2 + 0.4 s fit in the 1 s the port is held, 0.8 more do not.
  assert.ok(retries.length >= 2 && retries.length <= 4, `${retries.length}`);
  assert.equal(result.log.at(-1), "HTTP server listening again");
});

Deno.test("listener: shutdown during the backoff ends it without waiting for the next attempt", async () => {
  const result = await exhaust(750, "shutdown");
  assert.ok(result.blocked, "the fixture could not take the port in time");
  // Attempts at 0.1, 0.3 and 0.7 s; the next, due at 1.5 s, is ~0.75 s away
  // when shutdown comes, and shutdown does not wait for it.
  assert.ok(result.shutdownMs! < 375, `shutdown took ${result.shutdownMs} ms`);
  assert.ok(!result.log.includes("HTTP server listening again"));
});

Deno.test("listener: a server that stops again soon after listening again waits longer before the next listen", async () => {
  const result = await exhaust(1_000, "again");
  assert.ok(result.blocked, "the fixture could not take the port in time");
  assert.equal(result.answer, "ok");
  assert.equal(result.answerAgain, "ok");
  assert.equal(result.restarts, "miranda_http_listener_restarts_total 2");
  const [first, second] = result.stopWaits;
  assert.equal(first, 100);
  // The listen that worked came after a wait of ≥ 0.4 s; the next is double.
  assert.ok(second! >= 800, `second wait ${second} ms`);
});
