/**
 * Counts and times every request by method, matched route and status, and
 * logs server errors. Every label comes from a bounded set (a made-up
 * method counts as `other`), so clients cannot grow the series.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "../env.ts";
import type { HttpMetrics } from "../../observability/metrics.ts";
import { HTTP_METHODS } from "../methods.ts";

const SERVED: ReadonlySet<string> = new Set(HTTP_METHODS);

/** The `method` label: a method Miranda serves, else `other`. */
function methodLabel(method: string): string {
  return SERVED.has(method) ? method : "other";
}

/** Middleware recording `miranda_http_requests_total` and `miranda_http_request_seconds`. */
export function accessLog(metrics: HttpMetrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const route = routePath(c, -1);
    const seconds = (performance.now() - started) / 1000;
    const method = methodLabel(c.req.method);
    metrics.requests.inc({
      method,
      route,
      status: String(c.res.status),
    });
    metrics.seconds.observe({ method, route }, seconds);
    if (c.res.status >= 500) {
      c.get("log").warn("request answered with a server error", {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
      });
    }
  };
}
