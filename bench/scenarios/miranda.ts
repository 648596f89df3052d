/**
 * Miranda's figures, each scenario on a freshly started server (a real
 * `mod.ts start --insecure-http` process with a fresh temporary data
 * directory), driven through the documented API only.
 *
 * @module
 */

import type {
  Measurement,
  Scenario,
  ScenarioContext,
  Sizes,
} from "../figures.ts";
import {
  createSubscription,
  createTopic,
  forEachConcurrently,
  type Miranda,
  publishMany,
  setPaused,
  startMiranda,
} from "../miranda/server.ts";
import { type CpuTime, sleep } from "../procs.ts";
import { type Sink, type SinkStats, wallNow } from "../sink.ts";
import { paced } from "../paced.ts";
import { percentile } from "../stats.ts";
import { runWrk } from "../wrk.ts";
import { wrkDetail, wrkMissing } from "./baselines.ts";
import { SQLITE_FILE } from "../../store/sqlite/open.ts";

const MB = 1024 * 1024;

let probe: Promise<string | null> | null = null;

/**
 * Whether this checkout can be measured at all: the server starts, the admin
 * logs in, a topic, an event and a paused subscription can be made. Asked
 * once per bench run.
 */
function mirandaMissing(ctx: ScenarioContext): Promise<string | null> {
  probe ??= (async () => {
    try {
      const sink = await ctx.sink();
      await using m = await startMiranda();
      await createTopic(m, "bench-probe", "persisted");
      await publishMany(m, "bench-probe", 1);
      const id = await createSubscription(m, {
        topic: "bench-probe",
        url: `${sink.url}in/probe`,
        ordered: false,
        maxInFlight: 64,
      });
      await setPaused(m, id, true);
      await setPaused(m, id, false);
      return null;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return `Miranda cannot be driven yet (${message.split("\n")[0]})`;
    }
  })();
  return probe;
}

function needsWrkAndMiranda(ctx: ScenarioContext): Promise<string | null> {
  return wrkMissing().then((r) => r ?? mirandaMissing(ctx));
}

/** Publishes `count` events to `topic`: wrk for big counts, fetch for small. */
async function fill(
  ctx: ScenarioContext,
  m: Miranda,
  topic: string,
  count: number,
): Promise<{ accepted: number; seconds: number }> {
  const t0 = performance.now();
  if (count <= 5_000) {
    await publishMany(m, topic, count, { bodyBytes: ctx.sizes.bodyBytes });
    return { accepted: count, seconds: (performance.now() - t0) / 1000 };
  }
  const r = await runWrk({
    url: `${m.url}/topics/${topic}`,
    headers: { Authorization: m.bearer },
    bodyBytes: ctx.sizes.bodyBytes,
    connections: ctx.sizes.wrkConnections,
    threads: ctx.sizes.wrkThreads,
    durationSec: 3_600,
    stopAfter2xx: count,
  });
  if (r.counted2xx === null || r.counted2xx < count) {
    throw new Error(
      `Filling ${topic}: only ${
        r.counted2xx ?? 0
      } of ${count} events accepted (${r.non2xx} non-2xx)`,
    );
  }
  ctx.progress(
    `published ${r.requests} events to ${topic} in ${
      r.durationSec.toFixed(1)
    } s`,
  );
  return { accepted: r.requests - r.non2xx, seconds: r.durationSec };
}

function cpuSince(before: CpuTime, after: CpuTime): CpuTime {
  return {
    process: after.process - before.process,
    mainThread: after.mainThread - before.mainThread,
  };
}

/**
 * Server main-thread CPU per event in µs — the thread whose time bounds the
 * rate — with all threads' in the details. The load is on the other side of
 * a socket, so this cost moves less than a rate with what else the machine
 * runs (though a busier machine still makes each microsecond do less).
 */
function cpuFigure(cpu: CpuTime, events: number): Measurement {
  const micros = (seconds: number) => events === 0 ? 0 : seconds * 1e6 / events;
  return {
    value: micros(cpu.mainThread),
    detail: {
      events,
      mainThreadCpuSeconds: cpu.mainThread,
      processCpuSeconds: cpu.process,
      processMicrosPerEvent: micros(cpu.process),
    },
  };
}

/** Seconds allowed for `n` deliveries: generous, but bounded. */
function deliveryTimeoutMs(n: number): number {
  return Math.max(30_000, (n / 200) * 1000);
}

/**
 * Resumes the paused subscriptions `ids` and measures until the sink saw
 * `target` requests: deliveries per second from the resume.
 */
