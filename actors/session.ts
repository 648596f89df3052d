/**
 * The `session` actor: password-free login challenges, session lookup with
 * sliding expiry, the periodic sweep, the JWT assertion exchange, and
 * agent-token lookup. It owns a short-lived cache of sessions and users;
 * the store is the truth, so sessions are valid on every node.
 *
 * Who may ask it: the HTTP layer (login, authenticate, logout, exchange)
 * and the `user` actor (tells `forgetUser` after a change). It asks no one.
 *
 * @module
 */

import { tell } from "./system.ts";
import { errorFields } from "../observability/logger.ts";
import type { ActorContext, Behavior, Reply } from "./types.ts";
import { type Identity, type Scope } from "../identity/authorize.ts";
import {
  assertionSubject,
  JtiCache,
  verifyClientAssertion,
  type VerifyFailureCode,
} from "../identity/jwt.ts";
import {
  decoyEncryption,
  encryptForUser,
  hashToken,
  newSessionToken,
  tokenToBearer,
} from "../identity/login_token.ts";
import type { Store, UserRecord } from "../store/mod.ts";
import { recordAudit } from "../store/audit.ts";
import type { TokenKeys } from "../node/token_keys.ts";

/** Every scope a token may carry; `admin` only for admins. */
export const ALL_SCOPES: readonly Scope[] = [
  "admin",
  "topics:read",
  "topics:write",
  "events:publish",
  "events:read",
  "subscriptions:read",
  "subscriptions:write",
];

/** The answer to a login: the same shape for known and unknown users. */
export interface LoginAnswer {
  /** Base64 RSA-OAEP-256 ciphertext of the 32-byte token. */
  session: string;
  expiresAt: string;
}

/** Outcome of authenticating a bearer token. */
export type AuthResult =
  | { ok: true; identity: Identity; via: "session" | "agent" | "jwt" }
  | { ok: false; code: "invalid_token" | "expired"; detail: string };

/** Outcome of a JWT assertion exchange. */
export type ExchangeResult =
  | { ok: true; accessToken: string; expiresAt: number; scope: string[] }
  | {
    ok: false;
    code: VerifyFailureCode | "unknown_user" | "scope_not_allowed";
    detail: string;
  };

/** Messages of the session actor. */
export type SessionMsg =
  /** Start a login for `user`; unknown users get a decoy of the same shape. */
  | {
    type: "login";
    user: string;
    requestId: string;
    reply: Reply<LoginAnswer>;
  }
  /** Resolve a session or agent bearer token to an identity. */
  | { type: "authenticate"; bearer: string; reply: Reply<AuthResult> }
  /**
   * Resolve the subject of a verified access JWT to the user's current
   * identity; `subjectCreatedAt` (the token's `sub_created_at`) must match
   * the user, so a later user of the same name does not inherit the token.
   */
  | {
    type: "resolveJwt";
    sub: string;
    subjectCreatedAt: string | undefined;
    scope: string[];
    reply: Reply<AuthResult>;
  }
  /** End the session of `bearer`. */
  | {
    type: "logout";
    bearer: string;
    actor: string;
    requestId: string;
    reply: Reply<boolean>;
  }
  /** Exchange a client assertion for an access JWT. */
  | {
    type: "exchange";
    assertion: string;
    scope: string[] | null;
    requestId: string;
    reply: Reply<ExchangeResult>;
  }
  /** Drop cached facts about a user (changed or deleted). */
  | { type: "forgetUser"; name: string }
  /** Remove expired sessions from the store (timer). */
  | { type: "sweep" };

/** A cached session; `expiresAt` is always the one in the store. */
interface CachedSession {
  userName: string;
  expiresAt: number;
  /** When the expiry was last written to the store. */
  extendedAt: number;
}

/** State: caches only; rebuilt empty after a restart. */
export interface SessionState {
  sessions: Map<string, CachedSession>;
  users: Map<string, { user: UserRecord | null; at: number }>;
  jtis: JtiCache;
  /** {@linkcode hashToken} of recently presented bearers (bounded). */
  tokenHashes: Map<string, string>;
}

/** What the session actor needs. */
export interface SessionDeps {
  store: Store;
  tokenKeys: TokenKeys;
  sessionTtlMs: number;
  sweepMs: number;
  accessTokenTtlSeconds: number;
  /** How long user facts are cached (bounds staleness across nodes). */
  userCacheMs?: number;
}

/**
 * Most time between writes of a sliding expiry (a quarter of the session
 * life when that is shorter): a session lasts at least `ttl - this` after
 * its last use. The cache never extends past the store, so every node
 * agrees on when a session ends.
 */
const SLIDE_WRITE_MS = 60_000;
const MAX_CACHED = 100_000;
/** Bearers whose hash is remembered; the memo starts over when full. */
const MAX_CACHED_HASHES = 10_000;

