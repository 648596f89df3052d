/**
 * Identity endpoints: `POST /api/v1/login` (password-free login challenge),
 * `GET`/`DELETE /api/v1/session` (who am I, log out), `POST /api/v1/token`
 * (JWT assertion → access token) and `GET /.well-known/jwks.json`.
 *
 * @module
 */

import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { ask } from "../../actors/system.ts";
import type { ActorRef } from "../../actors/types.ts";
import type {
  ExchangeResult,
  LoginAnswer,
  SessionMsg,
} from "../../actors/session.ts";
import type { TokenKeys } from "../../node/token_keys.ts";
import type { AppEnv } from "../env.ts";
import { limitFailures, requireIdentity } from "../middleware/auth.ts";
import { apiRouter } from "../openapi.ts";
import { authorize } from "../../identity/authorize.ts";
import type { AuditEntry } from "../../store/audit.ts";
import { ProblemError } from "../problem.ts";
import type { RateLimiter } from "../rate_limit.ts";
import { USER_NAME } from "./names.ts";

const LoginRequest = z.object({ user: USER_NAME }).strict().openapi(
  "LoginRequest",
);
const LoginAnswerSchema = z.object({
  session: z.string().openapi({
    description: "Base64 RSA-OAEP-256 ciphertext of the 32-byte session token",
  }),
  expiresAt: z.string(),
}).openapi("LoginAnswer");
const SessionInfo = z.object({
  user: z.string(),
  roles: z.array(z.string()),
  groups: z.array(z.string()),
  scopes: z.array(z.string()).nullable(),
  via: z.string(),
}).openapi("SessionInfo");
const TokenRequest = z.object({
  assertion: z.string().min(16).max(16_384),
  scope: z.string().max(1024).optional().openapi({
    description: "Space-separated scopes to ask for",
  }),
}).strict().openapi("TokenRequest");
const TokenAnswer = z.object({
  access_token: z.string(),
  token_type: z.literal("Bearer"),
  expires_in: z.number().int(),
  scope: z.string(),
}).openapi("TokenAnswer");

const json = <T extends z.ZodType>(schema: T) => ({
  content: { "application/json": { schema } },
});

/** Routes for login, sessions, the token exchange and the JWKS. */
export function authRoutes(
  deps: {
    session: ActorRef<SessionMsg>;
    tokenKeys: TokenKeys;
    failures: RateLimiter;
    askTimeoutMs: number;
    /** Appends an audit record (for key rotation, which no actor owns). */
    audit: (entry: AuditEntry) => Promise<unknown>;
  },
): OpenAPIHono<AppEnv> {
  const app = apiRouter();
  const timeout = { timeoutMs: deps.askTimeoutMs };

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/login",
      summary:
        "Start a password-free login: the token comes back encrypted with your public key",
      request: { body: { required: true, ...json(LoginRequest) } },
      responses: {
        201: {
          description: "Encrypted session token",
          ...json(LoginAnswerSchema),
        },
      },
    }),
    async (c) => {
      const { user } = c.req.valid("json");
      limitFailures(deps.failures, c, user);
      const answer = await ask<SessionMsg, LoginAnswer>(
        deps.session,
        (reply) => ({
          type: "login",
          user,
          requestId: c.get("requestId"),
          reply,
        }),
        timeout,
      );
      return c.json(answer, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/session",
      summary: "Who you are: user, roles, groups, token scopes",
      responses: { 200: { description: "The caller", ...json(SessionInfo) } },
    }),
    (c) => {
      const identity = requireIdentity(c);
      const bearer = c.get("bearer");
      const via = bearer.startsWith("mat_")
        ? "agent"
        : bearer.split(".").length === 3
        ? "jwt"
        : "session";
      return c.json({
        user: identity.user,
        roles: [...identity.roles],
        groups: [...identity.groups],
        scopes: identity.scopes === null ? null : [...identity.scopes],
        via,
      }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/v1/session",
      summary: "Log out: end the session of the bearer token",
      responses: { 204: { description: "Logged out" } },
    }),
    async (c) => {
      const identity = requireIdentity(c);
      const bearer = c.get("bearer");
      if (bearer.startsWith("mat_") || bearer.split(".").length === 3) {
        throw new ProblemError("bad_request", {
          detail:
            "Only a login session can be ended here; agent tokens are revoked, JWTs expire",
        });
      }
      await ask<SessionMsg, boolean>(
        deps.session,
        (reply) => ({
          type: "logout",
          bearer,
          actor: identity.user,
          requestId: c.get("requestId"),
          reply,
        }),
        timeout,
      );
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/token",
      summary:
        "Exchange a signed JWT assertion (RS256 or EdDSA, ≤ 5 min) for an access token",
      request: { body: { required: true, ...json(TokenRequest) } },
      responses: { 200: { description: "Access token", ...json(TokenAnswer) } },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const scope = body.scope === undefined
        ? null
        : body.scope.split(" ").filter((s) => s !== "");
      const result = await ask<SessionMsg, ExchangeResult>(
        deps.session,
        (reply) => ({
          type: "exchange",
          assertion: body.assertion,
          scope,
          requestId: c.get("requestId"),
          reply,
        }),
        timeout,
      );
      if (!result.ok) {
        limitFailures(deps.failures, c);
        throw new ProblemError(
          result.code === "scope_not_allowed" ? "forbidden" : "unauthorized",
          {
            detail: result.detail,
            extensions: { reason: result.code },
          },
        );
      }
      return c.json({
        access_token: result.accessToken,
        token_type: "Bearer" as const,
        expires_in: Math.max(
          0,
          Math.round((result.expiresAt - Date.now()) / 1000),
        ),
        scope: result.scope.join(" "),
      }, 200);
    },
  );

  app.get(
    "/.well-known/jwks.json",
    async (c) => c.json(await deps.tokenKeys.jwks()),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/token/keys/rotate",
      summary:
        "New access-token signing key (admin); old keys stay in the JWKS until their tokens expire",
      responses: {
        200: {
          description: "The new key id",
          ...json(z.object({ kid: z.string() })),
        },
      },
    }),
    async (c) => {
      const identity = requireIdentity(c);
      const decision = authorize(identity, "tokens:write");
      if (!decision.ok) {
        throw new ProblemError("forbidden", { detail: decision.detail });
      }
      const kid = await deps.tokenKeys.rotate();
      await deps.audit({
        actor: identity.user,
        action: "token.keys.rotate",
        resource: "node",
        requestId: c.get("requestId"),
        detail: { kid },
      });
      return c.json({ kid }, 200);
    },
  );
  return app;
}