async function drain(
  m: Miranda,
  sink: Sink,
  ids: string[],
  target: number,
): Promise<{ perSec: number; seconds: number; stats: SinkStats }> {
  await sink.reset({ target, unique: ids.length === 1 });
  const t0 = wallNow();
  await forEachConcurrently(ids, 8, (id) => setPaused(m, id, false));
  const stats = await sink.waitTarget(deliveryTimeoutMs(target));
  const seconds = (stats.targetAt! - t0) / 1000;
  return { perSec: target / seconds, seconds, stats };
}

function deliveryDetail(
  r: { seconds: number; stats: SinkStats },
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const s = r.stats;
  return {
    ...extra,
    seconds: r.seconds,
    sinkCount: s.count,
    uniqueWebhookIds: s.unique,
    missingWebhookId: s.missingId,
    sinkPerSecond: s.perSecond,
  };
}

const ingest: Scenario = {
  name: "ingest",
  kind: "miranda",
  check: needsWrkAndMiranda,
  run: async (ctx) => {
    await using m = await startMiranda();
    await createTopic(m, "bench-persisted", "persisted");
    await createTopic(m, "bench-received", "received");
    const out: Record<string, Measurement> = {};
    for (
      const [figure, topic] of [
        ["ingest_persisted", "bench-persisted"],
        ["ingest_received", "bench-received"],
      ] as const
    ) {
      const options = {
        url: `${m.url}/topics/${topic}`,
        headers: { Authorization: m.bearer },
        bodyBytes: ctx.sizes.bodyBytes,
        connections: ctx.sizes.wrkConnections,
        threads: ctx.sizes.wrkThreads,
      };
      await runWrk({ ...options, durationSec: 1 }); // warm-up
      const cpuBefore = await m.cpuSeconds();
      const r = await runWrk({ ...options, durationSec: ctx.sizes.wrkSec });
      const cpu = cpuSince(cpuBefore, await m.cpuSeconds());
      if (r.okPerSec === 0) {
        throw new Error(`No event accepted on ${topic}:\n${r.output}`);
      }
      out[figure] = {
        value: r.okPerSec,
        detail: { ...wrkDetail(r), rssMB: (await m.rss()) / MB },
      };
      if (figure === "ingest_persisted") {
        out.ingest_cpu = cpuFigure(cpu, r.requests - r.non2xx);
      }
    }
    return out;
  },
};

const ingestTls: Scenario = {
  name: "ingest_tls",
  kind: "miranda",
  check: needsWrkAndMiranda,
  run: async (ctx) => {
    await using m = await startMiranda({ tls: true });
    await createTopic(m, "bench-tls", "persisted");
    const options = {
      url: `${m.url}/topics/bench-tls`,
      headers: { Authorization: m.bearer },
      bodyBytes: ctx.sizes.bodyBytes,
      connections: ctx.sizes.wrkConnections,
      threads: ctx.sizes.wrkThreads,
    };
    await runWrk({ ...options, durationSec: 1 }); // warm-up
    const r = await runWrk({ ...options, durationSec: ctx.sizes.wrkSec });
    if (r.okPerSec === 0) {
      throw new Error(`No event accepted over TLS:\n${r.output}`);
    }
    return {
      ingest_persisted_tls: { value: r.okPerSec, detail: wrkDetail(r) },
    };
  },
};

/**
 * One subscription, paused while a backlog is published, then resumed and
 * drained: events per second reaching the sink.
 */
function backlogDrain(
  figure: "delivery" | "delivery_ordered",
  options: { ordered: boolean; backlog: (sizes: Sizes) => number },
): Scenario {
  const topic = `bench-${figure}`;
  return {
    name: figure,
    kind: "miranda",
    check: needsWrkAndMiranda,
    run: async (ctx) => {
      const sink = await ctx.sink();
      await using m = await startMiranda();
      await createTopic(m, topic, "persisted");
      const id = await createSubscription(m, {
        topic,
        url: `${sink.url}in/${figure}`,
        ordered: options.ordered,
        maxInFlight: options.ordered ? 1 : 64,
      });
      await setPaused(m, id, true);
      const backlog = options.backlog(ctx.sizes);
      const filled = await fill(ctx, m, topic, backlog);
      const cpuBefore = await m.cpuSeconds();
      const r = await drain(m, sink, [id], backlog);
      const cpu = cpuSince(cpuBefore, await m.cpuSeconds());
      return {
        [figure]: {
          value: r.perSec,
          detail: deliveryDetail(r, { backlog: filled.accepted }),
        },
        [`${figure}_cpu`]: cpuFigure(cpu, backlog),
      };
    },
  };
}

