import assert from "node:assert/strict";
import {
  type Action,
  ACTIONS,
  authorize,
  type Identity,
  requiredScope,
  type Resource,
} from "../../identity/authorize.ts";

const admin: Identity = {
  user: "root",
  roles: ["admin"],
  groups: [],
  scopes: null,
};
const alice: Identity = {
  user: "alice",
  roles: ["publisher"],
  groups: ["ops"],
  scopes: null,
};
const bob: Identity = {
  user: "bob",
  roles: ["subscriber"],
  groups: ["ops"],
  scopes: null,
};
const carol: Identity = {
  user: "carol",
  roles: ["subscriber"],
  groups: ["sales"],
  scopes: null,
};
const nobody: Identity = {
  user: "eve",
  roles: [],
  groups: [],
  scopes: null,
};

function withScopes(identity: Identity, scopes: string[]): Identity {
  return { ...identity, scopes };
}

// alice owns the topic; group ops may subscribe; carol may publish.
const topic: Resource = {
  owner: "alice",
  grants: [
    { principal: "group:ops", rights: ["subscribe"] },
    { principal: "user:carol", rights: ["publish"] },
  ],
};
const subscribedTopic: Resource = { ...topic, hasSubscriptions: true };
const bobsSubscription: Resource = { owner: "bob" };

type Row = [
  Identity,
  Action,
  Resource | undefined,
  "ok" | "forbidden" | "scope_missing",
];

// One row per case: who, what, on what, expected outcome.
const ROWS: Row[] = [
  // Admin-only actions.
  [admin, "users:read", undefined, "ok"],
  [admin, "users:write", undefined, "ok"],
  [admin, "groups:write", undefined, "ok"],
  [admin, "audit:read", undefined, "ok"],
  [admin, "tokens:write", undefined, "ok"],
  [admin, "seal", undefined, "ok"],
  [alice, "users:read", undefined, "forbidden"],
  [alice, "users:write", undefined, "forbidden"],
  [bob, "groups:write", undefined, "forbidden"],
  [alice, "audit:read", undefined, "forbidden"],
  [alice, "tokens:write", undefined, "forbidden"],
  [bob, "seal", undefined, "forbidden"],
  [withScopes(admin, ["topics:write"]), "seal", undefined, "scope_missing"],
  [withScopes(admin, ["admin"]), "users:write", undefined, "ok"],
  // Creating topics: publisher or admin.
  [alice, "topics:create", undefined, "ok"],
  [admin, "topics:create", undefined, "ok"],
  [bob, "topics:create", undefined, "forbidden"],
  [nobody, "topics:create", undefined, "forbidden"],
  [withScopes(alice, ["topics:write"]), "topics:create", undefined, "ok"],
  [
    withScopes(alice, ["events:publish"]),
    "topics:create",
    undefined,
    "scope_missing",
  ],
  [withScopes(alice, []), "topics:create", undefined, "scope_missing"],
  // Reading a topic: owner, admin or any grant holder.
  [alice, "topics:read", topic, "ok"],
  [bob, "topics:read", topic, "ok"],
  [carol, "topics:read", topic, "ok"],
  [nobody, "topics:read", topic, "forbidden"],
  [admin, "topics:read", topic, "ok"],
  [
    withScopes(bob, ["subscriptions:write"]),
    "topics:read",
    topic,
    "scope_missing",
  ],
  // Changing and granting: owner or admin.
  [alice, "topics:write", topic, "ok"],
  [admin, "topics:write", topic, "ok"],
  [bob, "topics:write", topic, "forbidden"],
  [carol, "topics:write", topic, "forbidden"],
  [alice, "topics:grant", topic, "ok"],
  [carol, "topics:grant", topic, "forbidden"],
  [admin, "topics:grant", topic, "ok"],
  [alice, "topics:write", undefined, "forbidden"],
  // Deleting: owner or admin; with subscriptions admin only.
  [alice, "topics:delete", topic, "ok"],
  [bob, "topics:delete", topic, "forbidden"],
  [alice, "topics:delete", subscribedTopic, "forbidden"],
  [admin, "topics:delete", subscribedTopic, "ok"],
  [
    withScopes(admin, ["admin"]),
    "topics:delete",
    subscribedTopic,
    "scope_missing",
  ],
  [withScopes(admin, ["topics:write"]), "topics:delete", subscribedTopic, "ok"],
  // Publishing: owner, admin, or a publish grant to the user or a group.
  [alice, "events:publish", topic, "ok"],
  [carol, "events:publish", topic, "ok"],
  [admin, "events:publish", topic, "ok"],
  [bob, "events:publish", topic, "forbidden"],
  [nobody, "events:publish", topic, "forbidden"],
  [{ ...nobody, groups: ["writers"] }, "events:publish", {
    ...topic,
    grants: [{ principal: "group:writers", rights: ["publish"] }],
  }, "ok"],
  [{ ...nobody, user: "writers" }, "events:publish", {
    ...topic,
    grants: [{ principal: "group:writers", rights: ["publish"] }],
  }, "forbidden"],
  [withScopes(carol, ["events:publish"]), "events:publish", topic, "ok"],
  [
    withScopes(carol, ["topics:write"]),
    "events:publish",
    topic,
    "scope_missing",
  ],
  [
    withScopes(nobody, ["events:publish"]),
    "events:publish",
    topic,
    "forbidden",
  ],
  // Reading events: owner, admin, or a subscribe grant.
  [bob, "events:read", topic, "ok"],
  [alice, "events:read", topic, "ok"],
  [carol, "events:read", topic, "forbidden"],
  [withScopes(bob, ["events:publish"]), "events:read", topic, "scope_missing"],
  // Creating subscriptions: subscriber role and subscribe on the topic.
  [bob, "subscriptions:create", topic, "ok"],
  [admin, "subscriptions:create", topic, "ok"],
  [carol, "subscriptions:create", topic, "forbidden"],
  [{ ...nobody, groups: ["ops"] }, "subscriptions:create", topic, "forbidden"],
  [alice, "subscriptions:create", topic, "forbidden"],
  [
    { ...alice, roles: ["publisher", "subscriber"] },
    "subscriptions:create",
    topic,
    "ok",
  ],
  [
    withScopes(bob, ["subscriptions:write"]),
    "subscriptions:create",
    topic,
    "ok",
  ],
  [
    withScopes(bob, ["subscriptions:read"]),
    "subscriptions:create",
    topic,
    "scope_missing",
  ],
  // Reading and changing subscriptions: their owner or admin.
  [bob, "subscriptions:read", bobsSubscription, "ok"],
  [carol, "subscriptions:read", bobsSubscription, "forbidden"],
  [admin, "subscriptions:read", bobsSubscription, "ok"],
  [bob, "subscriptions:write", bobsSubscription, "ok"],
  [carol, "subscriptions:write", bobsSubscription, "forbidden"],
  [admin, "subscriptions:write", bobsSubscription, "ok"],
  [
    withScopes(bob, ["subscriptions:read"]),
    "subscriptions:write",
    bobsSubscription,
    "scope_missing",
  ],
  [
    withScopes(bob, ["subscriptions:read"]),
    "subscriptions:read",
    bobsSubscription,
    "ok",
  ],
  // Unknown roles grant nothing.
  [{ ...nobody, roles: ["superuser"] }, "users:write", undefined, "forbidden"],
];

