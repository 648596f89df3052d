/**
 * Where a publish's time goes at a steady 1,000 publishes/s (10 s, open
 * loop) into a node with one loopback subscriber: the publisher's round
 * trip (send → 202) percentiles next to the server's own view of the same
 * requests (`miranda_http_request_seconds` for the publish route), of its
 * group commits (`miranda_event_commit_seconds`, `miranda_event_batch_size`)
 * and of its event loop (`nodejs_eventloop_lag_*`, over the node's life).
 * A tail the server also sees is inside the node; one it does not is
 * before or after it. 3,000 publishes one at a time warm the node up first;
 * the histograms are counted over the measured 10 s only. With
 * `MIRANDA_BENCH_SERVER_FLAGS="--v8-flags=--trace-gc"` it also sums the
 * node's garbage collections in those 10 s (the main isolate's and the
 * workers' together): count, pause total and largest, and what each
 * scavenge left alive (the heap after it, minus the heap after the one
 * before: what it promoted, roughly).
 *
 * `deno run -A bench/probes/publish_latency.ts [persisted|received]`
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
import { percentile } from "../stats.ts";

const RATE = 1_000;
const SECONDS = 10;

const ack = Deno.args[0] ?? "persisted";
if (ack !== "persisted" && ack !== "received") {
  throw new Error(`Usage: publish_latency.ts [persisted|received], not ${ack}`);
}
await using m = await startMiranda();
await createTopic(m, "latency-probe", ack);
await using _sink = await subscribeLoopbackSink(m, "latency-probe");

const scrape = async () =>
  await (await fetch(`${m.url}/metrics`, {
    headers: { authorization: m.bearer },
  })).text();
for (let i = 0; i < 3_000; i++) {
  const response = await fetch(`${m.url}/topics/latency-probe`, {
    method: "POST",
    headers: { authorization: m.bearer, "content-type": "application/json" },
    body: "{}",
  });
  await response.arrayBuffer();
}
const before = samples(await scrape());
const gcLinesBefore = gcLines().length;

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
const after = samples(await scrape());
const wanted =
  /^miranda_(http_request_seconds_bucket\{[^}]*route="\/topics\/:name[^}]*\}|event_commit_seconds_bucket|event_batch_size_(sum|count))/;
for (const [series, value] of after) {
  if (wanted.test(series)) {
    say(`${series} ${value - (before.get(series) ?? 0)}`);
  } else if (/^nodejs_eventloop_lag_(p50|p99|max)_seconds/.test(series)) {
    say(`${series} ${value}`);
  }
}

const gc = gcLines().slice(gcLinesBefore);
if (gc.length > 0) {
  for (const kind of ["Scavenge", "Mark-Compact"]) {
    const lines = gc.filter((l) => l.includes(kind));
    // Lines without a pause figure (a scavenge's interleaved form) are left out.
    const pauses = lines.map((l) =>
      Number(/, ([\d.]+) \/ [\d.]+ ms/.exec(l)?.[1])
    ).filter((ms) => !Number.isNaN(ms));
    const total = pauses.reduce((a, b) => a + b, 0);
    say(
      `${kind}: ${lines.length} in the 10 s, pauses ${
        total.toFixed(1)
      } ms in all, largest ${Math.max(0, ...pauses).toFixed(1)} ms`,
    );
  }
  // The main isolate's scavenges: the heap after each, in MB.
  const isolate = /^\[\d+:(0x[0-9a-f]+)\]/.exec(gc[0]!)?.[1];
  const after = gc.filter((l) => l.includes("Scavenge") && l.includes(isolate!))
    .map((l) => Number(/-> ([\d.]+) \(/.exec(l)?.[1]));
  const grown = after.slice(1).map((mb, i) => mb - after[i]!).filter((d) =>
    d > 0
  );
  if (grown.length > 0) {
    say(
      `scavenges of one isolate left ${
        (grown.reduce((a, b) => a + b, 0) / grown.length).toFixed(2)
      } MB more alive each (median of its growing ones ${
        percentile(grown.sort((a, b) => a - b), 50).toFixed(2)
      })`,
    );
  }
}

/** The `--trace-gc` lines the node has printed so far. */
function gcLines(): string[] {
  return m.child.stdout().split("\n").filter((l) =>
    /: (Scavenge|Mark-Compact|Incremental Mark-Compact) /.test(l)
  );
}

/** Each sample line of a `/metrics` text: series → value. */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line === "") continue;
    const space = line.lastIndexOf(" ");
    map.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return map;
}
