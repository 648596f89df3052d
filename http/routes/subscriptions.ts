/**
 * Subscription management: `/api/v1/subscriptions` (create, list), one
 * subscription (`GET`/`PATCH`/`DELETE`, `pause`, `resume`, versions), its
 * signing secret (read, rotate), its deliveries, its failed list and
 * replays. The `subscription` actor authorises and checks destinations.
 *
 * @module
 */

import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { SubscriptionMsg } from "../../actors/subscription.ts";
import type { ActorRef } from "../../actors/types.ts";
import { type ActorRequest, callActor } from "../actor_call.ts";
import type { AppEnv } from "../env.ts";
import { apiRoute, apiRouter, jsonBody } from "../openapi.ts";
import { ProblemError } from "../problem.ts";
import { TOPIC_NAME } from "./names.ts";

const HTTP_URL = z.url({ protocol: /^https?$/ })
  .max(2048);
const RESERVED_HEADER =
  /^(host|content-length|content-type|transfer-encoding|connection|webhook-.*|miranda-.*)$/i;
const HEADERS = z.record(
  z.string().min(1).max(64).regex(
    /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/,
    "Not a valid header name",
  )
    .refine((h) => !RESERVED_HEADER.test(h), "This header is set by Miranda"),
  z.string().max(1024).regex(
    /^[^\r\n]*$/,
    "Header values may not contain line breaks",
  ),
).refine((h) => Object.keys(h).length <= 32, "At most 32 extra headers");
const FAILURE_POLICY = z.object({
  mode: z.enum(["retry", "deadLetter"]),
  maxAttempts: z.number().int().min(1).max(1000).default(10),
}).strict();
const SETTINGS = {
  url: HTTP_URL,
  livenessUrl: HTTP_URL.optional(),
  ordered: z.boolean().default(true),
  maxInFlight: z.number().int().min(1).max(1024).default(1),
  failurePolicy: FAILURE_POLICY.default({ mode: "retry", maxAttempts: 10 }),
  record: z.enum(["async", "sync"]).default("async"),
  timeoutMs: z.number().int().min(100).max(300_000).default(30_000),
  headers: HEADERS.default({}),
};
const SubscriptionCreate = z.object({ topic: TOPIC_NAME, ...SETTINGS }).strict()
  .refine((s) => !s.ordered || s.maxInFlight === 1, {
    message:
      "An ordered subscription delivers one event at a time: maxInFlight must be 1",
    path: ["maxInFlight"],
  }).openapi("SubscriptionCreate");
