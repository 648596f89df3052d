/**
 * The sink ceiling: the loopback sink hit by the client stack Miranda's
 * couriers use — `attempt()` from `delivery/attempt.ts` through the
 * delivery client of `delivery/client.ts` (undici) — with `inFlight`
 * concurrent requests for `durationSec`. With one in flight it is the loopback
 * round trip of the same request.
 *
 * @module
 */

import { attempt } from "../../delivery/attempt.ts";
import { createDeliveryClient } from "../../delivery/client.ts";
import { makeBody } from "../wrk.ts";

/** Options of {@linkcode sinkCeiling}. */
export interface SinkClientOptions {
  url: string;
  inFlight: number;
  durationSec: number;
  bodyBytes: number;
}

/** Requests per second and round trips seen. */
export interface SinkClientResult {
  requestsPerSec: number;
  requests: number;
  failures: number;
  rttMs: { p50: number; p99: number; mean: number };
}

/** Drives the sink with `inFlight` concurrent loops. */
export async function sinkCeiling(
  options: SinkClientOptions,
): Promise<SinkClientResult> {
  const body = new TextEncoder().encode(makeBody(options.bodyBytes));
  // The headers a courier sends: content type, Standard Webhooks headers.
  const headers: [string, string][] = [
    ["content-type", "application/json"],
    ["webhook-id", crypto.randomUUID()],
    ["webhook-timestamp", String(Math.floor(Date.now() / 1000))],
    ["webhook-signature", `v1,${"A".repeat(44)}`],
  ];
  await using client = createDeliveryClient();
  const rtts: number[] = [];
  let requests = 0;
  let failures = 0;
  const warmupUntil = performance.now() + 300;
  const deadline = warmupUntil + options.durationSec * 1000;
  let started = 0;
  await Promise.all(
    Array.from({ length: options.inFlight }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        const result = await attempt({
          url: options.url,
          method: "POST",
          headers,
          body,
          client,
          privateAllowed: true,
          timeoutMs: 30_000,
        });
        const t1 = performance.now();
        if (t0 < warmupUntil) continue;
        if (started === 0) started = t0;
        if (result.kind === "ok") {
          requests++;
          rtts.push(t1 - t0);
        } else failures++;
      }
    }),
  );
  const seconds = (performance.now() - (started || warmupUntil)) / 1000;
  rtts.sort((a, b) => a - b);
  const pick = (p: number) =>
    rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))] ?? NaN;
  return {
    requestsPerSec: requests / seconds,
    requests,
    failures,
    rttMs: {
      p50: pick(0.5),
      p99: pick(0.99),
      mean: rtts.reduce((a, b) => a + b, 0) / Math.max(1, rtts.length),
    },
  };
}
