/**
 * How long a retention sweep of a long expired backlog holds the node's
 * thread: N events (256-byte bodies, ten a millisecond) are appended to a
 * real store, then one `events.expire` removes them all while a 1 ms
 * interval timer measures the event loop's longest stall; also the
 * write-ahead log's size before and after (the store zero-fills 80 MiB, as
 * the node does by default).
 *
 * `deno run -A bench/probes/retention_sweep_stall.ts [events]`
 *
 * @module
 */

import { say } from "../log.ts";
import { openSqliteStore } from "../../store/sqlite/store.ts";
import { topicRecord } from "../../tests/store/pipeline_contract.ts";
import { testKeyfile } from "../../tests/support/keys.ts";

const events = Number(Deno.args[0] ?? 600_000);
const MiB = 2 ** 20;
const dir = await Deno.makeTempDir({ prefix: "miranda-sweep-" });
const { keyring } = await testKeyfile();
const store = openSqliteStore(`${dir}/miranda.db`, () => keyring, {
  walPreallocateBytes: 80 * MiB,
});
const start = Date.parse("2026-01-01T00:00:00.000Z");
await store.topics.create(topicRecord("sweep", { id: "t1", owner: "root" }), {
  actor: "root",
  requestId: "r1",
  time: new Date(start).toISOString(),
});
const body = new Uint8Array(256);
for (let n = 0; n < events;) {
  const batch = [];
  for (let i = 0; i < 500 && n < events; i++, n++) {
    batch.push({
      id: `e${String(n).padStart(9, "0")}`,
      topicId: "t1",
      method: "POST" as const,
      path: "",
      query: "",
      contentType: "application/json",
      headers: {},
      body,
      sender: "root",
      receivedAt: start + Math.floor(n / 10),
      idempotencyKey: null,
    });
  }
  await store.events.append(batch);
}
// The checkpointer catches up first.
await new Promise((resolve) => setTimeout(resolve, 1_500));
const wal = () => Deno.statSync(`${dir}/miranda.db-wal`).size / MiB;
const walBefore = wal();
let longest = 0;
let last = performance.now();
const stalls: number[] = [];
const timer = setInterval(() => {
  const now = performance.now();
  longest = Math.max(longest, now - last);
  if (now - last > 15) stalls.push(Math.round(now - last));
  last = now;
}, 1);
const t0 = performance.now();
const result = await store.events.expire("t1", start + events);
const ms = performance.now() - t0;
await new Promise((resolve) => setTimeout(resolve, 50));
clearInterval(timer);
say(
  `expire of ${result.removed} events: ${
    ms.toFixed(0)
  } ms in all, longest event-loop stall ${
    longest.toFixed(0)
  } ms (stalls over 15 ms: ${stalls.join(", ") || "none"}); WAL ${
    walBefore.toFixed(0)
  } → ${wal().toFixed(0)} MiB`,
);
await store.close();
await Deno.remove(dir, { recursive: true });
// The keyring's seal worker stays for minutes; the probe is done.
Deno.exit(0);