const SubscriptionPatch = z.object({
  url: HTTP_URL.optional(),
  livenessUrl: HTTP_URL.optional(),
  ordered: z.boolean().optional(),
  maxInFlight: z.number().int().min(1).max(1024).optional(),
  failurePolicy: FAILURE_POLICY.optional(),
  record: z.enum(["async", "sync"]).optional(),
  timeoutMs: z.number().int().min(100).max(300_000).optional(),
  headers: HEADERS.optional(),
  expectedVersion: z.number().int().min(1).optional(),
}).strict().openapi("SubscriptionPatch");
const Rotate = z.object({
  graceSeconds: z.number().int().min(0).max(7 * 86_400).default(86_400),
}).strict();
const IdParam = z.object({ id: z.uuid() });
const ReplayParam = z.object({ id: z.uuid(), eventId: z.uuid() });
const Page = z.object({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** Routes for subscriptions, their secrets, deliveries and failed lists. */
export function subscriptionRoutes(
  deps: { subscription: ActorRef<SubscriptionMsg>; askTimeoutMs: number },
): OpenAPIHono<AppEnv> {
  const app = apiRouter();
  const call = <T>(
    c: Context<AppEnv>,
    message: ActorRequest<SubscriptionMsg>,
  ) =>
    callActor<SubscriptionMsg, T>(
      deps.subscription,
      c,
      message,
      deps.askTimeoutMs,
    );

  app.openapi(
    apiRoute(
      "post",
      "/api/v1/subscriptions",
      "Subscribe to a topic (needs subscribe on it); the secret is shown",
      {
        request: jsonBody(SubscriptionCreate),
      },
    ),
    async (c) => {
      const { topic, livenessUrl, ...settings } = c.req.valid("json");
      const created = await call(c, {
        type: "create",
        topic,
        settings: { ...settings, livenessUrl: livenessUrl ?? settings.url },
      });
      return c.json(created, 201 as 200);
    },
  );
  app.openapi(
    apiRoute(
      "get",
      "/api/v1/subscriptions",
      "Your subscriptions (all for admins)",
      { request: {} },
    ),
    async (c) => {
      return c.json({ items: await call(c, { type: "list" }) });
    },
  );
  app.openapi(
    apiRoute("get", "/api/v1/subscriptions/{id}", "One subscription", {
      request: { params: IdParam },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      return c.json(await call(c, { type: "get", id }));
    },
  );
  app.openapi(
    apiRoute(
      "patch",
      "/api/v1/subscriptions/{id}",
      "Change a subscription; makes a new version",
      {
        request: { params: IdParam, ...jsonBody(SubscriptionPatch) },
      },
    ),
    async (c) => {
      const { id } = c.req.valid("param");
      const { expectedVersion, ...patch } = c.req.valid("json");
      const cleaned = Object.fromEntries(
        Object.entries(patch).filter(([, v]) => v !== undefined),
      );
      return c.json(
        await call(c, { type: "update", id, patch: cleaned, expectedVersion }),
      );
    },
  );
  app.openapi(
    apiRoute(
      "delete",
      "/api/v1/subscriptions/{id}",
      "Delete a subscription; says how many events it had not delivered",
      {
        request: { params: IdParam },
      },
    ),
    async (c) => {
      const { id } = c.req.valid("param");
      return c.json(await call(c, { type: "delete", id }));
    },
  );
  for (
    const [action, paused] of [["pause", true], ["resume", false]] as const
  ) {
    app.openapi(
      apiRoute(
        "post",
        `/api/v1/subscriptions/{id}/${action}`,
        `${action === "pause" ? "Pause" : "Resume"} delivery`,
        {
          request: { params: IdParam },
        },
      ),
      async (c) => {
        const { id } = c.req.valid("param");
        return c.json(await call(c, { type: "setPaused", id, paused }));
      },
    );
  }
  app.openapi(
    apiRoute(
      "get",
      "/api/v1/subscriptions/{id}/versions",
      "Versions of a subscription's settings",
      {
        request: { params: IdParam },
      },
    ),
    async (c) => {
      const { id } = c.req.valid("param");
      return c.json({ items: await call(c, { type: "versions", id }) });
    },
  );
  app.openapi(
    apiRoute(
      "get",
      "/api/v1/subscriptions/{id}/secret",
      "The signing secret (owner, admin)",
      {
        request: { params: IdParam },
      },
    ),
    async (c) => {
      const { id } = c.req.valid("param");
      return c.json(await call(c, { type: "secret", id }));
    },
  );
  app.openapi(
    apiRoute(
      "post",
      "/api/v1/subscriptions/{id}/secret/rotate",
      "New signing secret; the old one also signs for a grace period",
      {
        request: {
          params: IdParam,
          body: {
            required: false,
            content: { "application/json": { schema: Rotate } },
          },
        },
      },
    ),
    async (c) => {
      const { id } = c.req.valid("param");
      // No body or no JSON means the default grace; a body that did not
      // arrive in time is still a 408.
      const body = await c.req.json().catch((error) => {
        if (error instanceof ProblemError) throw error;
        return {};
      });
      const parsed = Rotate.safeParse(body);
      const graceSeconds = parsed.success ? parsed.data.graceSeconds : 86_400;
      return c.json(
        await call(c, {
          type: "rotateSecret",
          id,
          graceMs: graceSeconds * 1000,
        }),
      );
    },
  );
  for (const kind of ["deliveries", "failed"] as const) {
    app.openapi(
      apiRoute(
        "get",
        `/api/v1/subscriptions/{id}/${kind}`,
        kind === "deliveries" ? "Delivered events" : "Failed events",
        {
          request: { params: IdParam, query: Page },
        },
      ),
      async (c) => {
        const { id } = c.req.valid("param");
        const q = c.req.valid("query");
        const items = await call<{ seq: number }[]>(c, {
          type: kind,
          id,
          afterSeq: q.after,
          limit: q.limit,
        });
        return c.json({
          items,
          next: items.length === q.limit ? items.at(-1)!.seq : null,
        });
      },
    );
  }
  app.openapi(
    apiRoute(
      "post",
      "/api/v1/subscriptions/{id}/failed/{eventId}/replay",
      "Replay one failed event",
      {
        request: { params: ReplayParam },
      },
    ),
    async (c) => {
      const { id, eventId } = c.req.valid("param");
      return c.json(await call(c, { type: "replay", id, eventId }));
    },
  );
  app.openapi(
    apiRoute(
      "post",
      "/api/v1/subscriptions/{id}/failed/replay",
      "Replay every failed event",
      {
        request: { params: IdParam },
      },
    ),
    async (c) => {
      const { id } = c.req.valid("param");
      return c.json(await call(c, { type: "replay", id, eventId: null }));
    },
  );
  return app;
}
