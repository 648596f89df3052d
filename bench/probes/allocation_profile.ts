/**
 * What the node allocates per event at a steady 1,000 publishes/s (open
 * loop, 8 s) into a `persisted` topic with one loopback subscriber: V8's
 * sampling heap profiler, driven over the inspector protocol, counts every
 * allocation (objects the scavenger or the full collector freed included)
 * by the function that made it. Prints the bytes per event allocated in all,
 * the functions that allocate most themselves and most with their callees,
 * and who calls the largest allocators. Allocation is what the young
 * generation's collections scale with, and their pauses are a share of the
 * latency tail.
 *
 * The node must be started with the inspector on, through
 * `MIRANDA_BENCH_SERVER_FLAGS`:
 * `MIRANDA_BENCH_SERVER_FLAGS=--inspect=127.0.0.1:9229 deno run -A bench/probes/allocation_profile.ts [top]`
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

const RATE = 1_000;
const SECONDS = 8;
const SAMPLING_INTERVAL_BYTES = 1_024;
const top = Number(Deno.args[0] ?? 30);

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

const inspect = /--inspect=[\d.]+:(\d+)/.exec(
  Deno.env.get("MIRANDA_BENCH_SERVER_FLAGS") ?? "",
);
if (inspect === null) {
  throw new Error(
    "Set MIRANDA_BENCH_SERVER_FLAGS=--inspect=127.0.0.1:9229 (the node's inspector)",
  );
}
const inspectPort = Number(inspect[1]);
await using m = await startMiranda();
await createTopic(m, "allocations", "persisted");
await using _sink = await subscribeLoopbackSink(m, "allocations");
const publish = async (body: string) => {
  const response = await fetch(`${m.url}/topics/allocations`, {
    method: "POST",
    headers: { authorization: m.bearer, "content-type": "application/json" },
    body,
  });
  await response.arrayBuffer();
};
// Warm-up: the workers start and the code is compiled before sampling.
for (let i = 0; i < 3_000; i++) await publish("{}");

const inspector = await connectInspector(inspectPort);
await inspector.call("HeapProfiler.enable");
await inspector.call("HeapProfiler.startSampling", {
  samplingInterval: SAMPLING_INTERVAL_BYTES,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
});
const inFlight = new Set<Promise<void>>();
const t0 = performance.now();
const events = RATE * SECONDS;
for (let i = 0; i < events; i++) {
  const wait = t0 + (i * 1000) / RATE - performance.now();
  if (wait > 1) await sleep(wait - 0.5);
  const sent = publish(`{"pad":"${"x".repeat(240)}"}`).finally(() =>
    inFlight.delete(sent)
  );
  inFlight.add(sent);
}
await Promise.all(inFlight);
await sleep(200);
const { profile } = await inspector.call("HeapProfiler.stopSampling") as {
  profile: { head: ProfileNode };
};
inspector.close();

const frame = (node: ProfileNode) =>
  `${node.callFrame.functionName || "(anonymous)"} ${
    node.callFrame.url.split("/").slice(-2).join("/")
  }:${node.callFrame.lineNumber}`;
const self = new Map<string, number>();
const inclusive = new Map<string, number>();
const callers = new Map<string, Map<string, number>>();
function walk(node: ProfileNode, path: string[]): number {
  const name = frame(node);
  self.set(name, (self.get(name) ?? 0) + node.selfSize);
  const caller = path.at(-1) ?? "";
  const byCaller = callers.get(name) ?? new Map<string, number>();
  byCaller.set(caller, (byCaller.get(caller) ?? 0) + node.selfSize);
  callers.set(name, byCaller);
  let sum = node.selfSize;
  for (const child of node.children) sum += walk(child, [...path, name]);
  if (!path.includes(name)) {
    inclusive.set(name, (inclusive.get(name) ?? 0) + sum);
  }
  return sum;
}
const total = walk(profile.head, []);
const perEvent = (bytes: number) => (bytes / events).toFixed(0).padStart(7);
say(
  `${
    (total / 2 ** 20).toFixed(1)
  } MiB allocated over ${events} events at ${RATE}/s: ${
    (total / events / 1024).toFixed(1)
  } KiB per event`,
);
const largest = (map: Map<string, number>) =>
  [...map].sort((a, b) => b[1] - a[1]).slice(0, top);
say("allocated by the function itself (bytes per event):");
for (const [name, bytes] of largest(self)) say(`${perEvent(bytes)} ${name}`);
say("allocated with its callees (bytes per event):");
for (const [name, bytes] of largest(inclusive)) {
  say(`${perEvent(bytes)} ${name}`);
}
say("who calls the five largest allocators:");
for (const [name] of largest(self).slice(0, 5)) {
  say(`  ${name}`);
  for (const [caller, bytes] of largest(callers.get(name)!).slice(0, 5)) {
    say(`  ${perEvent(bytes)} from ${caller}`);
  }
}

/** A minimal Chrome DevTools Protocol client over the inspector's WebSocket. */
async function connectInspector(port: number) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`))
    .json() as { webSocketDebuggerUrl: string }[];
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let nextId = 1;
  const waiting = new Map<number, (result: unknown) => void>();
  socket.onmessage = (message) => {
    const answer = JSON.parse(message.data) as {
      id?: number;
      result?: unknown;
      error?: { message: string };
    };
    if (answer.id === undefined) return;
    const resolve = waiting.get(answer.id);
    waiting.delete(answer.id);
    if (answer.error) throw new Error(answer.error.message);
    resolve?.(answer.result);
  };
  return {
    call(method: string, params: Record<string, unknown> = {}) {
      const id = nextId++;
      const { promise, resolve } = Promise.withResolvers<unknown>();
      waiting.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
      return promise;
    },
    close: () => socket.close(),
  };
}
