/**
 * The baselines: they need nothing from Miranda, only wrk, SQLite, RabbitMQ
 * and the sink.
 *
 * @module
 */

import { rabbitmqBaseline, rabbitmqReachable } from "../baselines/rabbitmq.ts";
import { sinkCeiling } from "../baselines/sink_client.ts";
import { storageCeiling } from "../baselines/storage.ts";
import type { Scenario } from "../figures.ts";
import { paced } from "../paced.ts";
import { fromFileUrl } from "../paths.ts";
import { percentile } from "../stats.ts";
import { spawnDeno, which } from "../procs.ts";
import { runWrk, type WrkResult } from "../wrk.ts";

/** Where the RabbitMQ baseline connects (`MIRANDA_BENCH_AMQP_URL` overrides). */
export const AMQP_URL = Deno.env.get("MIRANDA_BENCH_AMQP_URL") ??
  "amqp://guest:guest@127.0.0.1:5672";

/** Why wrk cannot run, or null. */
export async function wrkMissing(): Promise<string | null> {
  return await which("wrk") === null
    ? "wrk is not installed: apt-get install wrk"
    : null;
}

/** The parts of a wrk result worth keeping in the results file. */
export function wrkDetail(r: WrkResult): Record<string, unknown> {
  return {
    requests: r.requests,
    seconds: r.durationSec,
    wrkRequestsPerSec: r.requestsPerSec,
    non2xx: r.non2xx,
    socketErrors: r.errors,
    latencyMs: r.latencyMs,
  };
}

const httpCeiling: Scenario = {
  name: "http_ceiling",
  kind: "baseline",
  check: () => wrkMissing(),
  run: async ({ sizes }) => {
    await using server = spawnDeno(
      fromFileUrl(new URL("../servers/bare_http.ts", import.meta.url)),
    );
    const url = (await server.waitFor(/listening on (\S+)/, 30_000))[1]!;
    const headers = { Authorization: `Bearer ${"t".repeat(64)}` };
    // A short warm-up so the JIT is not measured.
    await runWrk({
      url,
      headers,
      connections: sizes.wrkConnections,
      threads: sizes.wrkThreads,
      durationSec: 1,
    });
    const r = await runWrk({
      url,
      headers,
      bodyBytes: sizes.bodyBytes,
      connections: sizes.wrkConnections,
      threads: sizes.wrkThreads,
      durationSec: sizes.wrkSec,
    });
    return { http_ceiling: { value: r.okPerSec, detail: wrkDetail(r) } };
  },
};

const storage: Scenario = {
  name: "storage_ceiling",
  kind: "baseline",
  check: () => Promise.resolve(null),
  run: async ({ sizes }) => {
    const r = await storageCeiling({
      rows: sizes.storageRows,
      batch: sizes.storageBatch,
      bodyBytes: sizes.bodyBytes,
    });
    return { storage_ceiling: { value: r.eventsPerSec, detail: r } };
  },
};

const rabbitmq: Scenario = {
  name: "rabbitmq",
  kind: "baseline",
  check: async () => {
    const error = await rabbitmqReachable(AMQP_URL);
    return error === null
      ? null
      : `RabbitMQ is not reachable at ${
        AMQP_URL.replace(/\/\/[^@]*@/, "//")
      } (${error}): apt-get install rabbitmq-server && rabbitmq-server -detached`;
  },
  run: async ({ sizes }) => {
    const r = await rabbitmqBaseline({
      url: AMQP_URL,
      publishers: sizes.rabbitPublishers,
      durationSec: sizes.rabbitSec,
      bodyBytes: sizes.bodyBytes,
      prefetch: sizes.rabbitPrefetch,
    });
    return {
      rabbitmq_publish: {
        value: r.publishPerSec,
        detail: { published: r.published },
      },
      rabbitmq_consume: {
        value: r.consumePerSec,
        detail: { consumed: r.consumed },
      },
    };
  },
};

const sink: Scenario = {
  name: "sink",
  kind: "baseline",
  check: () => Promise.resolve(null),
  run: async (ctx) => {
    const s = await ctx.sink();
    await s.reset();
    const url = `${s.url}in/ceiling`;
    const many = await sinkCeiling({
      url,
      inFlight: ctx.sizes.sinkInFlight,
      durationSec: ctx.sizes.sinkSec,
      bodyBytes: ctx.sizes.bodyBytes,
    });
    const one = await sinkCeiling({
      url,
      inFlight: 1,
      durationSec: ctx.sizes.sinkSec,
      bodyBytes: ctx.sizes.bodyBytes,
    });
    return {
      sink_ceiling: { value: many.requestsPerSec, detail: { ...many } },
      loopback_rtt_rate: { value: one.requestsPerSec, detail: { ...one } },
      loopback_rtt_ms: { value: one.rttMs.p50, detail: { ...one.rttMs } },
    };
  },
};

const forwarder: Scenario = {
  name: "forwarder",
  kind: "baseline",
  check: () => Promise.resolve(null),
  run: async (ctx) => {
    const s = await ctx.sink();
    await using server = spawnDeno(
      fromFileUrl(new URL("../servers/forwarder.ts", import.meta.url)),
      [`${s.url}in/forwarder`],
    );
    const url = (await server.waitFor(/listening on (\S+)/, 30_000))[1]!;
    const target = { url, headers: {} };
    const { latencyRate: rate, latencySec: seconds, bodyBytes } = ctx.sizes;
    // The same warm-up and run as the latency scenario's.
    await s.reset();
    const warm = await paced(target, rate, 1, bodyBytes);
    await s.waitCount(warm.acceptedAt.size, 30_000);
    await s.reset({ latency: true });
    const sent = await paced(target, rate, seconds, bodyBytes);
    await s.waitCount(sent.acceptedAt.size, 60_000);
    const l = Float64Array.from((await s.stats()).latencies).sort();
    const detail = {
      events: rate * seconds,
      accepted: sent.acceptedAt.size,
      refused: sent.refused,
      sendLagMaxMs: sent.maxLagMs,
      publishRoundTripMs: sent.acceptMs,
      p999: percentile(l, 99.9),
      maxMs: l[l.length - 1],
    };
    return {
      forwarder_latency_p50: { value: percentile(l, 50), detail },
      forwarder_latency_p99: { value: percentile(l, 99) },
    };
  },
};

/** The baseline scenarios, in the order they run. */
export const BASELINES: Scenario[] = [
  httpCeiling,
  storage,
  rabbitmq,
  sink,
  forwarder,
];
