/**
 * The one authorisation decision: may this identity do this action to this
 * resource? The rules are a table ({@linkcode AUTHORIZATION_RULES}), read by
 * a single function; the owning actor calls {@linkcode authorize} after the
 * HTTP layer has authenticated the caller.
 *
 * Two gates, both must pass:
 * 1. Scope: a token carries scopes that narrow what the user may do; each
 *    action needs one scope. Sessions (`scopes: null`) carry all the user's
 *    rights. Scopes never widen: they are checked in addition to the rules.
 * 2. Rule: `admin` may do everything; otherwise the rule's role and resource
 *    relation requirements apply.
 *
 * @module
 */

/** Every action that is authorised. */
export type Action =
  | "users:read"
  | "users:write"
  | "groups:write"
  | "audit:read"
  | "tokens:write"
  | "seal"
  | "topics:create"
  | "topics:read"
  | "topics:write"
  | "topics:delete"
  | "topics:grant"
  | "events:publish"
  | "events:read"
  | "subscriptions:create"
  | "subscriptions:read"
  | "subscriptions:write";

/** Token scopes Miranda understands. */
export type Scope =
  | "admin"
  | "topics:read"
  | "topics:write"
  | "events:publish"
  | "events:read"
  | "subscriptions:read"
  | "subscriptions:write";

/** Built-in roles; other strings are allowed and grant nothing by themselves. */
export type Role = "admin" | "publisher" | "subscriber";

/** A right a topic owner grants to a user or group. */
export type GrantRight = "publish" | "subscribe";

/** An authenticated caller. */
export interface Identity {
  /** User name. */
  user: string;
  /** Role names; {@linkcode Role} lists the built-in ones. */
  roles: readonly string[];
  /** Group names the user belongs to. */
  groups: readonly string[];
  /** Token scopes, or null for a session that carries the user's full rights. */
  scopes: readonly string[] | null;
}

/** Who asks an owning actor for something, and under which request id. */
export interface Caller {
  identity: Identity;
  requestId: string;
}

/** The resource acted on, as far as authorisation needs to know it. */
export interface Resource {
  /** Owning user: a topic's or subscription's creator. */
  owner?: string;
  /** A topic's grants; principals are `"user:<name>"` or `"group:<name>"`. */
  grants?: readonly {
    principal: string;
    rights: readonly GrantRight[];
  }[];
  /** Whether a topic has subscriptions. */
  hasSubscriptions?: boolean;
}

/** Outcome of {@linkcode authorize}; `detail` is safe to show the caller. */
export type AuthorizeResult =
  | { ok: true }
  | { ok: false; code: "forbidden" | "scope_missing"; detail: string };

/** How the caller relates to the resource. */
export type Relation = "owner" | GrantRight;

/** One row of the rule table. */
export interface Rule {
  /** Scope a token must carry. */
  scope: Scope;
  /**
   * What a non-admin needs, or null when only admins may act. A non-admin
   * needs one of `roles` (none listed: any user) and one of `relations` to
   * the resource (none listed: no resource needed).
   */
  nonAdmin: { roles: readonly Role[]; relations: readonly Relation[] } | null;
  /** When the resource has subscriptions, only an admin may act. */
  adminOnlyIfSubscribed: boolean;
}

const ADMIN_ONLY: Omit<Rule, "scope"> = {
  nonAdmin: null,
  adminOnlyIfSubscribed: false,
};

