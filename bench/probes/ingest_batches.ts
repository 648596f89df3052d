/**
 * How big the group commits of a full-rate ingest are: wrk publishes to a
 * `persisted` topic as in the bench's `ingest` figure, then the node's
 * `miranda_event_batch_size` histogram gives the mean batch and how many
 * commits had 4 or fewer events (the seal worker takes batches of 8 or
 * more), with the rate, the node's CPU per event (main thread and all
 * threads) and its RSS at the end.
 *
 * `deno run -A bench/probes/ingest_batches.ts [seconds]`
 *
 * @module
 */

import { say } from "../log.ts";
import { createTopic, startMiranda } from "../miranda/server.ts";
import { runWrk } from "../wrk.ts";

const seconds = Number(Deno.args[0] ?? 10);
await using m = await startMiranda();
await createTopic(m, "probe", "persisted");
const options = {
  url: `${m.url}/topics/probe`,
  headers: { Authorization: m.bearer },
  bodyBytes: 256,
  connections: 64,
  threads: 2,
};
await runWrk({ ...options, durationSec: 1 });
const before = await batches();
const cpuBefore = await m.cpuSeconds();
const r = await runWrk({ ...options, durationSec: seconds });
const cpuAfter = await m.cpuSeconds();
const after = await batches();
const rssMB = await m.rss() / 2 ** 20;
const events = after.sum - before.sum;
const commits = after.count - before.count;
const small = after.upTo4 - before.upTo4;
const perEvent = (s: number) => (s * 1e6 / events).toFixed(1);
say(
  `${r.okPerSec.toFixed(0)} events/s; ${commits} commits, mean batch ${
    (events / commits).toFixed(1)
  }; commits of ≤ 4 events: ${small}; CPU per event ${
    perEvent(cpuAfter.mainThread - cpuBefore.mainThread)
  } µs main thread, ${
    perEvent(cpuAfter.process - cpuBefore.process)
  } µs all; RSS ${rssMB.toFixed(0)} MiB`,
);

async function batches(): Promise<
  { sum: number; count: number; upTo4: number }
> {
  const text = await (await fetch(`${m.url}/metrics`, {
    headers: { Authorization: m.bearer },
  })).text();
  const value = (pattern: RegExp) =>
    Number(text.match(pattern)?.[1] ?? Number.NaN);
  return {
    sum: value(/^miranda_event_batch_size_sum (\S+)$/m),
    count: value(/^miranda_event_batch_size_count (\S+)$/m),
    upTo4: value(/^miranda_event_batch_size_bucket\{le="4"\} (\S+)$/m),
  };
}
