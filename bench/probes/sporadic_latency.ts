/**
 * What a publish and its delivery cost when events come seldom: a node with
 * one loopback subscriber gets single events with `gap` seconds between
 * them, and for each the probe prints the publisher's send → 202 time and
 * the send → sink time, then the same with 1 s gaps. Until 515b3ba the
 * checkpoint and delivery workers were retired after 10 s without work, so
 * with the default 12 s gaps every event met workers that had to start
 * again; now only the first event after the node starts does.
 *
 * `deno run -A bench/probes/sporadic_latency.ts [events] [gap seconds]`
 *
 * @module
 */

import { say } from "../log.ts";
import {
  createTopic,
  startMiranda,
  subscribeLoopbackSink,
} from "../miranda/server.ts";
import { sleep } from "../procs.ts";

const EVENTS = Number(Deno.args[0] ?? 5);
const GAP_SECONDS = Number(Deno.args[1] ?? 12);

await using m = await startMiranda();
await createTopic(m, "sporadic", "persisted");
let arrived = Promise.withResolvers<number>();
await using _sink = await subscribeLoopbackSink(
  m,
  "sporadic",
  () => arrived.resolve(performance.now()),
);

async function publishOne(): Promise<{ accepted: number; delivered: number }> {
  arrived = Promise.withResolvers<number>();
  const sent = performance.now();
  const response = await fetch(`${m.url}/topics/sporadic`, {
    method: "POST",
    headers: { authorization: m.bearer, "content-type": "application/json" },
    body: `{"pad":"${"x".repeat(240)}"}`,
  });
  await response.arrayBuffer();
  const accepted = performance.now() - sent;
  return { accepted, delivered: (await arrived.promise) - sent };
}

for (const gap of [GAP_SECONDS, 1]) {
  await sleep(gap * 1000);
  const rows: string[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const { accepted, delivered } = await publishOne();
    rows.push(`${accepted.toFixed(1)} / ${delivered.toFixed(1)}`);
    await sleep(gap * 1000);
  }
  say(
    `gap ${gap} s: send → 202 / send → sink, ms: ${rows.join(", ")}`,
  );
}
