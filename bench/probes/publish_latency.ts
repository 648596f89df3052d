/**
 * Where a publish's time goes at a steady 1,000 publishes/s (10 s, open
 * loop) into a node with one loopback subscriber: the publisher's round
 * trip (send → 202) percentiles next to the server's own view of the same
 * requests (`miranda_http_request_seconds` for the publish route) and of its
 * group commits (`miranda_event_commit_seconds`, `miranda_event_batch_size`).
 * A tail the server also sees is inside the node; one it does not is
 * before or after it.
 *
 * `deno run -A bench/probes/publish_latency.ts [persisted|received]`
 *
 * @module
 */

import { say } from "../log.ts";
import {
  createSubscription,
  createTopic,
  startMiranda,
} from "../miranda/server.ts";
import { sleep } from "../procs.ts";
import { percentile } from "../stats.ts";

const RATE = 1_000;
const SECONDS = 10;

const ack = Deno.args[0] ?? "persisted";
if (ack !== "persisted" && ack !== "received") {
  throw new Error(`Usage: publish_latency.ts [persisted|received], not ${ack}`);
}
await using m = await startMiranda();
await createTopic(m, "latency-probe", ack);
await using sink = Deno.serve(
  { port: 0, hostname: "127.0.0.1", onListen: () => {} },
  async (request) => {
    await request.arrayBuffer();
    return new Response(null, { status: 204 });
  },
);
await createSubscription(m, {
  topic: "latency-probe",
  url: `http://127.0.0.1:${sink.addr.port}/in`,
  ordered: false,
  maxInFlight: 64,
});

const roundTrips: number[] = [];
const inFlight = new Set<Promise<void>>();
const t0 = performance.now();
for (let i = 0; i < RATE * SECONDS; i++) {
  const wait = t0 + (i * 1000) / RATE - performance.now();
  if (wait > 1) await sleep(wait - 0.5);
  const sent = performance.now();
  const publish = fetch(`${m.url}/topics/latency-probe`, {
    method: "POST",
    headers: { authorization: m.bearer, "content-type": "application/json" },
    body: `{"pad":"${"x".repeat(240)}"}`,
  }).then(async (response) => {
    await response.arrayBuffer();
    roundTrips.push(performance.now() - sent);
  }).finally(() => inFlight.delete(publish));
  inFlight.add(publish);
}
await Promise.all(inFlight);
roundTrips.sort((a, b) => a - b);
const ms = (p: number) => percentile(roundTrips, p).toFixed(2);
say(
  `publisher send → 202: p50 ${ms(50)} ms, p90 ${ms(90)}, p99 ${ms(99)}, max ${
    roundTrips.at(-1)!.toFixed(1)
  } (${roundTrips.length} publishes)`,
);
const metrics = await (await fetch(`${m.url}/metrics`, {
  headers: { authorization: m.bearer },
})).text();
const wanted =
  /^miranda_(http_request_seconds_bucket\{[^}]*route="\/topics\/:name[^}]*\}|event_commit_seconds_bucket|event_batch_size_(sum|count))/;
for (const line of metrics.split("\n")) {
  if (wanted.test(line)) say(line);
}