const delivery = backlogDrain("delivery", {
  ordered: false,
  backlog: (sizes) => sizes.backlog,
});

const deliveryOrdered = backlogDrain("delivery_ordered", {
  ordered: true,
  backlog: (sizes) => sizes.orderedBacklog,
});

const fanout: Scenario = {
  name: "fanout",
  kind: "miranda",
  check: needsWrkAndMiranda,
  run: async (ctx) => {
    const sink = await ctx.sink();
    await using m = await startMiranda();
    await createTopic(m, "bench-fanout", "persisted");
    const ids: string[] = [];
    const n = ctx.sizes.fanoutSubscriptions;
    await forEachConcurrently([...Array(n).keys()], 8, async (i) => {
      const id = await createSubscription(m, {
        topic: "bench-fanout",
        url: `${sink.url}in/fanout/${i}`,
        ordered: false,
        maxInFlight: 64,
      });
      await setPaused(m, id, true);
      ids.push(id);
    });
    const filled = await fill(ctx, m, "bench-fanout", ctx.sizes.fanoutEvents);
    // The server's RSS while it drains, every second (the heap of a fan-out
    // saws well above its live size).
    const rssMB: number[] = [];
    const sampler = setInterval(async () => {
      rssMB.push(Math.round((await m.rss().catch(() => 0)) / MB));
    }, 1_000);
    let r;
    const cpuBefore = await m.cpuSeconds();
    try {
      r = await drain(m, sink, ids, n * ctx.sizes.fanoutEvents);
    } finally {
      clearInterval(sampler);
    }
    const cpu = cpuSince(cpuBefore, await m.cpuSeconds());
    return {
      fanout_cpu: cpuFigure(cpu, n * ctx.sizes.fanoutEvents),
      fanout: {
        value: r.perSec,
        detail: deliveryDetail(r, {
          subscriptions: n,
          events: filled.accepted,
          rssPeakMB: Math.max(0, ...rssMB),
          rssMBPerSecond: rssMB,
        }),
      },
    };
  },
};

const latency: Scenario = {
  name: "latency",
  kind: "miranda",
  check: needsWrkAndMiranda,
  run: async (ctx) => {
    const sink = await ctx.sink();
    await using m = await startMiranda();
    await createTopic(m, "bench-latency", "persisted");
    await createSubscription(m, {
      topic: "bench-latency",
      url: `${sink.url}in/latency`,
      ordered: false,
      maxInFlight: 64,
    });
    // Warm-up: a second at the target rate, delivered, then measured afresh.
    await sink.reset();
    const target = {
      url: `${m.url}/topics/bench-latency`,
      headers: { authorization: m.bearer },
    };
    const warm = await paced(
      target,
      ctx.sizes.latencyRate,
      1,
      ctx.sizes.bodyBytes,
    );
    await sink.waitCount(warm.acceptedAt.size, 30_000);
    const total = ctx.sizes.latencyRate * ctx.sizes.latencySec;
    await sink.reset({ latency: true });
    const cpuBefore = await m.cpuSeconds();
    const sent = await paced(
      target,
      ctx.sizes.latencyRate,
      ctx.sizes.latencySec,
      ctx.sizes.bodyBytes,
    );
    const accepted = sent.acceptedAt.size;
    await sink.waitCount(accepted, deliveryTimeoutMs(accepted));
    const cpu = cpuSince(cpuBefore, await m.cpuSeconds());
    const stats = await sink.stats();
    // The main figures run from the moment the publisher sent the event to
    // its arrival at the sink: an upper bound of accept → sink that includes
    // the group commit and its fsync. From the 202 as the publisher saw it
    // the measure is a lower bound and can be negative (the sink often has
    // the event before the 202 is back); its p99 is a figure of its own and
    // the rest is in the details.
    const fromAccept: number[] = [];
    for (const [id, acceptedAt] of sent.acceptedAt) {
      const arrived = stats.arrivals[id];
      if (arrived !== undefined) fromAccept.push(arrived - acceptedAt);
    }
    const l = Float64Array.from(fromAccept).sort();
    const fromSend = Float64Array.from(stats.latencies).sort();
    if (l.length < accepted * 0.99 || fromSend.length < accepted * 0.99) {
      throw new Error(
        `Only ${l.length} of ${accepted} events were matched accept → sink by id`,
      );
    }
    const refused = total - accepted;
    const warning = refused === 0
      ? undefined
      : `${refused} of ${total} publishes refused (${
        Object.entries(sent.refused).map(([k, v]) => `${k}: ${v}`).join(", ")
      }); percentiles over the accepted ones`;
    const detail = {
      events: total,
      accepted,
      refused: sent.refused,
      matched: l.length,
      sendLagMaxMs: sent.maxLagMs,
      publishRoundTripMs: sent.acceptMs,
      acceptSeenToSinkMs: {
        p50: percentile(l, 50),
        p99: percentile(l, 99),
        p999: percentile(l, 99.9),
      },
      maxMs: fromSend[fromSend.length - 1],
    };
    const w = warning === undefined ? {} : { warning };
    return {
      latency_p50: { value: percentile(fromSend, 50), detail, ...w },
      latency_p99: { value: percentile(fromSend, 99), ...w },
      latency_seen_p99: { value: percentile(l, 99), ...w },
      latency_p999: { value: percentile(fromSend, 99.9), ...w },
      latency_cpu: cpuFigure(cpu, accepted),
    };
  },
};

