/**
 * Events: `POST|PUT|DELETE /topics/{name}[/{path…}][?query]` publishes an
 * event (202 `{id}` with a `Location`, or 200 for a repeated
 * `idempotency-key`), and `GET /api/v1/events/{id}` shows one with its
 * per-subscription state. The `event` actor authorises and stores.
 *
 * Kept with the event (and replayed to subscribers): the method, the path
 * suffix and query, `content-type`, and the headers in
 * {@linkcode KEPT_HEADERS}. Everything else (authorization above all) is
 * dropped.
 *
 * @module
 */

import { Hono } from "hono";
import { z } from "@hono/zod-openapi";
import { ask } from "../../actors/system.ts";
import type { ActorRef } from "../../actors/types.ts";
import type { EventMsg, EventView, PublishResult } from "../../actors/event.ts";
import { callActor } from "../actor_call.ts";
import type { AppEnv } from "../env.ts";
import { requireIdentity } from "../middleware/auth.ts";
import { ProblemError } from "../problem.ts";
import type { TokenBuckets } from "../token_buckets.ts";
import { isTopicName } from "./names.ts";

/** Request headers kept with an event and sent on to subscribers. */
export const KEPT_HEADERS: readonly string[] = [
  "content-encoding",
  "content-language",
  "traceparent",
  "tracestate",
  "x-correlation-id",
  "x-event-type",
];

/** Longest path suffix and query accepted. */
export const MAX_PATH_SUFFIX = 2048;
export const MAX_QUERY = 4096;
/** Longest idempotency key accepted. */
export const MAX_IDEMPOTENCY_KEY = 256;

const EVENT_ID = z.uuid();

/**
 * The path and the query (without `?`) of an absolute request URL, as sent;
 * a fragment is dropped.
 */
export function splitTarget(url: string): { path: string; query: string } {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  const target = start === -1 ? "/" : url.slice(start);
  const hash = target.indexOf("#");
  const withoutHash = hash === -1 ? target : target.slice(0, hash);
  const mark = withoutHash.indexOf("?");
  return mark === -1
    ? { path: withoutHash, query: "" }
    : { path: withoutHash.slice(0, mark), query: withoutHash.slice(mark + 1) };
}

/** What the event routes need. */
export interface EventRouteDeps {
  event: ActorRef<EventMsg>;
  askTimeoutMs: number;
  /** Publishes per user, or null for no limit. */
  publishLimit?: TokenBuckets | null;
}

/** Routes for publishing and reading events. */
export function eventRoutes(deps: EventRouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const limit = deps.publishLimit ?? null;
  const publish = async (c: import("hono").Context<AppEnv>) => {
    const identity = requireIdentity(c);
    if (limit !== null) {
      const decision = limit.take(identity.user);
      if (!decision.ok) {
        throw new ProblemError("rate_limited", {
          detail:
            `Publishing is limited to ${limit.ratePerSecond} events/s per user (bursts of ${limit.burst}); retry in ${decision.retryAfterSeconds} s`,
          headers: { "retry-after": String(decision.retryAfterSeconds) },
        });
      }
    }
    const name = c.req.param("name") ?? "";
    if (!isTopicName(name)) {
      throw new ProblemError("not_found", {
        detail: `No topic "${name.slice(0, 130)}"`,
      });
    }
    // The path and query as sent, cut from the URL string: `URL` resolves
    // "." and ".." segments, which would hide them from the check below and
    // slice the suffix off another path (and parsing it costs more).
    const target = splitTarget(c.req.url);
    const rawPath = target.path;
    const path = rawPath.slice(`/topics/${name}`.length);
    if (path.length > MAX_PATH_SUFFIX) {
      throw new ProblemError("validation_failed", {
        detail: `The path suffix is longer than ${MAX_PATH_SUFFIX}`,
      });
    }
    if (
      /(^|\/)(\.|%2e){2}(\/|$)/i.test(path) ||
      /(^|\/)(\.|%2e)(\/|$)/i.test(path)
    ) {
      throw new ProblemError("validation_failed", {
        detail: 'The path suffix may not have "." or ".." segments',
      });
    }
    const query = target.query;
    if (query.length > MAX_QUERY) {
      throw new ProblemError("validation_failed", {
        detail: `The query is longer than ${MAX_QUERY}`,
      });
    }
    const idempotencyKey = c.req.header("idempotency-key") ?? null;
    if (
      idempotencyKey !== null &&
      (idempotencyKey.length === 0 ||
        idempotencyKey.length > MAX_IDEMPOTENCY_KEY)
    ) {
      throw new ProblemError("validation_failed", {
        detail: `"idempotency-key" must be 1-${MAX_IDEMPOTENCY_KEY} characters`,
      });
    }
    const headers: Record<string, string> = {};
    for (const header of KEPT_HEADERS) {
      const value = c.req.header(header);
      if (value !== undefined) headers[header] = value;
    }
    const body = new Uint8Array(await c.req.arrayBuffer());
    const result = await ask<EventMsg, PublishResult>(deps.event, (reply) => ({
      type: "publish",
      identity,
      requestId: c.get("requestId"),
      event: {
        topic: name,
        method: c.req.method as "POST" | "PUT" | "DELETE",
        path,
        query,
        contentType: c.req.header("content-type") ?? null,
        headers,
        body,
        idempotencyKey,
      },
      reply,
    }), { timeoutMs: deps.askTimeoutMs });
    if (!result.ok) {
      throw new ProblemError(result.code, { detail: result.detail });
    }
    return c.json({ id: result.id }, result.duplicate ? 200 : 202, {
      location: `/api/v1/events/${result.id}`,
    });
  };
  for (const pattern of ["/topics/:name", "/topics/:name/*"]) {
    app.on(["POST", "PUT", "DELETE"], pattern, publish);
  }
  app.get("/api/v1/events/:id", async (c) => {
    const id = c.req.param("id");
    if (!EVENT_ID.safeParse(id).success) {
      throw new ProblemError("not_found", {
        detail: `No event "${id.slice(0, 64)}"`,
      });
    }
    const view = await callActor<EventMsg, EventView>(deps.event, c, {
      type: "get",
      id,
    }, deps.askTimeoutMs);
    return c.json(view);
  });
  return app;
}
