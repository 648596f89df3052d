/**
 * What the bench measures. A scenario is one unit of work (start what it
 * needs, measure, tear down) that yields one or more figures; every figure is
 * a row of the table. A figure's goal is either a ratio against a baseline
 * measured in the same run, or a bound on its own value.
 *
 * @module
 */

import type { Sink } from "./sink.ts";

/** Sizes of one bench run (full or `--quick`). */
export interface Sizes {
  /** Seconds of each wrk run. */
  wrkSec: number;
  wrkConnections: number;
  wrkThreads: number;
  bodyBytes: number;
  storageRows: number;
  storageBatch: number;
  rabbitSec: number;
  rabbitPublishers: number;
  rabbitPrefetch: number;
  sinkSec: number;
  sinkInFlight: number;
  backlog: number;
  orderedBacklog: number;
  fanoutSubscriptions: number;
  fanoutEvents: number;
  latencyRate: number;
  latencySec: number;
  memorySubscriptions: number;
  /** Seconds the node is left quiet after creating them, RSS read each second. */
  memorySettleSec: number;
  memoryBacklog: number;
}

/** The full sizes, as the issue asks. */
export const FULL: Sizes = {
  wrkSec: 10,
  wrkConnections: 64,
  wrkThreads: 1,
  bodyBytes: 256,
  storageRows: 200_000,
  storageBatch: 512,
  rabbitSec: 10,
  rabbitPublishers: 64,
  rabbitPrefetch: 64,
  sinkSec: 5,
  sinkInFlight: 64,
  backlog: 100_000,
  orderedBacklog: 10_000,
  fanoutSubscriptions: 100,
  fanoutEvents: 10_000,
  latencyRate: 1_000,
  latencySec: 30,
  memorySubscriptions: 10_000,
  memorySettleSec: 30,
  memoryBacklog: 1_000_000,
};

/** Tiny sizes for a smoke run. */
export const QUICK: Sizes = {
  ...FULL,
  wrkSec: 1,
  storageRows: 10_240,
  rabbitSec: 1,
  sinkSec: 1,
  backlog: 2_000,
  orderedBacklog: 200,
  fanoutSubscriptions: 10,
  fanoutEvents: 200,
  latencyRate: 200,
  latencySec: 2,
  memorySubscriptions: 200,
  memorySettleSec: 3,
  memoryBacklog: 5_000,
};

/** A goal: `ratio >= 0.5`, `value <= 150`, or just report. */
export type Goal =
  | { on: "ratio" | "value"; op: ">=" | "<="; target: number }
  | { on: "report" };

/** One row of the table. */
export interface FigureDef {
  name: string;
  /** `{size}` placeholders are filled from the run's {@linkcode Sizes}. */
  title: string;
  unit: string;
  /** The scenario that measures it; absent for a figure taken from another. */
  scenario: string;
  /** For a derived row: the figure whose value it shows. */
  sameAs?: string;
  baseline?: string;
  goal: Goal;
  kind: "baseline" | "miranda";
}

/** One measurement of a figure, with what else the run saw. */
export interface Measurement {
  value: number;
  /** Something that qualifies the value (e.g. requests refused meanwhile). */
  warning?: string;
  detail?: Record<string, unknown>;
}

/** What a scenario may use. */
export interface ScenarioContext {
  sizes: Sizes;
  sink(): Promise<Sink>;
  progress(line: string): void;
}

/** A unit of work yielding figures. */
export interface Scenario {
  name: string;
  kind: "baseline" | "miranda";
  /** Why it cannot run here (a missing tool or service), or null. */
  check(ctx: ScenarioContext): Promise<string | null>;
  run(ctx: ScenarioContext): Promise<Record<string, Measurement>>;
}