const memory: Scenario = {
  name: "memory",
  kind: "miranda",
  check: needsWrkAndMiranda,
  run: async (ctx) => {
    const sink = await ctx.sink();
    await using m = await startMiranda();
    await sleep(2_000);
    const idle = await m.rss();
    // Spread over topics of at most 100 subscriptions each.
    const n = ctx.sizes.memorySubscriptions;
    const topics = Math.ceil(n / 100);
    for (let t = 0; t < topics; t++) {
      await createTopic(m, `bench-mem-${t}`, "persisted");
    }
    const t0 = performance.now();
    await forEachConcurrently([...Array(n).keys()], 16, async (i) => {
      await createSubscription(m, {
        topic: `bench-mem-${i % topics}`,
        url: `${sink.url}in/mem/${i}`,
        ordered: false,
        maxInFlight: 64,
      });
    });
    const createSeconds = (performance.now() - t0) / 1000;
    await sleep(2_000);
    const burst = await m.rss();
    // The creation burst leaves garbage V8 gives back only once the node has
    // been quiet for a while; what holding the subscriptions costs is the
    // settled figure. Every sample is kept in the details.
    const samples: number[] = [];
    for (let s = 0; s < ctx.sizes.memorySettleSec; s++) {
      await sleep(1_000);
      samples.push(Math.round((await m.rss()) / MB));
    }
    const settled = await m.rss();
    return {
      memory_idle: { value: idle / MB },
      memory_subscriptions_burst: {
        value: burst / MB,
        detail: { subscriptions: n, topics, createSeconds },
      },
      memory_subscriptions: {
        value: settled / MB,
        detail: {
          subscriptions: n,
          topics,
          settleSeconds: ctx.sizes.memorySettleSec,
          rssMBPerSecond: samples,
        },
      },
    };
  },
};

const recovery: Scenario = {
  name: "recovery",
  kind: "miranda",
  check: needsWrkAndMiranda,
  run: async (ctx) => {
    const sink = await ctx.sink();
    await using m = await startMiranda();
    await createTopic(m, "bench-backlog", "persisted");
    const id = await createSubscription(m, {
      topic: "bench-backlog",
      url: `${sink.url}in/backlog`,
      ordered: false,
      maxInFlight: 64,
    });
    await setPaused(m, id, true);
    const filled = await fill(ctx, m, "bench-backlog", ctx.sizes.memoryBacklog);
    await sleep(2_000);
    const rss = await m.rss();
    // A restart reads the whole WAL again, so its size is part of the figure.
    const walMB = (await Deno.stat(`${m.dataDir}/${SQLITE_FILE}-wal`)).size /
      MB;
    const ms = await m.killAndRecover();
    return {
      memory_backlog: {
        value: rss / MB,
        detail: {
          backlog: filled.accepted,
          publishSeconds: filled.seconds,
        },
      },
      recovery: {
        value: ms / 1000,
        detail: {
          backlog: filled.accepted,
          walMB,
          rssAfterMB: (await m.rss()) / MB,
        },
      },
    };
  },
};

/** The Miranda scenarios, in the order they run. */
export const MIRANDA_SCENARIOS: Scenario[] = [
  ingest,
  ingestTls,
  delivery,
  deliveryOrdered,
  fanout,
  latency,
  memory,
  recovery,
];