/** The rule table: one row per action. */
export const AUTHORIZATION_RULES: Readonly<Record<Action, Rule>> = {
  "users:read": { scope: "admin", ...ADMIN_ONLY },
  "users:write": { scope: "admin", ...ADMIN_ONLY },
  "groups:write": { scope: "admin", ...ADMIN_ONLY },
  "audit:read": { scope: "admin", ...ADMIN_ONLY },
  "tokens:write": { scope: "admin", ...ADMIN_ONLY },
  "seal": { scope: "admin", ...ADMIN_ONLY },
  "topics:create": {
    scope: "topics:write",
    nonAdmin: { roles: ["publisher"], relations: [] },
    adminOnlyIfSubscribed: false,
  },
  "topics:read": {
    scope: "topics:read",
    nonAdmin: { roles: [], relations: ["owner", "publish", "subscribe"] },
    adminOnlyIfSubscribed: false,
  },
  "topics:write": {
    scope: "topics:write",
    nonAdmin: { roles: [], relations: ["owner"] },
    adminOnlyIfSubscribed: false,
  },
  "topics:delete": {
    scope: "topics:write",
    nonAdmin: { roles: [], relations: ["owner"] },
    adminOnlyIfSubscribed: true,
  },
  "topics:grant": {
    scope: "topics:write",
    nonAdmin: { roles: [], relations: ["owner"] },
    adminOnlyIfSubscribed: false,
  },
  "events:publish": {
    scope: "events:publish",
    nonAdmin: { roles: [], relations: ["owner", "publish"] },
    adminOnlyIfSubscribed: false,
  },
  "events:read": {
    scope: "events:read",
    nonAdmin: { roles: [], relations: ["owner", "subscribe"] },
    adminOnlyIfSubscribed: false,
  },
  // The resource is the topic being subscribed to.
  "subscriptions:create": {
    scope: "subscriptions:write",
    nonAdmin: { roles: ["subscriber"], relations: ["owner", "subscribe"] },
    adminOnlyIfSubscribed: false,
  },
  // The resource is the subscription.
  "subscriptions:read": {
    scope: "subscriptions:read",
    nonAdmin: { roles: [], relations: ["owner"] },
    adminOnlyIfSubscribed: false,
  },
  "subscriptions:write": {
    scope: "subscriptions:write",
    nonAdmin: { roles: [], relations: ["owner"] },
    adminOnlyIfSubscribed: false,
  },
};

/** Every action, in table order (for matrices and docs). */
export const ACTIONS: readonly Action[] = Object.keys(
  AUTHORIZATION_RULES,
) as Action[];

/** The scope a token needs for `action`. */
export function requiredScope(action: Action): Scope {
  return AUTHORIZATION_RULES[action].scope;
}

/** Outcome of {@linkcode authorizeOnTopic}; `detail` is safe to show the caller. */
export type TopicAuthorizeResult =
  | { ok: true }
  | { ok: false; code: "forbidden" | "not_found"; detail: string };

/**
 * {@linkcode authorize} on a topic without telling strangers it exists: a
 * caller refused who may not even read the topic hears `not_found`, as for
 * a name that is not there; one who may read it hears `forbidden`.
 */
export function authorizeOnTopic(
  identity: Identity,
  action: Action,
  topic: {
    name: string;
    owner: string;
    grants: NonNullable<Resource["grants"]>;
  },
): TopicAuthorizeResult {
  const resource = { owner: topic.owner, grants: topic.grants };
  const decision = authorize(identity, action, resource);
  if (decision.ok) return decision;
  return authorize(identity, "topics:read", resource).ok
    ? { ok: false, code: "forbidden", detail: decision.detail }
    : { ok: false, code: "not_found", detail: `No topic "${topic.name}"` };
}

/** Decides whether `identity` may do `action` to `resource`. */
export function authorize(
  identity: Identity,
  action: Action,
  resource: Resource = {},
): AuthorizeResult {
  const rule = AUTHORIZATION_RULES[action];
  if (identity.scopes !== null && !identity.scopes.includes(rule.scope)) {
    return {
      ok: false,
      code: "scope_missing",
      detail: `Action "${action}" needs token scope "${rule.scope}"`,
    };
  }
  if (identity.roles.includes("admin")) return { ok: true };
  const denied = (why: string): AuthorizeResult => ({
    ok: false,
    code: "forbidden",
    detail: `User "${identity.user}" may not "${action}": ${why}`,
  });
  if (rule.nonAdmin === null) return denied("only an admin may");
  const { roles, relations } = rule.nonAdmin;
  if (
    roles.length > 0 && !roles.some((role) => identity.roles.includes(role))
  ) {
    return denied(`it needs the role ${roles.map(quote).join(" or ")}`);
  }
  if (
    relations.length > 0 &&
    !relations.some((relation) => relates(identity, resource, relation))
  ) {
    return denied(
      `it needs to be the owner${
        relations.filter((r) => r !== "owner").map((r) =>
          ` or hold ${quote(r)}`
        )
          .join("")
      }`,
    );
  }
  if (rule.adminOnlyIfSubscribed && resource.hasSubscriptions === true) {
    return denied("it has subscriptions, so only an admin may");
  }
  return { ok: true };
}

function relates(
  identity: Identity,
  resource: Resource,
  relation: Relation,
): boolean {
  if (relation === "owner") {
    return resource.owner !== undefined && resource.owner === identity.user;
  }
  const principals = new Set([
    `user:${identity.user}`,
    ...identity.groups.map((group) => `group:${group}`),
  ]);
  return (resource.grants ?? []).some((grant) =>
    principals.has(grant.principal) && grant.rights.includes(relation)
  );
}

function quote(text: string): string {
  return `"${text}"`;
}
