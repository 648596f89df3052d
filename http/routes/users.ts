/**
 * User management: `/api/v1/users` (create, list, find by e-mail), one
 * user (`GET`/`PATCH`/`DELETE`), its versions and keys, `/api/v1/groups`,
 * agent tokens (`/api/v1/agent-tokens`) and the audit log
 * (`/api/v1/audit`). Handlers validate, ask the `user` actor, and map the
 * answer; the actor authorises.
 *
 * @module
 */

import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ActorRef } from "../../actors/types.ts";
import type { UserMsg } from "../../actors/user.ts";
import { type ActorRequest, callActor } from "../actor_call.ts";
import type { AppEnv } from "../env.ts";
import { apiRoute, apiRouter, jsonBody } from "../openapi.ts";
import { GROUP_NAME, USER_NAME } from "./names.ts";

const ROLE = z.string().min(1).max(64).regex(/^[a-z][a-z0-9_-]*$/);
const PEM = z.string().min(32).max(16_384);
const EMAIL = z.string().min(3).max(254);
const SCOPE = z.string().min(1).max(64);

const UserCreate = z.object({
  name: USER_NAME,
  publicKey: PEM,
  roles: z.array(ROLE).max(16).default([]),
  groups: z.array(GROUP_NAME).max(64).default([]),
  email: EMAIL.optional(),
}).strict().openapi("UserCreate");
const UserPatch = z.object({
  roles: z.array(ROLE).max(16).optional(),
  groups: z.array(GROUP_NAME).max(64).optional(),
  email: EMAIL.nullable().optional(),
  expectedVersion: z.number().int().min(1).optional(),
}).strict().openapi("UserPatch");
const KeyAdd = z.object({ publicKey: PEM }).strict().openapi("KeyAdd");
const GroupCreate = z.object({
  name: GROUP_NAME,
  description: z.string().max(500).default(""),
}).strict()
  .openapi("GroupCreate");
const AgentTokenCreate = z.object({
  user: USER_NAME,
  scopes: z.array(SCOPE).min(1).max(16),
  description: z.string().max(500).default(""),
  expiresInSeconds: z.number().int().min(60).max(10 * 365 * 86_400).optional(),
}).strict().openapi("AgentTokenCreate");
const NameParam = z.object({ name: USER_NAME });
const GroupParam = z.object({ name: GROUP_NAME });
const KeyParam = z.object({
  name: USER_NAME,
  keyId: z.string().min(1).max(128),
});
const IdParam = z.object({ id: z.uuid() });
const Limit = z.coerce.number().int().min(1).max(500).default(100);
const UserListQuery = z.object({
  after: USER_NAME.optional(),
  limit: Limit,
  email: EMAIL.optional(),
});
const AuditListQuery = z.object({
  resource: z.string().max(256).optional(),
  actor: z.string().max(256).optional(),
  since: z.iso.datetime().optional(),
  until: z.iso.datetime().optional(),
  after: z.coerce.number().int().min(0).optional(),
  limit: Limit,
});

