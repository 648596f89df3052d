/**
 * The bodies-in-flight budget in-process: one caller's bodies are held to
 * its share (429) while another caller's pass, the node-wide bound answers
 * 503, anonymous callers are told apart by address, and what a request held
 * comes back once it is answered.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Hono } from "hono";
import type { AppEnv } from "../../http/env.ts";
import { bodyBytesInFlight } from "../../http/middleware/limits.ts";
import { ProblemError, problemResponse } from "../../http/problem.ts";
import type { Identity } from "../../identity/authorize.ts";

/** An app whose route waits for `release` before answering. */
function app(release: Promise<void>): Hono<AppEnv> {
  const hono = new Hono<AppEnv>();
  hono.use("*", async (c, next) => {
    const user = c.req.header("x-user");
    c.set(
      "identity",
      user === undefined
        ? null
        : { user, roles: [], groups: [], scopes: null } satisfies Identity,
    );
    await next();
  });
  hono.use(
    "*",
    bodyBytesInFlight({ maxBytes: 100, perCallerBytes: 60, unknownBytes: 50 }),
  );
  hono.post("/", async (c) => {
    await release;
    return c.body(null, 202);
  });
  hono.onError((error, c) =>
    error instanceof ProblemError
      ? problemResponse(error.code, "test", { detail: error.detail })
      : c.text(String(error), 500)
  );
  return hono;
}

function post(
  hono: Hono<AppEnv>,
  bytes: number,
  headers: Record<string, string> = {},
  address = "10.0.0.1",
): Promise<Response> {
  return Promise.resolve(hono.request("http://node/", {
    method: "POST",
    body: "x".repeat(bytes),
    headers: { "content-length": String(bytes), ...headers },
  }, { remoteAddr: { hostname: address } }));
}

async function code(response: Response): Promise<string> {
  return response.status === 202 ? "202" : (await response.json()).code;
}

/** The answer's code, or "held" while the request is still being handled. */
function now(answer: Promise<Response>): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    answer.then(code),
    new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve("held"), 100);
    }),
  ]).finally(() => clearTimeout(timer));
}

Deno.test("body budget: past its share a caller gets 429 while another caller's body passes; past the node's bound 503; held bytes come back once answered", async () => {
  let release!: () => void;
  const hono = app(new Promise((resolve) => release = resolve));
  const held = post(hono, 40, { "x-user": "ann" });
  assert.equal(
    await now(post(hono, 30, { "x-user": "ann" })),
    "rate_limited",
  );
  const bob = post(hono, 50, { "x-user": "bob" });
  assert.equal(
    await now(post(hono, 20, { "x-user": "cy" })),
    "overloaded",
  );
  release();
  assert.equal(await code(await held), "202");
  assert.equal(await code(await bob), "202");
  assert.equal(await code(await post(hono, 60, { "x-user": "ann" })), "202");
});

Deno.test("body budget: anonymous callers are told apart by client address", async () => {
  let release!: () => void;
  const hono = app(new Promise((resolve) => release = resolve));
  const held = post(hono, 40, {}, "10.0.0.1");
  assert.equal(
    await now(post(hono, 30, {}, "10.0.0.1")),
    "rate_limited",
  );
  const other = post(hono, 30, {}, "10.0.0.2");
  release();
  assert.equal(await code(await other), "202");
  assert.equal(await code(await held), "202");
});
