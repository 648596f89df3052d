/**
 * The subscriber sink: answers every request 200 and counts it. Run as its own
 * process so that it does not share an event loop with the bench or Miranda.
 * Prints `listening on URL`.
 *
 * Control routes (under `/_bench/`, never hit by Miranda):
 * - `POST /_bench/reset` `{target?, latency?, unique?}` clears the counters;
 *   `target` makes the sink note the wall time of the target-th request.
 * - `GET /_bench/stats` answers the counters as JSON (`?brief`: the count only).
 *
 * Latency: a request whose `x-correlation-id` is `sent:<epoch ms>` (or whose
 * JSON body has `sentAt`) records `now - sent` in ms. Both clocks are this
 * machine's wall clock, read as `performance.timeOrigin + performance.now()`.
 * In latency mode the sink also keeps the arrival time of each `webhook-id`,
 * so the bench can measure from the moment Miranda accepted each event.
 *
 * @module
 */

import { say } from "../log.ts";

interface State {
  count: number;
  target: number;
  firstAt: number | null;
  targetAt: number | null;
  lastAt: number | null;
  perSecond: Map<number, number>;
  latency: boolean;
  latencies: number[];
  /** First arrival time of each `webhook-id` (latency mode only). */
  arrivals: Map<string, number>;
  unique: Set<string> | null;
  missingId: number;
}

function fresh(
  options: { target?: number; latency?: boolean; unique?: boolean } = {},
): State {
  return {
    count: 0,
    target: options.target ?? 0,
    firstAt: null,
    targetAt: null,
    lastAt: null,
    perSecond: new Map(),
    latency: options.latency ?? false,
    latencies: [],
    arrivals: new Map(),
    unique: options.unique ? new Set() : null,
    missingId: 0,
  };
}

let state = fresh();
const now = (): number => performance.timeOrigin + performance.now();
const decoder = new TextDecoder();

async function sink(request: Request): Promise<Response> {
  const body = await request.arrayBuffer();
  const at = now();
  state.count++;
  state.firstAt ??= at;
  state.lastAt = at;
  if (state.count === state.target) state.targetAt = at;
  const second = Math.floor(at / 1000);
  state.perSecond.set(second, (state.perSecond.get(second) ?? 0) + 1);
  if (state.unique !== null) {
    const id = request.headers.get("webhook-id");
    if (id === null) state.missingId++;
    else state.unique.add(id);
  }
  if (state.latency) {
    const sent = sentAt(request.headers, body);
    if (sent !== null) state.latencies.push(at - sent);
    const id = request.headers.get("webhook-id");
    if (id !== null && !state.arrivals.has(id)) state.arrivals.set(id, at);
  }
  return new Response("ok", { status: 200 });
}

function sentAt(headers: Headers, body: ArrayBuffer): number | null {
  const header = headers.get("x-correlation-id");
  if (header?.startsWith("sent:")) {
    const value = Number(header.slice(5));
    if (Number.isFinite(value)) return value;
  }
  try {
    const parsed = JSON.parse(decoder.decode(body));
    if (typeof parsed?.sentAt === "number") return parsed.sentAt;
  } catch { /* not ours */ }
  return null;
}

function stats(brief: boolean): Record<string, unknown> {
  if (brief) return { count: state.count, targetAt: state.targetAt };
  const latencies = Float64Array.from(state.latencies).sort();
  const seconds = [...state.perSecond.entries()].sort((a, b) => a[0] - b[0]);
  return {
    count: state.count,
    target: state.target,
    firstAt: state.firstAt,
    targetAt: state.targetAt,
    lastAt: state.lastAt,
    perSecond: seconds.map(([, n]) => n),
    unique: state.unique?.size ?? null,
    missingId: state.missingId,
    latencies: Array.from(latencies),
    arrivals: Object.fromEntries(state.arrivals),
  };
}

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ hostname, port }) =>
    say(`listening on http://${hostname}:${port}/`),
}, async (request) => {
  const { pathname } = new URL(request.url);
  if (pathname === "/_bench/reset") {
    const options = await request.json().catch(() => ({}));
    state = fresh(options);
    return Response.json({ ok: true });
  }
  if (pathname === "/_bench/stats") {
    return Response.json(stats(new URL(request.url).searchParams.has("brief")));
  }
  return await sink(request);
});

Deno.addSignalListener("SIGTERM", () => {
  void server.shutdown().then(() => Deno.exit(0));
});