/** The table, in order. */
export const FIGURES: FigureDef[] = [
  {
    name: "http_ceiling",
    title: "HTTP ceiling: wrk → bare Deno.serve 202, 64 conns",
    unit: "req/s",
    scenario: "http_ceiling",
    goal: { on: "report" },
    kind: "baseline",
  },
  {
    name: "storage_ceiling",
    title:
      "storage ceiling: node:sqlite WAL FULL, AES-GCM rows, batches of 512",
    unit: "events/s",
    scenario: "storage_ceiling",
    goal: { on: "report" },
    kind: "baseline",
  },
  {
    name: "rabbitmq_publish",
    title: "RabbitMQ persistent publish + confirms, 64 publishers",
    unit: "msgs/s",
    scenario: "rabbitmq",
    goal: { on: "report" },
    kind: "baseline",
  },
  {
    name: "rabbitmq_consume",
    title: "RabbitMQ consume, manual acks, prefetch 64",
    unit: "msgs/s",
    scenario: "rabbitmq",
    goal: { on: "report" },
    kind: "baseline",
  },
  {
    name: "sink_ceiling",
    title: "sink ceiling: courier client stack (undici), 64 in flight",
    unit: "req/s",
    scenario: "sink",
    goal: { on: "report" },
    kind: "baseline",
  },
  {
    name: "loopback_rtt_rate",
    title: "1 / loopback round trip (same request, 1 in flight)",
    unit: "req/s",
    scenario: "sink",
    goal: { on: "report" },
    kind: "baseline",
  },
  {
    name: "loopback_rtt_ms",
    title: "loopback round trip to the sink, p50",
    unit: "ms",
    scenario: "sink",
    goal: { on: "report" },
    kind: "baseline",
  },
  {
    name: "ingest_persisted",
    title: "ingest, ack persisted, 256-byte bodies, 64 conns (202/s)",
    unit: "events/s",
    scenario: "ingest",
    baseline: "http_ceiling",
    goal: { on: "ratio", op: ">=", target: 0.5 },
    kind: "miranda",
  },
  {
    name: "ingest_received",
    title: "ingest, ack received (202/s)",
    unit: "events/s",
    scenario: "ingest",
    baseline: "http_ceiling",
    goal: { on: "ratio", op: ">=", target: 0.7 },
    kind: "miranda",
  },
  {
    name: "ingest_cpu",
    title: "server main-thread CPU per accepted event, ack persisted",
    unit: "µs",
    scenario: "ingest",
    goal: { on: "report" },
    kind: "miranda",
  },
  {
    name: "ingest_persisted_tls",
    title: "ingest, ack persisted, over TLS (202/s)",
    unit: "events/s",
    scenario: "ingest_tls",
    baseline: "http_ceiling",
    goal: { on: "report" },
    kind: "miranda",
  },
  {
    name: "ingest_vs_storage",
    title: "ingest (persisted) vs storage ceiling",
    unit: "events/s",
    scenario: "ingest",
    sameAs: "ingest_persisted",
    baseline: "storage_ceiling",
    goal: { on: "report" },
    kind: "miranda",
  },
  {
    name: "ingest_vs_rabbitmq",
    title: "ingest (persisted) vs RabbitMQ publish",
    unit: "events/s",
    scenario: "ingest",
    sameAs: "ingest_persisted",
    baseline: "rabbitmq_publish",
    goal: { on: "ratio", op: ">=", target: 1 },
    kind: "miranda",
  },
  {
    name: "delivery",
    title:
      "delivery, 1 subscription, maxInFlight 64, {backlog} backlog (2xx/s at sink)",
    unit: "events/s",
    scenario: "delivery",
    baseline: "sink_ceiling",
    goal: { on: "ratio", op: ">=", target: 0.5 },
    kind: "miranda",
  },
  {
    name: "delivery_vs_rabbitmq",
    title: "delivery vs RabbitMQ consume",
    unit: "events/s",
    scenario: "delivery",
    sameAs: "delivery",
    baseline: "rabbitmq_consume",
    goal: { on: "ratio", op: ">=", target: 1 },
    kind: "miranda",
  },
  {
    name: "delivery_cpu",
    title: "server main-thread CPU per delivery, maxInFlight 64",
    unit: "µs",
    scenario: "delivery",
    goal: { on: "report" },
    kind: "miranda",
  },
  {
    name: "delivery_ordered",
    title: "delivery, ordered (1 in flight), {orderedBacklog} backlog",
    unit: "events/s",
    scenario: "delivery_ordered",
    baseline: "loopback_rtt_rate",
    goal: { on: "report" },
    kind: "miranda",
  },
  {
    name: "delivery_ordered_cpu",
    title: "server main-thread CPU per delivery, ordered",
    unit: "µs",
    scenario: "delivery_ordered",
    goal: { on: "report" },
    kind: "miranda",
  },
  {
    name: "fanout",
    title:
      "fan-out: 1 topic × {fanoutSubscriptions} subscriptions × {fanoutEvents} events",
    unit: "deliveries/s",
    scenario: "fanout",
    goal: { on: "report" },
    kind: "miranda",
  },
  {
    name: "fanout_cpu",
    title: "server main-thread CPU per fan-out delivery",
    unit: "µs",
    scenario: "fanout",
    goal: { on: "report" },
    kind: "miranda",
  },
  {
    name: "forwarder_latency_p50",
    title:
      "latency through a bare forwarder at {latencyRate}/s for {latencySec} s (publish sent → sink), p50",
    unit: "ms",
    scenario: "forwarder",
    goal: { on: "report" },
    kind: "baseline",
  },
  {
    name: "forwarder_latency_p99",
    title: "latency through a bare forwarder (publish sent → sink) p99",
    unit: "ms",
    scenario: "forwarder",
    goal: { on: "report" },
    kind: "baseline",
  },
  {
    name: "latency_p50",
    title:
      "end-to-end latency at {latencyRate}/s for {latencySec} s (publish sent → sink), p50",
    unit: "ms",
    scenario: "latency",
    baseline: "loopback_rtt_ms",
    goal: { on: "report" },
    kind: "miranda",
  },
  {
    name: "latency_p99",
    title: "end-to-end latency (publish sent → sink) p99",
    unit: "ms",
    scenario: "latency",
    baseline: "loopback_rtt_ms",
    goal: { on: "value", op: "<=", target: 10 },
    kind: "miranda",
  },
  {
    name: "latency_seen_p99",
    title: "end-to-end latency (202 seen by the publisher → sink) p99",
    unit: "ms",
    scenario: "latency",
    baseline: "loopback_rtt_ms",
    goal: { on: "report" },
    kind: "miranda",
  },
  {
    name: "latency_p999",
    title: "end-to-end latency (publish sent → sink) p99.9",
    unit: "ms",
    scenario: "latency",
    baseline: "loopback_rtt_ms",
    goal: { on: "report" },
    kind: "miranda",
  },
  {
    name: "latency_cpu",
    title:
      "server main-thread CPU per event published and delivered at {latencyRate}/s",
    unit: "µs",
    scenario: "latency",
    goal: { on: "report" },
    kind: "miranda",
  },
  {
    name: "memory_idle",
    title: "RSS idle",
    unit: "MB",
    scenario: "memory",
    goal: { on: "report" },
    kind: "miranda",
  },
  {
    name: "memory_subscriptions_burst",
    title: "RSS 2 s after creating {memorySubscriptions} subscriptions",
    unit: "MB",
    scenario: "memory",
    goal: { on: "report" },
    kind: "miranda",
  },
  {
    name: "memory_subscriptions",
    title:
      "RSS with {memorySubscriptions} subscriptions (settled, {memorySettleSec} s later)",
    unit: "MB",
    scenario: "memory",
    goal: { on: "value", op: "<=", target: 150 },
    kind: "miranda",
  },
  {
    name: "memory_backlog",
    title: "RSS with a {memoryBacklog}-event backlog",
    unit: "MB",
    scenario: "recovery",
    goal: { on: "report" },
    kind: "miranda",
  },
  {
    name: "recovery",
    title: "kill -9 with a {memoryBacklog}-event backlog → /readyz 200",
    unit: "s",
    scenario: "recovery",
    goal: { on: "value", op: "<=", target: 2 },
    kind: "miranda",
  },
];

/** A figure's title with its `{size}` placeholders filled in. */
export function titleOf(figure: FigureDef, sizes: Sizes): string {
  return figure.title.replace(
    /\{(\w+)\}/g,
    (_, key: string) =>
      (sizes[key as keyof Sizes] ?? `{${key}}`).toLocaleString("en-US"),
  );
}