for (const [identity, action, resource, expected] of ROWS) {
  const scopes = identity.scopes === null
    ? "session"
    : `scopes [${identity.scopes.join(" ")}]`;
  Deno.test(
    `authorize: ${identity.user} (${
      identity.roles.join(",") || "no role"
    }, ${scopes}) ${action}${
      resource === undefined ? "" : ` on ${resource.owner}'s resource`
    }${resource?.hasSubscriptions ? " with subscriptions" : ""} → ${expected}`,
    () => {
      const result = authorize(identity, action, resource);
      assert.equal(result.ok ? "ok" : result.code, expected);
      if (!result.ok) assert.match(result.detail, new RegExp(`"${action}"`));
    },
  );
}

Deno.test("authorize: a token scope never widens what the user may do", () => {
  const everyScope = ACTIONS.map(requiredScope);
  for (const action of ACTIONS) {
    for (const identity of [alice, bob, carol, nobody]) {
      const session = authorize(identity, action, topic);
      const token = authorize(withScopes(identity, everyScope), action, topic);
      assert.deepEqual(token, session, `${identity.user} ${action}`);
    }
  }
});

Deno.test("authorize: admin with a session may do every action", () => {
  for (const action of ACTIONS) {
    assert.deepEqual(authorize(admin, action, subscribedTopic), { ok: true });
  }
});

Deno.test("authorize: every action maps to the scope the issue names", () => {
  assert.equal(ACTIONS.length, 16);
  assert.equal(requiredScope("topics:write"), "topics:write");
  assert.equal(requiredScope("events:publish"), "events:publish");
  assert.equal(requiredScope("subscriptions:create"), "subscriptions:write");
  assert.equal(requiredScope("seal"), "admin");
});
