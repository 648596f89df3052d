import assert from "node:assert/strict";
import {
  accessToken,
  assertProblem,
  call,
  createUser,
  login,
  startIdentityNode,
} from "../support/identity_client.ts";

Deno.test("admin ops: rotating the signing key keeps old tokens valid and publishes both keys; only admins may", async () => {
  await using node = await startIdentityNode();
  const admin = await login(node.url, "admin", node.adminKeyPem);
  const alice = await createUser(node.url, admin, "alice", {
    roles: ["publisher"],
  });
  const before = await accessToken(node.url, alice);
  const jwksBefore = await call(node.url, "GET", "/.well-known/jwks.json");
  assert.equal((jwksBefore.body["keys"] as unknown[]).length, 1);

  const refused = await call(node.url, "POST", "/api/v1/token/keys/rotate", {
    bearer: before,
  });
  assertProblem(refused, 403);
  assertProblem(await call(node.url, "POST", "/api/v1/token/keys/rotate"), 401);

  const rotated = await call(node.url, "POST", "/api/v1/token/keys/rotate", {
    bearer: admin,
  });
  assert.equal(rotated.status, 200, rotated.text);
  const kid = String(rotated.body["kid"]);
  const jwksAfter = await call(node.url, "GET", "/.well-known/jwks.json");
  const kids = (jwksAfter.body["keys"] as { kid: string }[]).map((k) => k.kid);
  assert.equal(kids.length, 2);
  assert.ok(kids.includes(kid));

  const old = await call(node.url, "GET", "/api/v1/session", {
    bearer: before,
  });
  assert.equal(
    old.status,
    200,
    "a token signed with the retired key still works",
  );
  const after = await accessToken(node.url, alice);
  const header = JSON.parse(
    new TextDecoder().decode(
      Uint8Array.fromBase64(after.split(".")[0]!, { alphabet: "base64url" }),
    ),
  );
  assert.equal(header.kid, kid, "new tokens are signed with the new key");

  const audit = await call(
    node.url,
    "GET",
    "/api/v1/audit?resource=node&limit=100",
    { bearer: admin },
  );
  const actions = (audit.body["items"] as { action: string }[]).map((r) =>
    r.action
  );
  assert.ok(actions.includes("token.keys.rotate"), JSON.stringify(actions));
});

Deno.test("admin ops: the poison list is admin-only and answers a list", async () => {
  await using node = await startIdentityNode();
  const admin = await login(node.url, "admin", node.adminKeyPem);
  const bob = await createUser(node.url, admin, "bob", {
    roles: ["subscriber"],
  });
  const bobToken = await login(node.url, "bob", bob.privateKeyPem);
  assertProblem(await call(node.url, "GET", "/api/v1/actors/poison"), 401);
  assertProblem(
    await call(node.url, "GET", "/api/v1/actors/poison", { bearer: bobToken }),
    403,
  );
  const list = await call(node.url, "GET", "/api/v1/actors/poison", {
    bearer: admin,
  });
  assert.equal(list.status, 200, list.text);
  assert.deepEqual(list.body["items"], []);
});

Deno.test("admin ops: /api/v1/openapi.json documents every management route from the same schemas", async () => {
  await using node = await startIdentityNode();
  const doc = await call(node.url, "GET", "/api/v1/openapi.json");
  assert.equal(doc.status, 200, doc.text);
  assert.equal(doc.body["openapi"], "3.1.0");
  const paths = Object.keys(doc.body["paths"] as Record<string, unknown>);
  for (
    const path of [
      "/api/v1/login",
      "/api/v1/users",
      "/api/v1/topics",
      "/api/v1/subscriptions",
      "/api/v1/unseal",
    ]
  ) {
    assert.ok(paths.includes(path), `${path} missing from ${paths.join(", ")}`);
  }
  const create = (doc.body["paths"] as Record<
    string,
    Record<string, { requestBody?: unknown }>
  >)["/api/v1/topics"]!;
  assert.ok(create["post"]?.requestBody, "the topic body schema is documented");
});

Deno.test("admin ops: the last admin can be neither deleted nor demoted; with a second admin both work", async () => {
  await using node = await startIdentityNode();
  const admin = await login(node.url, "admin", node.adminKeyPem);
  assertProblem(
    await call(node.url, "DELETE", "/api/v1/users/admin", { bearer: admin }),
    409,
  );
  assertProblem(
    await call(node.url, "PATCH", "/api/v1/users/admin", {
      bearer: admin,
      json: { roles: ["publisher"] },
    }),
    409,
  );
  await createUser(node.url, admin, "root2", { roles: ["admin"] });
  const demoted = await call(node.url, "PATCH", "/api/v1/users/admin", {
    bearer: admin,
    json: { roles: ["admin", "publisher"] },
  });
  assert.equal(demoted.status, 200, "changing other roles of an admin is fine");
  const deleted = await call(node.url, "DELETE", "/api/v1/users/admin", {
    bearer: admin,
  });
  assert.equal(deleted.status, 200, deleted.text);
});