/** Routes for users, keys, groups, agent tokens and the audit log. */
export function userRoutes(
  deps: { user: ActorRef<UserMsg>; askTimeoutMs: number },
): OpenAPIHono<AppEnv> {
  const app = apiRouter();
  const call = <T>(
    c: Context<AppEnv>,
    message: ActorRequest<UserMsg>,
  ): Promise<T> =>
    callActor<UserMsg, T>(deps.user, c, message, deps.askTimeoutMs);

  app.openapi(
    apiRoute("post", "/api/v1/users", "Create a user (admin)", {
      request: jsonBody(UserCreate),
    }),
    async (c) => {
      const b = c.req.valid("json");
      const user = await call(c, {
        type: "createUser",
        name: b.name,
        publicKey: b.publicKey,
        roles: b.roles,
        groups: b.groups,
        email: b.email ?? null,
      });
      return c.json(user, 201 as 200);
    },
  );
  app.openapi(
    apiRoute(
      "get",
      "/api/v1/users",
      "List users (admin); `?email=` finds one by e-mail",
      {
        request: { query: UserListQuery },
      },
    ),
    async (c) => {
      const q = c.req.valid("query");
      const users = await call<unknown[]>(c, {
        type: "listUsers",
        after: q.after,
        limit: q.limit,
        email: q.email,
      });
      return c.json({
        items: users,
        next: users.length === q.limit
          ? (users.at(-1) as { name: string }).name
          : null,
      });
    },
  );
  app.openapi(
    apiRoute("get", "/api/v1/users/{name}", "One user (admin or self)", {
      request: { params: NameParam },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      return c.json(
        await call(c, { type: "getUser", name }),
      );
    },
  );
  app.openapi(
    apiRoute(
      "patch",
      "/api/v1/users/{name}",
      "Change roles, groups or e-mail (admin); makes a new version",
      {
        request: { params: NameParam, ...jsonBody(UserPatch) },
      },
    ),
    async (c) => {
      const { name } = c.req.valid("param");
      const b = c.req.valid("json");
      return c.json(
        await call(c, {
          type: "updateUser",
          name,
          roles: b.roles,
          groups: b.groups,
          email: b.email,
          expectedVersion: b.expectedVersion,
        }),
      );
    },
  );
  app.openapi(
    apiRoute(
      "delete",
      "/api/v1/users/{name}",
      "Delete a user; their sessions and tokens end at once (admin)",
      {
        request: { params: NameParam },
      },
    ),
    async (c) => {
      const { name } = c.req.valid("param");
      return c.json(
        await call(c, { type: "deleteUser", name }),
      );
    },
  );
  app.openapi(
    apiRoute(
      "get",
      "/api/v1/users/{name}/versions",
      "Versions of a user's settings",
      { request: { params: NameParam } },
    ),
    async (c) => {
      const { name } = c.req.valid("param");
      return c.json({
        items: await call(
          c,
          { type: "userVersions", name },
        ),
      });
    },
  );
  app.openapi(
    apiRoute(
      "post",
      "/api/v1/users/{name}/keys",
      "Add a public key (admin or self)",
      {
        request: { params: NameParam, ...jsonBody(KeyAdd) },
      },
    ),
    async (c) => {
      const { name } = c.req.valid("param");
      const { publicKey } = c.req.valid("json");
      return c.json(
        await call(
          c,
          { type: "addKey", name, publicKey },
        ),
        201 as 200,
      );
    },
  );
  app.openapi(
    apiRoute(
      "delete",
      "/api/v1/users/{name}/keys/{keyId}",
      "Revoke a key (admin or self)",
      {
        request: { params: KeyParam },
      },
    ),
    async (c) => {
      const { name, keyId } = c.req.valid("param");
      return c.json(
        await call(
          c,
          { type: "revokeKey", name, keyId },
        ),
      );
    },
  );
  app.openapi(
    apiRoute("post", "/api/v1/groups", "Create a group (admin)", {
      request: jsonBody(GroupCreate),
    }),
    async (c) => {
      const b = c.req.valid("json");
      return c.json(
        await call(
          c,
          { type: "createGroup", name: b.name, description: b.description },
        ),
        201 as 200,
      );
    },
  );
  app.openapi(
    apiRoute("get", "/api/v1/groups", "List groups (admin)", { request: {} }),
    async (c) => {
      return c.json({
        items: await call(c, { type: "listGroups" }),
      });
    },
  );
  app.openapi(
    apiRoute("delete", "/api/v1/groups/{name}", "Delete a group (admin)", {
      request: { params: GroupParam },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      return c.json(
        await call(c, { type: "deleteGroup", name }),
      );
    },
  );
  app.openapi(
    apiRoute(
      "post",
      "/api/v1/agent-tokens",
      "Mint a long-lived agent token for a user (admin); shown once",
      {
        request: jsonBody(AgentTokenCreate),
      },
    ),
    async (c) => {
      const b = c.req.valid("json");
      return c.json(
        await call(c, {
          type: "mintAgentToken",
          user: b.user,
          scopes: b.scopes,
          description: b.description,
          expiresInSeconds: b.expiresInSeconds ?? null,
        }),
        201 as 200,
      );
    },
  );
  app.openapi(
    apiRoute(
      "get",
      "/api/v1/agent-tokens",
      "List agent tokens (admin; never the tokens themselves)",
      {
        request: { query: z.object({ user: USER_NAME.optional() }) },
      },
    ),
    async (c) => {
      const { user } = c.req.valid("query");
      const tokens = await call<{ tokenHash: string }[]>(
        c,
        { type: "listAgentTokens", user },
      );
      return c.json({ items: tokens.map(({ tokenHash: _, ...rest }) => rest) });
    },
  );
  app.openapi(
    apiRoute(
      "delete",
      "/api/v1/agent-tokens/{id}",
      "Revoke an agent token (admin)",
      { request: { params: IdParam } },
    ),
    async (c) => {
      const { id } = c.req.valid("param");
      return c.json(
        await call(
          c,
          { type: "revokeAgentToken", id },
        ),
      );
    },
  );
  app.openapi(
    apiRoute(
      "get",
      "/api/v1/audit",
      "The audit log (admin): filters and cursor pagination",
      {
        request: { query: AuditListQuery },
      },
    ),
    async (c) => {
      const q = c.req.valid("query");
      const records = await call<{ seq: number }[]>(c, {
        type: "listAudit",
        query: {
          limit: q.limit,
          ...(q.resource !== undefined ? { resource: q.resource } : {}),
          ...(q.actor !== undefined ? { actor: q.actor } : {}),
          ...(q.since !== undefined ? { since: q.since } : {}),
          ...(q.until !== undefined ? { until: q.until } : {}),
          ...(q.after !== undefined ? { afterSeq: q.after } : {}),
        },
      });
      return c.json({
        items: records,
        next: records.length === q.limit ? records.at(-1)!.seq : null,
      });
    },
  );
  return app;
}
