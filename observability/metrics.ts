/**
 * The process-wide Prometheus registry and the HTTP metrics. Each node makes
 * one registry at start-up and hands it to every subsystem (no global
 * registry, so tests stay isolated).
 *
 * @module
 */

import client from "prom-client";

/** The metrics the HTTP layer records per request. */
export interface HttpMetrics {
  requests: client.Counter<"method" | "route" | "status">;
  seconds: client.Histogram<"method" | "route">;
}

/** Creates a registry with process and runtime metrics (`collectDefaultMetrics`). */
export function createRegistry(
  options: { defaultMetrics?: boolean } = {},
): client.Registry {
  const registry = new client.Registry();
  if (options.defaultMetrics ?? true) {
    client.collectDefaultMetrics({ register: registry });
  }
  return registry;
}

/** Registers the HTTP request metrics on `registry`. */
export function createHttpMetrics(registry: client.Registry): HttpMetrics {
  return {
    requests: new client.Counter({
      name: "miranda_http_requests_total",
      help: "HTTP requests answered, by method, matched route and status",
      labelNames: ["method", "route", "status"],
      registers: [registry],
    }),
    seconds: new client.Histogram({
      name: "miranda_http_request_seconds",
      help: "Time to answer an HTTP request",
      labelNames: ["method", "route"],
      buckets: [
        0.0005,
        0.001,
        0.0025,
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.25,
        1,
        5,
      ],
      registers: [registry],
    }),
  };
}
