/**
 * Topic management: `/api/v1/topics` (create, list), one topic
 * (`GET`/`PATCH`/`DELETE`), its versions, its grants
 * (`PUT`/`DELETE …/grants/{principal}`) and its events
 * (`GET …/events?after=&limit=`). The `topic` and `event` actors authorise.
 *
 * @module
 */

import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { EventMsg, EventSummary } from "../../actors/event.ts";
import type { TopicMsg } from "../../actors/topic.ts";
import type { ActorRef } from "../../actors/types.ts";
import type { TopicRecord } from "../../store/mod.ts";
import { type ActorRequest, callActor } from "../actor_call.ts";
import type { AppEnv } from "../env.ts";
import { apiRoute, apiRouter, jsonBody } from "../openapi.ts";
import { formatDuration, RETENTION } from "./duration.ts";
import { TOPIC_NAME } from "./names.ts";

const ACK = z.enum(["received", "persisted", "replicated"]);
const TopicCreate = z.object({
  name: TOPIC_NAME,
  ack: ACK.default("persisted"),
  retention: RETENTION.prefault("7d"),
  maxBodyBytes: z.number().int().min(1).max(256 * 1024 * 1024).optional(),
}).strict().openapi("TopicCreate");
const TopicPatch = z.object({
  ack: ACK.optional(),
  retention: RETENTION.optional(),
  maxBodyBytes: z.number().int().min(1).max(256 * 1024 * 1024).nullable()
    .optional(),
  expectedVersion: z.number().int().min(1).optional(),
}).strict().openapi("TopicPatch");
const PRINCIPAL = z.string().min(1).max(80).regex(
  /^((user|group):)?[a-z0-9][a-z0-9._-]{0,63}$/,
  'Use "user:<name>", "group:<name>" or a bare user name',
).openapi({
  description: '"user:<name>", "group:<name>", or a bare user name',
});
const GrantBody = z.object({
  rights: z.array(z.enum(["publish", "subscribe"])).min(1).max(2),
}).strict()
  .openapi("Grant");
const NameParam = z.object({ name: TOPIC_NAME });
const GrantParam = z.object({ name: TOPIC_NAME, principal: PRINCIPAL });
const EventsQuery = z.object({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** The API's view of a topic: retention as a duration. */
function topicView(topic: TopicRecord) {
  const { retentionMs, ...rest } = topic;
  return { ...rest, retention: formatDuration(retentionMs) };
}

/** Normalises a grant principal: a bare name means a user. */
function principalOf(text: string): string {
  return text.startsWith("user:") || text.startsWith("group:")
    ? text
    : `user:${text}`;
}

/** Routes for topics, grants and topic event listings. */
export function topicRoutes(
  deps: {
    topic: ActorRef<TopicMsg>;
    event: ActorRef<EventMsg>;
    askTimeoutMs: number;
  },
): OpenAPIHono<AppEnv> {
  const app = apiRouter();
  const call = <T>(c: Context<AppEnv>, message: ActorRequest<TopicMsg>) =>
    callActor<TopicMsg, T>(deps.topic, c, message, deps.askTimeoutMs);

  app.openapi(
    apiRoute(
      "post",
      "/api/v1/topics",
      "Create a topic (publishers, admins); you own it",
      {
        request: jsonBody(TopicCreate),
      },
    ),
    async (c) => {
      const b = c.req.valid("json");
      const topic = await call<TopicRecord>(c, {
        type: "create",
        name: b.name,
        ack: b.ack,
        retentionMs: b.retention,
        maxBodyBytes: b.maxBodyBytes ?? null,
      });
      return c.json(topicView(topic), 201 as 200);
    },
  );
  app.openapi(
    apiRoute("get", "/api/v1/topics", "Topics you may see", { request: {} }),
    async (c) => {
      const topics = await call<TopicRecord[]>(c, { type: "list" });
      return c.json({ items: topics.map(topicView) });
    },
  );
  app.openapi(
    apiRoute("get", "/api/v1/topics/{name}", "One topic", {
      request: { params: NameParam },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      return c.json(
        topicView(await call<TopicRecord>(c, { type: "get", name })),
      );
    },
  );
  app.openapi(
    apiRoute(
      "patch",
      "/api/v1/topics/{name}",
      "Change a topic (owner, admin); makes a new version",
      {
        request: { params: NameParam, ...jsonBody(TopicPatch) },
      },
    ),
    async (c) => {
      const { name } = c.req.valid("param");
      const b = c.req.valid("json");
      const topic = await call<TopicRecord>(c, {
        type: "update",
        name,
        ack: b.ack,
        retentionMs: b.retention,
        maxBodyBytes: b.maxBodyBytes,
        expectedVersion: b.expectedVersion,
      });
      return c.json(topicView(topic));
    },
  );
  app.openapi(
    apiRoute(
      "delete",
      "/api/v1/topics/{name}",
      "Delete a topic (owner; admin when it has subscriptions)",
      {
        request: { params: NameParam },
      },
    ),
    async (c) => {
      const { name } = c.req.valid("param");
      return c.json(await call(c, { type: "delete", name }));
    },
  );
  app.openapi(
    apiRoute(
      "get",
      "/api/v1/topics/{name}/versions",
      "Versions of a topic's settings",
      {
        request: { params: NameParam },
      },
    ),
    async (c) => {
      const { name } = c.req.valid("param");
      return c.json({ items: await call(c, { type: "versions", name }) });
    },
  );
  app.openapi(
    apiRoute(
      "put",
      "/api/v1/topics/{name}/grants/{principal}",
      "Grant publish and/or subscribe (owner, admin)",
      {
        request: { params: GrantParam, ...jsonBody(GrantBody) },
      },
    ),
    async (c) => {
      const { name, principal } = c.req.valid("param");
      const { rights } = c.req.valid("json");
      const topic = await call<TopicRecord>(c, {
        type: "grant",
        name,
        principal: principalOf(principal),
        rights,
      });
      return c.json(topicView(topic));
    },
  );
  app.openapi(
    apiRoute(
      "delete",
      "/api/v1/topics/{name}/grants/{principal}",
      "Remove a grant (owner, admin)",
      {
        request: { params: GrantParam },
      },
    ),
    async (c) => {
      const { name, principal } = c.req.valid("param");
      const topic = await call<TopicRecord>(c, {
        type: "revoke",
        name,
        principal: principalOf(principal),
      });
      return c.json(topicView(topic));
    },
  );
  app.openapi(
    apiRoute(
      "get",
      "/api/v1/topics/{name}/events",
      "A topic's events, oldest first (cursor: `after` = last seq)",
      {
        request: { params: NameParam, query: EventsQuery },
      },
    ),
    async (c) => {
      const { name } = c.req.valid("param");
      const q = c.req.valid("query");
      const items = await callActor<EventMsg, EventSummary[]>(deps.event, c, {
        type: "list",
        topic: name,
        afterSeq: q.after,
        limit: q.limit,
      }, deps.askTimeoutMs);
      return c.json({
        items,
        next: items.length === q.limit ? items.at(-1)!.seq : null,
      });
    },
  );
  return app;
}
