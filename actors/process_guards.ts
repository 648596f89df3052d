/**
 * Last-resort guards: a stray promise rejection or an error escaping a timer
 * outside any actor is logged and counted instead of killing the process.
 * Errors inside actors are routed to their supervisors before they get here.
 *
 * @module
 */

import { Counter, type Registry } from "prom-client";
import { errorFields, type Logger } from "../observability/logger.ts";

const METRIC = "miranda_unhandled_errors_total";

/**
 * Adds `unhandledrejection` and `error` listeners on `globalThis` that
 * prevent the default (process exit), log, and count
 * `miranda_unhandled_errors_total{kind}`. Returns a function removing them.
 */
export function installProcessGuards(
  log: Logger,
  registry: Registry,
): () => void {
  const counter = (registry.getSingleMetric(METRIC) as
    | Counter<"kind">
    | undefined) ??
    new Counter({
      name: METRIC,
      help:
        "Unhandled rejections and uncaught errors kept from killing the process",
      labelNames: ["kind"],
      registers: [registry],
    });
  const onRejection = (event: PromiseRejectionEvent): void => {
    event.preventDefault();
    log.error("Unhandled promise rejection", errorFields(event.reason));
    counter.inc({ kind: "rejection" });
  };
  const onError = (event: ErrorEvent): void => {
    event.preventDefault();
    log.error("Uncaught error", errorFields(event.error ?? event.message));
    counter.inc({ kind: "error" });
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  globalThis.addEventListener("error", onError);
  return () => {
    globalThis.removeEventListener("unhandledrejection", onRejection);
    globalThis.removeEventListener("error", onError);
  };
}
