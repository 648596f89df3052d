/**
 * The `user` actor: users, their keys, groups, agent tokens, and reading
 * the audit log. Every change is authorised here (`authorize`), written as
 * a new version and appended to the audit log. E-mails are kept only as a
 * keyed hash.
 *
 * Who may ask it: the HTTP layer. It tells the `session` actor
 * `forgetUser` after a user changes or is deleted.
 *
 * @module
 */

import { tell } from "./system.ts";
import type { ActorRef, Behavior, Reply } from "./types.ts";
import type { SessionMsg } from "./session.ts";
import { ALL_SCOPES } from "./session.ts";
import {
  type Action,
  authorize,
  type Caller,
  type Identity,
} from "../identity/authorize.ts";
import { newAgentToken } from "../identity/jwt.ts";
import { parsePublicKey, PublicKeyError } from "../identity/keys.ts";
import { auditBy, changeBy } from "../store/audit.ts";
import type {
  AgentTokenRecord,
  AuditQuery,
  AuditRecord,
  GroupRecord,
  Store,
  UserKeyRecord,
  UserRecord,
  VersionRecord,
} from "../store/mod.ts";

/** Why a user-actor request failed; maps one-to-one to a problem code. */
export type UserFailure =
  | { ok: false; code: "forbidden"; detail: string }
  | { ok: false; code: "not_found"; detail: string }
  | { ok: false; code: "conflict"; detail: string }
  | { ok: false; code: "validation_failed"; detail: string };

/** A user-actor answer. */
export type UserResult<T> = { ok: true; value: T } | UserFailure;

/** A user as the API shows it (no e-mail: only its hash is known). */
export interface UserView extends UserRecord {
  keys: { id: string; algorithm: string; createdAt: string }[];
}

/** A freshly minted agent token: `token` is shown once. */
export interface MintedAgentToken {
  id: string;
  token: string;
  user: string;
  scopes: string[];
  expiresAt: string | null;
}

/** Messages of the user actor. */
export type UserMsg =
  | Caller & {
    type: "createUser";
    name: string;
    publicKey: string;
    roles: string[];
    groups: string[];
    email: string | null;
    reply: Reply<UserResult<UserView>>;
  }
  | Caller & {
    type: "getUser";
    name: string;
    reply: Reply<UserResult<UserView>>;
  }
  | Caller & {
    type: "listUsers";
    after: string | undefined;
    limit: number;
    email: string | undefined;
    reply: Reply<UserResult<UserRecord[]>>;
  }
  | Caller & {
    type: "updateUser";
    name: string;
    roles: string[] | undefined;
    groups: string[] | undefined;
    email: string | null | undefined;
    expectedVersion: number | undefined;
    reply: Reply<UserResult<UserView>>;
  }
  | Caller & {
    type: "deleteUser";
    name: string;
    reply: Reply<UserResult<{ deleted: string }>>;
  }
  | Caller & {
    type: "userVersions";
    name: string;
    reply: Reply<UserResult<VersionRecord[]>>;
  }
  | Caller & {
    type: "addKey";
    name: string;
    publicKey: string;
    reply: Reply<UserResult<UserView>>;
  }
  | Caller & {
    type: "revokeKey";
    name: string;
    keyId: string;
    reply: Reply<UserResult<UserView>>;
  }
  | Caller & {
    type: "createGroup";
    name: string;
    description: string;
    reply: Reply<UserResult<GroupRecord>>;
  }
  | Caller & { type: "listGroups"; reply: Reply<UserResult<GroupRecord[]>> }
  | Caller & {
    type: "deleteGroup";
    name: string;
    reply: Reply<UserResult<{ deleted: string }>>;
  }
  | Caller & {
    type: "mintAgentToken";
    user: string;
    scopes: string[];
    description: string;
    expiresInSeconds: number | null;
    reply: Reply<UserResult<MintedAgentToken>>;
  }
  | Caller & {
    type: "listAgentTokens";
    user: string | undefined;
    reply: Reply<UserResult<AgentTokenRecord[]>>;
  }
  | Caller & {
    type: "revokeAgentToken";
    id: string;
    reply: Reply<UserResult<{ revoked: string }>>;
  }
  | Caller & {
    type: "listAudit";
    query: AuditQuery;
    reply: Reply<UserResult<AuditRecord[]>>;
  };

