/**
 * Prometheus metrics of delivery, registered once per registry and shared by
 * every courier (prom-client refuses a second metric of the same name).
 *
 * @module
 */

import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** The delivery metrics. */
export interface DeliveryMetrics {
  /** `miranda_deliveries_total{subscription}` */
  deliveries: Counter<"subscription">;
  /** `miranda_delivery_failures_total{subscription,reason}`; reason: unreachable, http, throttled, gone, dead_letter */
  failures: Counter<"subscription" | "reason">;
  /** `miranda_delivery_latency_seconds`: event received → 2xx */
  latency: Histogram<string>;
  /** `miranda_subscription_backlog{subscription}` */
  backlog: Gauge<"subscription">;
  /** `miranda_subscription_live{subscription}`: 1 delivering, 0 probing or paused */
  live: Gauge<"subscription">;
}

// From a loopback subscriber (milliseconds) to one that was down for hours.
const LATENCY_BUCKETS = [
  0.005,
  0.01,
  0.05,
  0.1,
  0.5,
  1,
  5,
  30,
  60,
  300,
  1800,
  3600,
  21600,
];

/** Registers the delivery metrics on `registry`. */
export function createDeliveryMetrics(registry: Registry): DeliveryMetrics {
  const registers = [registry];
  return {
    deliveries: new Counter({
      name: "miranda_deliveries_total",
      help: "Events a subscriber accepted with a 2xx",
      labelNames: ["subscription"],
      registers,
    }),
    failures: new Counter({
      name: "miranda_delivery_failures_total",
      help: "Failed delivery attempts and dead letters, by reason",
      labelNames: ["subscription", "reason"],
      registers,
    }),
    latency: new Histogram({
      name: "miranda_delivery_latency_seconds",
      help: "Time from an event's acceptance to its subscriber's 2xx",
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    backlog: new Gauge({
      name: "miranda_subscription_backlog",
      help: "Events of a subscription not yet delivered or failed",
      labelNames: ["subscription"],
      registers,
    }),
    live: new Gauge({
      name: "miranda_subscription_live",
      help:
        "1 when the subscriber is taking deliveries, 0 when probing or paused",
      labelNames: ["subscription"],
      registers,
    }),
  };
}

/**
 * `miranda_delivery_worker_running` (1 while a delivery worker runs) and
 * `miranda_delivery_worker_attempts_total` (attempts it has carried; a light
 * load goes out from the node's thread and starts none), read from `sender`
 * at each scrape.
 */
export function registerWorkerSenderMetrics(
  registry: Registry,
  sender: { readonly workerRunning: boolean; readonly workerAttempts: number },
): void {
  new Gauge({
    name: "miranda_delivery_worker_running",
    help: "1 while a delivery worker thread runs, else 0",
    registers: [registry],
    collect() {
      this.set(sender.workerRunning ? 1 : 0);
    },
  });
  new Counter({
    name: "miranda_delivery_worker_attempts_total",
    help: "Delivery attempts carried by the delivery worker thread",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sender.workerAttempts);
    },
  });
}
