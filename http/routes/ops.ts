/**
 * Operations endpoints: `/healthz` (process alive), `/readyz` (ready to take
 * events) and `/metrics` (Prometheus text).
 *
 * @module
 */

import { Hono } from "hono";
import type { Registry } from "prom-client";
import type { AppEnv } from "../env.ts";
import { problemResponse } from "../problem.ts";
import type { Readiness } from "../../observability/readiness.ts";

/** Routes for liveness, readiness and metrics. */
export function opsRoutes(
  deps: { readiness: Readiness; registry: Registry },
): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => {
    const report = deps.readiness.report();
    if (report.ready) return c.json({ status: "ready", checks: report.checks });
    const failing = Object.entries(report.checks).filter(([, r]) => !r.ok).map((
      [name, r],
    ) => `${name}: ${r.detail}`);
    return problemResponse("not_ready", c.get("requestId"), {
      detail: `Not ready: ${failing.join("; ")}`,
      extensions: { checks: report.checks },
    });
  });
  app.get("/metrics", async (c) => {
    const text = await deps.registry.metrics();
    return c.body(text, 200, { "content-type": deps.registry.contentType });
  });
  return app;
}
