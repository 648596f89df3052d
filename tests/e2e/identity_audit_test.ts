import assert from "node:assert/strict";
import { TEST_PASSPHRASE } from "./harness.ts";
import {
  type Answer,
  assertProblem,
  call,
  createUser,
  exchange,
  login,
  signAssertion,
  startIdentityNode,
} from "../support/identity_client.ts";
import { marker, scanForMarkers } from "../support/marker_scan.ts";
import { generateUserKeyPair } from "../../identity/keys.ts";

interface AuditItem {
  seq: number;
  time: string;
  actor: string;
  action: string;
  resource: string;
  requestId: string;
  result: string;
  version: number | null;
  detail: Record<string, unknown>;
}

Deno.test("identity e2e: every identity action leaves an audit record with its request id; filters and cursor work; the log cannot be changed; versions; e-mail never in plaintext on disk", async (t) => {
  await using node = await startIdentityNode();
  const { url } = node;
  const expected: {
    answer: Answer;
    actor: string;
    action: string;
    resource: string;
    result: string;
    version?: number;
  }[] = [];
  const expect = (
    answer: Answer,
    status: number,
    record: {
      actor: string;
      action: string;
      resource: string;
      result?: string;
      version?: number;
    },
  ) => {
    assert.equal(answer.status, status, answer.text);
    assert.ok(answer.requestId !== "", "x-request-id is set");
    expected.push({ answer, result: "ok", ...record });
    return answer;
  };

  // Login success (the admin) and failure (an unknown user).
  const loginAnswer = await call(url, "POST", "/api/v1/login", {
    json: { user: "admin" },
  });
  expect(loginAnswer, 201, {
    actor: "admin",
    action: "login",
    resource: "user:admin",
  });
  const admin = await login(url, "admin", node.adminKeyPem);
  expect(
    await call(url, "POST", "/api/v1/login", { json: { user: "ghost" } }),
    201,
    {
      actor: "anonymous",
      action: "login",
      resource: "user:ghost",
      result: "failed",
    },
  );

  const email = `${marker("email")}@Example.test`;
  const pair = await generateUserKeyPair("RSA", { modulusBits: 2048 });
  const created = expect(
    await call(url, "POST", "/api/v1/users", {
      bearer: admin,
      json: {
        name: "audra",
        publicKey: pair.publicKeyPem,
        roles: ["publisher"],
        email,
      },
    }),
    201,
    {
      actor: "admin",
      action: "user.create",
      resource: "user:audra",
      version: 1,
    },
  );
  assert.ok(!created.text.includes(email.split("@")[0]!), created.text);

  await t.step(
    "a user patched twice has 3 versions with snapshots; a stale expectedVersion is 409",
    async () => {
      expect(
        await call(url, "PATCH", "/api/v1/users/audra", {
          bearer: admin,
          json: { roles: ["publisher", "subscriber"], expectedVersion: 1 },
        }),
        200,
        {
          actor: "admin",
          action: "user.update",
          resource: "user:audra",
          version: 2,
        },
      );
      expect(
        await call(url, "PATCH", "/api/v1/users/audra", {
          bearer: admin,
          json: { groups: [], roles: ["subscriber"] },
        }),
        200,
        {
          actor: "admin",
          action: "user.update",
          resource: "user:audra",
          version: 3,
        },
      );
      const versions = await call(url, "GET", "/api/v1/users/audra/versions", {
        bearer: admin,
      });
      assert.equal(versions.status, 200, versions.text);
      const items = versions.body["items"] as {
        version: number;
        actor: string;
        requestId: string;
        snapshot: { roles?: string[] };
      }[];
      assert.deepEqual(items.map((v) => v.version), [1, 2, 3]);
      assert.deepEqual(items.map((v) => v.snapshot.roles), [
        ["publisher"],
        ["publisher", "subscriber"],
        ["subscriber"],
      ]);
      assert.ok(items.every((v) => v.actor === "admin"), versions.text);
      assert.equal(items[0]!.requestId, created.requestId);
      assert.ok(!versions.text.includes(email.split("@")[0]!), versions.text);
      const stale = assertProblem(
        await call(url, "PATCH", "/api/v1/users/audra", {
          bearer: admin,
          json: { roles: [], expectedVersion: 2 },
        }),
        409,
      );
      assert.match(String(stale.body["detail"]), /version 2/);
      const user = await call(url, "GET", "/api/v1/users/audra", {
        bearer: admin,
      });
      assert.deepEqual(user.body["roles"], ["subscriber"]);
      assert.equal(user.body["version"], 3);
    },
  );

  await t.step(
    "e-mail: found by ?email= whatever its case, never shown",
    async () => {
      for (const asked of [email, email.toUpperCase(), email.toLowerCase()]) {
        const found = await call(
          url,
          "GET",
          `/api/v1/users?email=${encodeURIComponent(asked)}`,
          { bearer: admin },
        );
        assert.equal(found.status, 200, found.text);
        const items = found.body["items"] as { name: string }[];
        assert.deepEqual(items.map((u) => u.name), ["audra"], asked);
        assert.ok(!found.text.toLowerCase().includes(email.toLowerCase()));
      }
      const none = await call(
        url,
        "GET",
        `/api/v1/users?email=${encodeURIComponent("x" + email)}`,
        { bearer: admin },
      );
      assert.deepEqual(none.body["items"], []);
    },
  );

  // Keys, groups, agent tokens, the token exchange, logout, seal and unseal.
  const added = expect(
    await call(url, "POST", "/api/v1/users/audra/keys", {
      bearer: admin,
      json: { publicKey: (await generateUserKeyPair("Ed25519")).publicKeyPem },
    }),
    201,
    { actor: "admin", action: "user.key.add", resource: "user:audra" },
  );
  const keyId = (added.body["keys"] as { id: string }[]).at(-1)!.id;
  expect(
    await call(url, "DELETE", `/api/v1/users/audra/keys/${keyId}`, {
      bearer: admin,
    }),
    200,
    { actor: "admin", action: "user.key.revoke", resource: "user:audra" },
  );
  expect(
    await call(url, "POST", "/api/v1/groups", {
      bearer: admin,
      json: { name: "ops", description: "on call" },
    }),
    201,
    { actor: "admin", action: "group.create", resource: "group:ops" },
  );
  expect(
    await call(url, "DELETE", "/api/v1/groups/ops", { bearer: admin }),
    200,
    { actor: "admin", action: "group.delete", resource: "group:ops" },
  );
  const minted = expect(
    await call(url, "POST", "/api/v1/agent-tokens", {
      bearer: admin,
      json: { user: "audra", scopes: ["topics:read"] },
    }),
    201,
    { actor: "admin", action: "agent_token.create", resource: "user:audra" },
  );
  const tokenId = String(minted.body["id"]);
  expect(
    await call(url, "DELETE", `/api/v1/agent-tokens/${tokenId}`, {
      bearer: admin,
    }),
    200,
    {
      actor: "admin",
      action: "agent_token.revoke",
      resource: `agent_token:${tokenId}`,
    },
  );
  expect(
    await exchange(
      url,
      await signAssertion({
        user: "audra",
        privateKeyPem: pair.privateKeyPem,
        alg: "RS256",
      }),
    ),
    200,
    { actor: "audra", action: "token.exchange", resource: "user:audra" },
  );
  expect(
    await exchange(
      url,
      await signAssertion({
        user: "audra",
        privateKeyPem: pair.privateKeyPem,
        alg: "RS256",
        audience: "elsewhere",
      }),
    ),
    401,
    {
      actor: "audra",
      action: "token.exchange",
      resource: "user:audra",
      result: "failed",
    },
  );
  const audraSession = await login(url, "audra", pair.privateKeyPem);
  expect(
    await call(url, "DELETE", "/api/v1/session", { bearer: audraSession }),
    204,
    { actor: "audra", action: "logout", resource: "user:audra" },
  );
  expect(
    await call(url, "POST", "/api/v1/seal", { bearer: admin }),
    200,
    { actor: "admin", action: "seal", resource: "node" },
  );
  expect(
    await call(url, "POST", "/api/v1/unseal", {
      json: { passphrase: TEST_PASSPHRASE },
    }),
    200,
    { actor: "anonymous", action: "unseal", resource: "node" },
  );
  await createUser(url, admin, "temp");
  expect(
    await call(url, "DELETE", "/api/v1/users/temp", { bearer: admin }),
    200,
    { actor: "admin", action: "user.delete", resource: "user:temp" },
  );

  const all: AuditItem[] = [];
  {
    let after: number | null = 0;
    while (after !== null) {
      const page: Answer = await call(
        url,
        "GET",
        `/api/v1/audit?limit=500&after=${after}`,
        { bearer: admin },
      );
      assert.equal(page.status, 200, page.text);
      all.push(...(page.body["items"] as AuditItem[]));
      after = page.body["next"] as number | null;
    }
  }

  await t.step(
    "every action left one record with actor, action, resource, the response's request id and result",
    () => {
      const missing: string[] = [];
      for (const want of expected) {
        const found = all.filter((r) => r.requestId === want.answer.requestId);
        const record = found.find((r) => r.action === want.action);
        if (!record) {
          missing.push(
            `${want.action} ${want.resource} (${want.answer.requestId}): found ${
              JSON.stringify(found)
            }`,
          );
          continue;
        }
        assert.equal(record.actor, want.actor, JSON.stringify(record));
        assert.equal(record.resource, want.resource, JSON.stringify(record));
        assert.equal(record.result, want.result, JSON.stringify(record));
        if (want.version !== undefined) {
          assert.equal(record.version, want.version, JSON.stringify(record));
        }
        assert.ok(!Number.isNaN(Date.parse(record.time)));
      }
      assert.deepEqual(missing, []);
      assert.ok(
        !JSON.stringify(all).toLowerCase().includes(email.toLowerCase()),
        "no e-mail in the audit log",
      );
    },
  );

  await t.step(
    "filters by resource, actor and time, and the cursor, select exactly the matching records",
    async () => {
      const get = async (query: string) => {
        const answer = await call(url, "GET", `/api/v1/audit?${query}`, {
          bearer: admin,
        });
        assert.equal(answer.status, 200, answer.text);
        return answer.body as { items: AuditItem[]; next: number | null };
      };
      const byResource = await get("resource=user%3Aaudra&limit=500");
      assert.deepEqual(
        byResource.items.map((r) => r.seq),
        all.filter((r) => r.resource === "user:audra").map((r) => r.seq),
      );
      assert.ok(byResource.items.length >= 8);
      const byActor = await get("actor=anonymous&limit=500");
      assert.deepEqual(
        byActor.items.map((r) => r.seq),
        all.filter((r) => r.actor === "anonymous").map((r) => r.seq),
      );
      assert.ok(byActor.items.length >= 2);
      const middle = all[Math.floor(all.length / 2)]!;
      const since = await get(
        `since=${encodeURIComponent(middle.time)}&limit=500`,
      );
      assert.deepEqual(
        since.items.map((r) => r.seq),
        all.filter((r) => r.time >= middle.time).map((r) => r.seq),
      );
      const until = await get(
        `until=${encodeURIComponent(middle.time)}&limit=500`,
      );
      assert.deepEqual(
        until.items.map((r) => r.seq),
        all.filter((r) => r.time <= middle.time).map((r) => r.seq),
      );
      const pages: number[][] = [];
      let cursor: number | null = 0;
      while (cursor !== null) {
        const page: { items: AuditItem[]; next: number | null } = await get(
          `limit=3&after=${cursor}`,
        );
        pages.push(page.items.map((r) => r.seq));
        cursor = page.next;
      }
      assert.ok(pages.length > 3);
      assert.ok(pages.slice(0, -1).every((p) => p.length === 3));
      assert.deepEqual(pages.flat(), all.map((r) => r.seq));
    },
  );

  await t.step(
    "no API changes or deletes audit records: PUT, PATCH, DELETE are 405 and the log is unchanged",
    async () => {
      const seq = all[0]!.seq;
      for (const method of ["PUT", "PATCH", "DELETE", "POST"]) {
        for (const path of ["/api/v1/audit", `/api/v1/audit/${seq}`]) {
          const answer = await call(url, method, path, {
            bearer: admin,
            json: { actor: "nobody" },
          });
          assert.ok(
            answer.status === 405 || answer.status === 404,
            `${method} ${path}: ${answer.status}`,
          );
          if (path === "/api/v1/audit") assertProblem(answer, 405);
        }
      }
      const first = await call(url, "GET", "/api/v1/audit?limit=1", {
        bearer: admin,
      });
      assert.deepEqual((first.body["items"] as AuditItem[])[0], all[0]);
    },
  );

  await t.step(
    "stopped, the data directory holds the e-mail in no form a marker scan finds; the scan does find a user name",
    async () => {
      const nameMarker = marker("name").toLowerCase();
      await createUser(url, admin, nameMarker);
      assert.equal((await node.server.stop("SIGTERM")).code, 0);
      const local = email.split("@")[0]!;
      const found = await scanForMarkers(node.server.dataDir, [
        email,
        email.toLowerCase(),
        local,
        local.toLowerCase(),
        nameMarker,
      ]);
      assert.deepEqual(
        found.filter((f) => !f.endsWith(nameMarker)),
        [],
      );
      assert.ok(
        found.some((f) => f.endsWith(nameMarker)),
        "the scan reads the store (control)",
      );
      const logs = node.server.stdout() + node.server.stderr();
      assert.ok(
        !logs.toLowerCase().includes(local.toLowerCase()),
        "no e-mail in the logs",
      );
    },
  );
});
