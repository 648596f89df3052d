/**
 * Authentication at the HTTP layer: turns the `Authorization: Bearer …`
 * header into an identity on the request (or none), and refuses bad tokens
 * with 401 problem+json. Three kinds of bearer: a session token (from
 * login), an agent token (`mat_…`), and a JWT — Miranda's own access token
 * or one from a trusted external issuer. Failures are rate-limited per
 * client address (429). Authorisation is not decided here: the owning
 * actor decides with the identity this attaches.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import { ask } from "../../actors/system.ts";
import type { ActorRef } from "../../actors/types.ts";
import type { AuthResult, SessionMsg } from "../../actors/session.ts";
import type { Identity } from "../../identity/authorize.ts";
import type { ExternalVerifier } from "../../identity/jwt.ts";
import type { TokenKeys } from "../../node/token_keys.ts";
import { clientAddress } from "../client_address.ts";
import type { AppEnv } from "../env.ts";
import { ProblemError } from "../problem.ts";
import type { RateLimiter } from "../rate_limit.ts";

/** What authentication needs. */
export interface AuthDeps {
  session: ActorRef<SessionMsg>;
  tokenKeys: TokenKeys;
  /** Trusted external issuers by `iss`. */
  externalIssuers: ReadonlyMap<string, ExternalVerifier>;
  failures: RateLimiter;
  askTimeoutMs: number;
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]{16,4096})$/;

/** Middleware setting `identity` (or null) from the bearer token. */
export function authenticate(deps: AuthDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization");
    if (header === undefined) {
      c.set("identity", null);
      return await next();
    }
    const match = BEARER.exec(header);
    const result: AuthResult = match ? await resolve(deps, match[1]!) : {
      ok: false,
      code: "invalid_token",
      detail: 'Authorization must be "Bearer <token>"',
    };
    if (!result.ok) {
      limitFailures(deps.failures, c);
      throw new ProblemError("unauthorized", {
        detail: result.detail,
        headers: { "www-authenticate": 'Bearer error="invalid_token"' },
      });
    }
    c.set("identity", result.identity);
    c.set("bearer", match![1]!);
    await next();
  };
}

/** The caller's identity, or a 401 when the request is anonymous. */
export function requireIdentity(c: Context<AppEnv>): Identity {
  const identity = c.get("identity");
  if (!identity) {
    throw new ProblemError("unauthorized", {
      detail:
        "This call needs a bearer token (log in at /api/v1/login or exchange a JWT at /api/v1/token)",
      headers: { "www-authenticate": "Bearer" },
    });
  }
  return identity;
}

/** Counts a failed authentication for the client address; 429 past the limit. */
export function limitFailures(
  failures: RateLimiter,
  c: Context<AppEnv>,
  user?: string,
): void {
  const keys = [
    `addr:${clientAddress(c)}`,
    ...(user !== undefined ? [`user:${user}`] : []),
  ];
  for (const key of keys) {
    const decision = failures.take(key);
    if (!decision.ok) {
      throw new ProblemError("rate_limited", {
        detail: "Too many failed authentications; retry later",
        headers: { "retry-after": String(decision.retryAfterSeconds) },
      });
    }
  }
}

async function resolve(deps: AuthDeps, token: string): Promise<AuthResult> {
  if (token.split(".").length !== 3) {
    return await ask<SessionMsg, AuthResult>(
      deps.session,
      (reply) => ({ type: "authenticate", bearer: token, reply }),
      {
        timeoutMs: deps.askTimeoutMs,
      },
    );
  }
  const issuer = unverifiedIssuer(token);
  if (issuer === deps.tokenKeys.issuer) {
    const verified = await deps.tokenKeys.verify(token);
    if (!verified.ok) {
      return { ok: false, code: "invalid_token", detail: verified.detail };
    }
    const { sub, scope, subjectCreatedAt } = verified.claims;
    return await ask<SessionMsg, AuthResult>(
      deps.session,
      (reply) => ({
        type: "resolveJwt",
        sub,
        subjectCreatedAt,
        scope,
        reply,
      }),
      {
        timeoutMs: deps.askTimeoutMs,
      },
    );
  }
  const external = issuer === null
    ? undefined
    : deps.externalIssuers.get(issuer);
  if (!external) {
    return {
      ok: false,
      code: "invalid_token",
      detail: "The token's issuer is not trusted",
    };
  }
  const verified = await external(token);
  if (!verified.ok) {
    return { ok: false, code: "invalid_token", detail: verified.detail };
  }
  const { subject, roles, scopes } = verified.claims;
  return {
    ok: true,
    identity: { user: `ext:${subject}`, roles, groups: [], scopes },
    via: "jwt",
  };
}

function unverifiedIssuer(token: string): string | null {
  try {
    const payload = JSON.parse(
      new TextDecoder().decode(Uint8Array.fromBase64(token.split(".")[1]!, {
        alphabet: "base64url",
      })),
    );
    return typeof payload?.iss === "string" ? payload.iss : null;
  } catch {
    return null;
  }
}