/** What the user actor needs. */
export interface UserDeps {
  store: Store;
  session: ActorRef<SessionMsg>;
  /** The keyed hash of a value (e-mails); throws while sealed. */
  lookupHash(kind: string, value: string): Promise<string>;
}

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,190}$/;

/** The user actor's behavior (stateless: the store holds everything). */
export function userBehavior(deps: UserDeps): Behavior<null, UserMsg> {
  const { store } = deps;

  function denied(
    identity: Identity,
    action: Action,
    self?: string,
  ): UserFailure | null {
    if (
      self !== undefined && identity.user === self && identity.scopes === null
    ) return null;
    const decision = authorize(identity, action);
    return decision.ok
      ? null
      : { ok: false, code: "forbidden", detail: decision.detail };
  }

  async function view(name: string): Promise<UserResult<UserView>> {
    const user = await store.users.get(name);
    if (!user) return notFound("user", name);
    const keys = await store.users.keys(name);
    return {
      ok: true,
      value: {
        ...user,
        keys: keys.map((k) => ({
          id: k.id,
          algorithm: k.algorithm,
          createdAt: k.createdAt,
        })),
      },
    };
  }

  /** True when `name` is an admin and no other user is: the node must keep one. */
  async function isLastAdmin(name: string): Promise<boolean> {
    const target = await store.users.get(name);
    if (!target?.roles.includes("admin")) return false;
    let after: string | undefined;
    for (;;) {
      const page = await store.users.list({
        limit: 500,
        ...(after !== undefined ? { after } : {}),
      });
      if (page.some((u) => u.name !== name && u.roles.includes("admin"))) {
        return false;
      }
      if (page.length < 500) return true;
      after = page.at(-1)!.name;
    }
  }

  async function emailHash(
    email: string | null,
  ): Promise<string | null | UserFailure> {
    if (email === null) return null;
    const normalised = email.trim().toLowerCase();
    if (!EMAIL.test(normalised)) {
      return {
        ok: false,
        code: "validation_failed",
        detail: "The e-mail address is not valid",
      };
    }
    return await deps.lookupHash("email", normalised);
  }

  async function parseKey(
    name: string,
    pem: string,
  ): Promise<UserKeyRecord | UserFailure> {
    try {
      const parsed = await parsePublicKey(pem);
      return {
        id: parsed.fingerprint,
        userName: name,
        publicKeyPem: parsed.pem,
        algorithm: parsed.algorithm,
        createdAt: new Date().toISOString(),
      };
    } catch (error) {
      if (error instanceof PublicKeyError) {
        return { ok: false, code: "validation_failed", detail: error.message };
      }
      throw error;
    }
  }

  function audit(
    msg: Caller,
    action: string,
    resource: string,
    extra: { version?: number; detail?: object } = {},
  ) {
    return auditBy(store.audit, msg, { action, resource: resource, ...extra });
  }

  async function handle(msg: UserMsg): Promise<void> {
    const now = () => new Date().toISOString();
    switch (msg.type) {
      case "createUser": {
        const refused = denied(msg.identity, "users:write");
        if (refused) return msg.reply(refused);
        const key = await parseKey(msg.name, msg.publicKey);
        if ("ok" in key) return msg.reply(key);
        const hash = await emailHash(msg.email);
        if (hash !== null && typeof hash !== "string") return msg.reply(hash);
        const created = await store.users.create(
          {
            name: msg.name,
            roles: msg.roles,
            groups: msg.groups,
            emailHash: hash,
            createdAt: now(),
            version: 1,
          },
          key,
          changeBy(msg),
        );
        if (!created.ok) {
          return msg.reply({
            ok: false,
            code: "conflict",
            detail: created.code === "exists"
              ? `User "${msg.name}" already exists`
              : "Another user has this e-mail address",
          });
        }
        await audit(msg, "user.create", `user:${msg.name}`, {
          version: 1,
          detail: { roles: msg.roles },
        });
        return msg.reply(await view(msg.name));
      }
      case "getUser": {
        const refused = denied(msg.identity, "users:read", msg.name);
        if (refused) return msg.reply(refused);
        return msg.reply(await view(msg.name));
      }
      case "listUsers": {
        const refused = denied(msg.identity, "users:read");
        if (refused) return msg.reply(refused);
        if (msg.email !== undefined) {
          const hash = await emailHash(msg.email);
          if (hash !== null && typeof hash !== "string") return msg.reply(hash);
          const user = hash === null
            ? null
            : await store.users.findByEmailHash(hash);
          return msg.reply({ ok: true, value: user ? [user] : [] });
        }
        const page = await store.users.list({
          limit: msg.limit,
          ...(msg.after ? { after: msg.after } : {}),
        });
        return msg.reply({ ok: true, value: page });
      }
      case "updateUser": {
        const refused = denied(msg.identity, "users:write");
        if (refused) return msg.reply(refused);
        if (
          msg.roles !== undefined && !msg.roles.includes("admin") &&
          await isLastAdmin(msg.name)
        ) {
          return msg.reply({
            ok: false,
            code: "conflict",
            detail:
              `"${msg.name}" is the last admin; make another admin before removing the role`,
          });
        }
        const hash = msg.email === undefined
          ? undefined
          : await emailHash(msg.email);
        if (hash !== undefined && hash !== null && typeof hash !== "string") {
          return msg.reply(hash);
        }
        const updated = await store.users.update(
          msg.name,
          {
            ...(msg.roles ? { roles: msg.roles } : {}),
            ...(msg.groups ? { groups: msg.groups } : {}),
            ...(hash !== undefined ? { emailHash: hash } : {}),
          },
          {
            actor: msg.identity.user,
            requestId: msg.requestId,
            time: now(),
            ...(msg.expectedVersion !== undefined
              ? { expectedVersion: msg.expectedVersion }
              : {}),
          },
        );
        if (!updated.ok) {
          if (updated.code === "not_found") {
            return msg.reply(notFound("user", msg.name));
          }
          return msg.reply({
            ok: false,
            code: "conflict",
            detail: updated.code === "version_conflict"
              ? `User "${msg.name}" has changed since version ${msg.expectedVersion}`
              : "Another user has this e-mail address",
          });
        }
        tell(deps.session, { type: "forgetUser", name: msg.name });
        await audit(msg, "user.update", `user:${msg.name}`, {
          version: updated.user.version,
        });
        return msg.reply(await view(msg.name));
      }
      case "deleteUser": {
        const refused = denied(msg.identity, "users:write");
        if (refused) return msg.reply(refused);
        if (await isLastAdmin(msg.name)) {
          return msg.reply({
            ok: false,
            code: "conflict",
            detail: `"${msg.name}" is the last admin; make another admin first`,
          });
        }
        if (!(await store.users.delete(msg.name))) {
          return msg.reply(notFound("user", msg.name));
        }
        tell(deps.session, { type: "forgetUser", name: msg.name });
        await audit(msg, "user.delete", `user:${msg.name}`);
        return msg.reply({ ok: true, value: { deleted: msg.name } });
      }
      case "userVersions": {
        const refused = denied(msg.identity, "users:read", msg.name);
        if (refused) return msg.reply(refused);
        if (!(await store.users.get(msg.name))) {
          return msg.reply(notFound("user", msg.name));
        }
        return msg.reply({
          ok: true,
          value: await store.users.versions(msg.name),
        });
      }
      case "addKey": {
        const refused = denied(msg.identity, "users:write", msg.name);
        if (refused) return msg.reply(refused);
        const key = await parseKey(msg.name, msg.publicKey);
        if ("ok" in key) return msg.reply(key);
        if ((await store.users.keys(msg.name)).some((k) => k.id === key.id)) {
          return msg.reply({
            ok: false,
            code: "conflict",
            detail: "The user already has this key",
          });
        }
        if (!(await store.users.addKey(key))) {
          return msg.reply(notFound("user", msg.name));
        }
        await audit(msg, "user.key.add", `user:${msg.name}`, {
          detail: { keyId: key.id },
        });
        return msg.reply(await view(msg.name));
      }
      case "revokeKey": {
        const refused = denied(msg.identity, "users:write", msg.name);
        if (refused) return msg.reply(refused);
        if (!(await store.users.revokeKey(msg.name, msg.keyId))) {
          return msg.reply(notFound("key", msg.keyId));
        }
        await audit(msg, "user.key.revoke", `user:${msg.name}`, {
          detail: { keyId: msg.keyId },
        });
        return msg.reply(await view(msg.name));
      }
      case "createGroup": {
        const refused = denied(msg.identity, "groups:write");
        if (refused) return msg.reply(refused);
        const group = {
          name: msg.name,
          description: msg.description,
          createdAt: now(),
        };
        const created = await store.groups.create(group);
        if (!created.ok) {
          return msg.reply({
            ok: false,
            code: "conflict",
            detail: `Group "${msg.name}" already exists`,
          });
        }
        await audit(msg, "group.create", `group:${msg.name}`);
        return msg.reply({ ok: true, value: group });
      }
      case "listGroups": {
        const refused = denied(msg.identity, "users:read");
        if (refused) return msg.reply(refused);
        return msg.reply({ ok: true, value: await store.groups.list() });
      }
      case "deleteGroup": {
        const refused = denied(msg.identity, "groups:write");
        if (refused) return msg.reply(refused);
        if (!(await store.groups.delete(msg.name))) {
          return msg.reply(notFound("group", msg.name));
        }
        await audit(msg, "group.delete", `group:${msg.name}`);
        return msg.reply({ ok: true, value: { deleted: msg.name } });
      }
      case "mintAgentToken": {
        const refused = denied(msg.identity, "tokens:write");
        if (refused) return msg.reply(refused);
        const user = await store.users.get(msg.user);
        if (!user) return msg.reply(notFound("user", msg.user));
        const unknown = msg.scopes.filter((s) =>
          !(ALL_SCOPES as readonly string[]).includes(s)
        );
        if (unknown.length > 0) {
          return msg.reply({
            ok: false,
            code: "validation_failed",
            detail: `Unknown scope "${unknown[0]}"`,
          });
        }
        if (msg.scopes.includes("admin") && !user.roles.includes("admin")) {
          return msg.reply({
            ok: false,
            code: "validation_failed",
            detail:
              `User "${user.name}" is not an admin; a token of theirs cannot carry the "admin" scope`,
          });
        }
        const minted = newAgentToken();
        const record: AgentTokenRecord = {
          id: crypto.randomUUID(),
          tokenHash: minted.hash,
          userName: user.name,
          scopes: msg.scopes,
          description: msg.description,
          createdAt: now(),
          createdBy: msg.identity.user,
          expiresAt: msg.expiresInSeconds === null
            ? null
            : Date.now() + msg.expiresInSeconds * 1000,
        };
        await store.agentTokens.create(record);
        await audit(msg, "agent_token.create", `user:${user.name}`, {
          detail: { id: record.id, scopes: msg.scopes },
        });
        return msg.reply({
          ok: true,
          value: {
            id: record.id,
            token: minted.bearer,
            user: user.name,
            scopes: msg.scopes,
            expiresAt: record.expiresAt === null
              ? null
              : new Date(record.expiresAt).toISOString(),
          },
        });
      }
      case "listAgentTokens": {
        const refused = denied(msg.identity, "tokens:write");
        if (refused) return msg.reply(refused);
        return msg.reply({
          ok: true,
          value: await store.agentTokens.list(msg.user),
        });
      }
      case "revokeAgentToken": {
        const refused = denied(msg.identity, "tokens:write");
        if (refused) return msg.reply(refused);
        if (!(await store.agentTokens.revoke(msg.id))) {
          return msg.reply(notFound("agent token", msg.id));
        }
        await audit(msg, "agent_token.revoke", `agent_token:${msg.id}`);
        return msg.reply({ ok: true, value: { revoked: msg.id } });
      }
      case "listAudit": {
        const refused = denied(msg.identity, "audit:read");
        if (refused) return msg.reply(refused);
        return msg.reply({
          ok: true,
          value: await store.audit.list(msg.query),
        });
      }
      default: {
        const _exhaustive: never = msg;
      }
    }
  }

  return {
    name: "user",
    init: () => null,
    async handle(state, msg) {
      await handle(msg);
      return state;
    },
  };
}

function notFound(what: string, name: string): UserFailure {
  return { ok: false, code: "not_found", detail: `No ${what} "${name}"` };
}
