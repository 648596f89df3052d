/**
 * The latency scenarios' publisher: events at a steady rate, open loop,
 * each carrying its send time, against Miranda or the forwarder baseline.
 *
 * @module
 */

import { sleep } from "./procs.ts";
import { wallNow } from "./sink.ts";
import { percentile } from "./stats.ts";
import { makeBody } from "./wrk.ts";

/** Where `paced` publishes: a URL and the headers it needs (auth). */
export interface PublishTarget {
  url: string;
  headers: Record<string, string>;
}

/**
 * Publishes at `rate` events/s for `seconds`, open loop (a late answer does
 * not delay the next send), each event carrying its send time in
 * `x-correlation-id` (kept and forwarded by Miranda) and in its body.
 */
export async function paced(
  target: PublishTarget,
  rate: number,
  seconds: number,
  bodyBytes: number,
): Promise<{
  maxLagMs: number;
  acceptMs: { p50: number; p99: number };
  acceptedAt: Map<string, number>;
  /** Refused publishes by status (or error). */
  refused: Record<string, number>;
}> {
  const total = rate * seconds;
  const pad = makeBody(bodyBytes);
  const inflight = new Set<Promise<void>>();
  const accept: number[] = [];
  const acceptedAt = new Map<string, number>();
  const refused: Record<string, number> = {};
  const refuse = (why: string) => (refused[why] = (refused[why] ?? 0) + 1);
  const t0 = performance.now();
  let maxLagMs = 0;
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait - 0.5);
    maxLagMs = Math.max(maxLagMs, performance.now() - due);
    const sentAt = wallNow();
    const body = `{"sentAt":${sentAt},${pad.slice(1)}`.slice(0, bodyBytes - 2) +
      '"}';
    const started = performance.now();
    const p = fetch(target.url, {
      method: "POST",
      headers: {
        ...target.headers,
        "content-type": "application/json",
        "x-correlation-id": `sent:${sentAt}`,
        "x-event-type": "bench.latency",
      },
      body,
    }).then(async (res) => {
      const text = await res.text();
      if (res.status === 202) {
        acceptedAt.set((JSON.parse(text) as { id: string }).id, wallNow());
        accept.push(performance.now() - started);
      } else refuse(String(res.status));
    }).catch((error) => {
      refuse(error instanceof Error ? error.name : "error");
    }).finally(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.all(inflight);
  if (acceptedAt.size === 0) {
    throw new Error(`Every publish was refused: ${JSON.stringify(refused)}`);
  }
  accept.sort((a, b) => a - b);
  return {
    maxLagMs,
    acceptMs: { p50: percentile(accept, 50), p99: percentile(accept, 99) },
    acceptedAt,
    refused,
  };
}
