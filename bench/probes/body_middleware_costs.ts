/**
 * What the body middlewares cost a publish in JavaScript: a Hono app whose
 * route reads a 256-byte body, with none of them, with the bodies-in-flight
 * budget, and with the budget and the body read deadline
 * (`http/middleware/limits.ts`), called through `app.request` (no network).
 * Prints each variant's time per request over six alternating rounds,
 * sorted, so the spread shows.
 *
 * `deno run -A bench/probes/body_middleware_costs.ts`
 *
 * @module
 */

import { Hono, type MiddlewareHandler } from "hono";
import { say } from "../log.ts";
import { systemClock } from "../../actors/clock.ts";
import { ReadDeadlines } from "../../http/read_deadlines.ts";
import type { AppEnv } from "../../http/env.ts";
import {
  bodyBytesInFlight,
  bodyReadDeadline,
} from "../../http/middleware/limits.ts";

const REQUESTS = 40_000;
const deadlines = new ReadDeadlines(30_000, systemClock);
const budget = {
  maxBytes: 16 << 20,
  perCallerBytes: 4 << 20,
  unknownBytes: 1 << 20,
};
const ROUNDS = 6;
const body = new Uint8Array(256);

function app(middlewares: MiddlewareHandler<AppEnv>[]): Hono<AppEnv> {
  const hono = new Hono<AppEnv>();
  for (const middleware of middlewares) hono.use("/topics/*", middleware);
  hono.post("/topics/:name", async (c) => {
    const bytes = await c.req.arrayBuffer();
    return c.json({ bytes: bytes.byteLength }, 202);
  });
  return hono;
}

const variants: [string, Hono<AppEnv>][] = [
  ["none", app([])],
  ["budget", app([bodyBytesInFlight(budget)])],
  [
    "budget + deadline",
    app([
      bodyBytesInFlight(budget),
      bodyReadDeadline(deadlines),
    ]),
  ],
];
const times = new Map<string, number[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, hono] of variants) {
    const start = performance.now();
    for (let i = 0; i < REQUESTS; i++) {
      const answer = await hono.request("http://node/topics/probe", {
        method: "POST",
        body,
        headers: { "content-length": String(body.length) },
      });
      await answer.arrayBuffer();
    }
    const micros = (performance.now() - start) / REQUESTS * 1000;
    times.set(name, [...times.get(name) ?? [], micros]);
  }
}
for (const [name, micros] of times) {
  const sorted = micros.sort((a, b) => a - b).map((m) => m.toFixed(1));
  say(`${name}: ${sorted.join(" / ")} µs per request`);
}
deadlines.close();