/**
 * {@linkcode hashToken}, remembered: a client sends the same bearer with
 * every request, and hashing it costs more than the lookup.
 */
function tokenHashOf(state: SessionState, bearer: string): string {
  let hash = state.tokenHashes.get(bearer);
  if (hash === undefined) {
    hash = hashToken(bearer);
    if (state.tokenHashes.size >= MAX_CACHED_HASHES) state.tokenHashes.clear();
    state.tokenHashes.set(bearer, hash);
  }
  return hash;
}

/** The session actor's behavior. */
export function sessionBehavior(
  deps: SessionDeps,
): Behavior<SessionState, SessionMsg> {
  const userCacheMs = deps.userCacheMs ?? 5_000;
  const slideWriteMs = Math.min(
    SLIDE_WRITE_MS,
    Math.floor(deps.sessionTtlMs / 4),
  );

  async function userOf(
    state: SessionState,
    name: string,
    now: number,
  ): Promise<UserRecord | null> {
    const cached = state.users.get(name);
    if (cached && now - cached.at < userCacheMs) return cached.user;
    const user = await deps.store.users.get(name);
    if (state.users.size >= MAX_CACHED) state.users.clear();
    state.users.set(name, { user, at: now });
    return user;
  }

  function armSweep(ctx: ActorContext<SessionMsg>): void {
    ctx.setTimeout(() => tell(ctx.self, { type: "sweep" }), deps.sweepMs);
  }

  function identityOf(user: UserRecord, scopes: string[] | null): Identity {
    return { user: user.name, roles: user.roles, groups: user.groups, scopes };
  }

  return {
    name: "session",
    init(ctx) {
      armSweep(ctx);
      return {
        sessions: new Map(),
        users: new Map(),
        jtis: new JtiCache({ clock: ctx.clock }),
        tokenHashes: new Map(),
      };
    },
    async handle(state, msg, ctx) {
      const now = ctx.clock.now();
      switch (msg.type) {
        case "login": {
          const expiresAt = now + deps.sessionTtlMs;
          const user = await userOf(state, msg.user, now);
          const rsaKey = user
            ? (await deps.store.users.keys(user.name)).find((k) =>
              k.algorithm === "RSA"
            )
            : undefined;
          if (!user || !rsaKey) {
            await recordAudit(deps.store.audit, {
              actor: "anonymous",
              action: "login",
              resource: `user:${msg.user}`,
              requestId: msg.requestId,
              result: "failed",
              detail: { reason: user ? "no RSA key" : "unknown user" },
            });
            msg.reply({
              session: await decoyEncryption(),
              expiresAt: new Date(expiresAt).toISOString(),
            });
            return state;
          }
          const token = newSessionToken();
          const tokenHash = hashToken(tokenToBearer(token));
          const session = await encryptForUser(rsaKey.publicKeyPem, token);
          await deps.store.sessions.create({
            tokenHash,
            userName: user.name,
            createdAt: new Date(now).toISOString(),
            expiresAt,
          });
          await recordAudit(deps.store.audit, {
            actor: user.name,
            action: "login",
            resource: `user:${user.name}`,
            requestId: msg.requestId,
          });
          msg.reply({ session, expiresAt: new Date(expiresAt).toISOString() });
          return state;
        }
        case "authenticate": {
          const tokenHash = tokenHashOf(state, msg.bearer);
          if (msg.bearer.startsWith("mat_")) {
            const agent = await deps.store.agentTokens.getByHash(tokenHash);
            if (
              !agent || (agent.expiresAt !== null && agent.expiresAt <= now)
            ) {
              msg.reply({
                ok: false,
                code: "invalid_token",
                detail: "The agent token is unknown, revoked or expired",
              });
              return state;
            }
            const user = await userOf(state, agent.userName, now);
            msg.reply(
              user
                ? {
                  ok: true,
                  identity: identityOf(user, agent.scopes),
                  via: "agent",
                }
                : {
                  ok: false,
                  code: "invalid_token",
                  detail: "The agent token's user no longer exists",
                },
            );
            return state;
          }
          let session = state.sessions.get(tokenHash);
          if (!session) {
            const stored = await deps.store.sessions.get(tokenHash, now);
            if (stored) {
              session = {
                userName: stored.userName,
                expiresAt: stored.expiresAt,
                extendedAt: stored.expiresAt - deps.sessionTtlMs,
              };
              if (state.sessions.size >= MAX_CACHED) state.sessions.clear();
              state.sessions.set(tokenHash, session);
            }
          }
          if (!session || session.expiresAt <= now) {
            state.sessions.delete(tokenHash);
            msg.reply({
              ok: false,
              code: "invalid_token",
              detail: "The session is unknown or has expired",
            });
            return state;
          }
          const user = await userOf(state, session.userName, now);
          if (!user) {
            state.sessions.delete(tokenHash);
            msg.reply({
              ok: false,
              code: "invalid_token",
              detail: "The session's user no longer exists",
            });
            return state;
          }
          if (now - session.extendedAt >= slideWriteMs) {
            session.extendedAt = now;
            session.expiresAt = now + deps.sessionTtlMs;
            if (
              !(await deps.store.sessions.extend(
                tokenHash,
                session.expiresAt,
                now,
              ))
            ) {
              state.sessions.delete(tokenHash);
              msg.reply({
                ok: false,
                code: "invalid_token",
                detail: "The session has ended",
              });
              return state;
            }
          }
          msg.reply({
            ok: true,
            identity: identityOf(user, null),
            via: "session",
          });
          return state;
        }
        case "resolveJwt": {
          const user = await userOf(state, msg.sub, now);
          msg.reply(
            user && user.createdAt === msg.subjectCreatedAt
              ? { ok: true, identity: identityOf(user, msg.scope), via: "jwt" }
              : {
                ok: false,
                code: "invalid_token",
                detail: "The token's user no longer exists",
              },
          );
          return state;
        }
        case "logout": {
          const tokenHash = hashToken(msg.bearer);
          state.sessions.delete(tokenHash);
          const ended = await deps.store.sessions.delete(tokenHash);
          await recordAudit(deps.store.audit, {
            actor: msg.actor,
            action: "logout",
            resource: `user:${msg.actor}`,
            requestId: msg.requestId,
          });
          msg.reply(ended);
          return state;
        }
        case "exchange": {
          msg.reply(await exchange(state, msg, now));
          return state;
        }
        case "forgetUser": {
          state.users.delete(msg.name);
          for (const [hash, session] of state.sessions) {
            if (session.userName === msg.name) state.sessions.delete(hash);
          }
          return state;
        }
        case "sweep": {
          // A store that cannot write fails the sweep, not the actor: the
          // next sweep tries again (an expired session is refused anyway).
          try {
            const swept = await deps.store.sessions.sweep(now);
            if (swept > 0) {
              ctx.log.info("swept expired sessions", { count: swept });
            }
          } catch (error) {
            ctx.log.warn(
              "session sweep failed; trying again at the next one",
              errorFields(error),
            );
          }
          armSweep(ctx);
          return state;
        }
        default: {
          const _exhaustive: never = msg;
          return state;
        }
      }
    },
  };

  async function exchange(
    state: SessionState,
    msg: Extract<SessionMsg, { type: "exchange" }>,
    now: number,
  ): Promise<ExchangeResult> {
    const name = assertionSubject(msg.assertion);
    const user = name ? await userOf(state, name, now) : null;
    const audit = (result: "ok" | "failed", detail: Record<string, unknown>) =>
      recordAudit(deps.store.audit, {
        actor: user?.name ?? "anonymous",
        action: "token.exchange",
        resource: `user:${name ?? "?"}`,
        requestId: msg.requestId,
        result,
        detail,
      });
    // An unknown user is checked like a known one without keys, and "no key
    // of this subject signed it" has one answer, so the endpoint does not
    // tell which users exist (nor which kinds of key they have).
    const keys = user ? await deps.store.users.keys(user.name) : [];
    const verified = await verifyClientAssertion(msg.assertion, {
      user: name ?? "",
      publicKeys: keys.map((k) => ({
        pem: k.publicKeyPem,
        algorithm: k.algorithm,
      })),
      audience: deps.tokenKeys.audience,
      jtiSeen: (key, expiresAt) => state.jtis.seen(key, expiresAt),
    });
    if (!verified.ok || !user) {
      // Without keys (an unknown user) nothing verifies: `!user` implies `!ok`.
      const code = verified.ok ? "bad_signature" : verified.code;
      await audit("failed", { reason: user ? code : "unknown user" });
      if (!verified.ok && code !== "unknown_kid" && code !== "bad_signature") {
        return verified;
      }
      return {
        ok: false,
        code: "bad_signature",
        detail: `No key registered for "${name ?? ""}" signed the assertion`,
      };
    }
    const allowed = user.roles.includes("admin")
      ? ALL_SCOPES
      : ALL_SCOPES.filter((s) => s !== "admin");
    const asked = msg.scope ?? verified.claims.scope ?? [...allowed];
    const refused = asked.filter((s) =>
      !(allowed as readonly string[]).includes(s)
    );
    if (refused.length > 0) {
      await audit("failed", { reason: "scope not allowed", refused });
      return {
        ok: false,
        code: "scope_not_allowed",
        detail: `Scope "${refused[0]}" is not available to this user`,
      };
    }
    const issued = await deps.tokenKeys.issue({
      sub: user.name,
      scope: asked,
      roles: user.roles,
      ttlSeconds: deps.accessTokenTtlSeconds,
      subjectCreatedAt: user.createdAt,
    });
    await audit("ok", { jti: issued.jti, scope: asked });
    return {
      ok: true,
      accessToken: issued.token,
      expiresAt: issued.expiresAt,
      scope: asked,
    };
  }
}
