/**
 * Gives every request an id: a well-formed incoming `x-request-id` is kept,
 * anything else is replaced by a new UUID. The id is echoed on every answer
 * and bound to the request's logger.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import type { Logger } from "../../observability/logger.ts";

const WELL_FORMED = /^[A-Za-z0-9._:-]{1,128}$/;

/** Middleware that sets `requestId` and `log` and the `x-request-id` header. */
export function requestId(log: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const id = incoming !== undefined && WELL_FORMED.test(incoming)
      ? incoming
      : crypto.randomUUID();
    c.set("requestId", id);
    c.set("log", log.child({ requestId: id }));
    await next();
    c.res.headers.set("x-request-id", id);
  };
}
