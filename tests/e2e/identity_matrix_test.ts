import assert from "node:assert/strict";
import { TEST_PASSPHRASE } from "./harness.ts";
import {
  type Answer,
  assertProblem,
  call,
  createUser,
  login,
  signAssertion,
  startIdentityNode,
} from "../support/identity_client.ts";
import { generateUserKeyPair } from "../../identity/keys.ts";

/** Who calls: nobody, a plain user on someone else's resource, the user on their own, an admin's token without `admin`, an admin. */
type Caller = "anon" | "user" | "self" | "agent" | "admin";
const CALLERS: readonly Caller[] = ["anon", "user", "self", "agent", "admin"];

/** One endpoint: how to call it as each caller, and the status each caller must get. */
interface Row {
  method: string;
  path: string;
  /** The concrete path for a caller (resources made per caller). */
  at?: (caller: Caller) => string;
  body?: (caller: Caller) => Promise<unknown> | unknown;
  /** Each session caller logs in afresh (the call ends the session). */
  freshSession?: boolean;
  expect: Record<Caller, number>;
}

function row(
  method: string,
  path: string,
  statuses: [number, number, number, number, number],
  extra: Omit<Row, "method" | "path" | "expect"> = {},
): Row {
  const [anon, user, self, agent, admin] = statuses;
  return {
    method,
    path,
    expect: { anon, user, self, agent, admin },
    ...extra,
  };
}

Deno.test("identity e2e: authorisation matrix of every identity endpoint × (anonymous, another user, the user themself, an admin token lacking `admin`, admin), and bad input on each", async (t) => {
  await using node = await startIdentityNode();
  const { url } = node;
  const admin = await login(url, "admin", node.adminKeyPem);
  const pat = await createUser(url, admin, "pat", { roles: ["publisher"] });
  const sam = await createUser(url, admin, "sam", { roles: ["subscriber"] });
  const agentMint = await call(url, "POST", "/api/v1/agent-tokens", {
    bearer: admin,
    json: { user: "admin", scopes: ["topics:read", "events:read"] },
  });
  assert.equal(agentMint.status, 201, agentMint.text);

  const bearers: Record<Caller, string | undefined> = {
    anon: undefined,
    user: await login(url, "pat", pat.privateKeyPem),
    self: await login(url, "sam", sam.privateKeyPem),
    agent: String(agentMint.body["token"]),
    admin,
  };
  const keyPems: Partial<Record<Caller, string>> = {
    user: pat.privateKeyPem,
    self: sam.privateKeyPem,
    admin: node.adminKeyPem,
  };

  // Resources each caller acts on, so one caller's success does not
  // change what the next one meets.
  const keyIds: Partial<Record<Caller, string>> = {};
  const tokenIds: Partial<Record<Caller, string>> = {};
  for (const caller of CALLERS) {
    const added = await call(url, "POST", "/api/v1/users/sam/keys", {
      bearer: admin,
      json: {
        publicKey: (await generateUserKeyPair("Ed25519")).publicKeyPem,
      },
    });
    assert.equal(added.status, 201, added.text);
    const keys = added.body["keys"] as { id: string }[];
    keyIds[caller] = keys.at(-1)!.id;
    await createUser(url, admin, `victim-${caller}`);
    assert.equal(
      (await call(url, "POST", "/api/v1/groups", {
        bearer: admin,
        json: { name: `gone-${caller}` },
      })).status,
      201,
    );
    const minted = await call(url, "POST", "/api/v1/agent-tokens", {
      bearer: admin,
      json: { user: "pat", scopes: ["topics:read"] },
    });
    tokenIds[caller] = String(minted.body["id"]);
  }
  assert.equal(new Set(Object.values(keyIds)).size, CALLERS.length);

  const freshKey = async () => ({
    publicKey: (await generateUserKeyPair("Ed25519")).publicKeyPem,
  });
  //              method    path                                       anon user self agent admin
  const MATRIX: Row[] = [
    row("POST", "/api/v1/login", [201, 201, 201, 201, 201], {
      body: () => ({ user: "sam" }),
    }),
    row("GET", "/api/v1/session", [401, 200, 200, 200, 200]),
    row("POST", "/api/v1/token", [200, 200, 200, 200, 200], {
      body: async () => ({
        assertion: await signAssertion({
          user: "admin",
          privateKeyPem: node.adminKeyPem,
          alg: "RS256",
        }),
      }),
    }),
    row("GET", "/.well-known/jwks.json", [200, 200, 200, 200, 200]),
    row("POST", "/api/v1/users", [401, 403, 403, 403, 201], {
      body: async (caller) => ({
        name: `made-by-${caller}`,
        publicKey: (await freshKey()).publicKey,
      }),
    }),
    row("GET", "/api/v1/users", [401, 403, 403, 403, 200]),
    row("GET", "/api/v1/users/{name}", [401, 403, 200, 403, 200], {
      at: () => "/api/v1/users/sam",
    }),
    row("PATCH", "/api/v1/users/{name}", [401, 403, 403, 403, 200], {
      at: () => "/api/v1/users/sam",
      body: () => ({ groups: [] }),
    }),
    row("GET", "/api/v1/users/{name}/versions", [401, 403, 200, 403, 200], {
      at: () => "/api/v1/users/sam/versions",
    }),
    row("POST", "/api/v1/users/{name}/keys", [401, 403, 201, 403, 201], {
      at: () => "/api/v1/users/sam/keys",
      body: freshKey,
    }),
    row(
      "DELETE",
      "/api/v1/users/{name}/keys/{keyId}",
      [401, 403, 200, 403, 200],
      { at: (caller) => `/api/v1/users/sam/keys/${keyIds[caller]}` },
    ),
    row("DELETE", "/api/v1/users/{name}", [401, 403, 403, 403, 200], {
      at: (caller) =>
        caller === "self"
          ? "/api/v1/users/sam"
          : `/api/v1/users/victim-${caller}`,
    }),
    row("POST", "/api/v1/groups", [401, 403, 403, 403, 201], {
      body: (caller) => ({ name: `group-${caller}` }),
    }),
    row("GET", "/api/v1/groups", [401, 403, 403, 403, 200]),
    row("DELETE", "/api/v1/groups/{name}", [401, 403, 403, 403, 200], {
      at: (caller) => `/api/v1/groups/gone-${caller}`,
    }),
    row("POST", "/api/v1/agent-tokens", [401, 403, 403, 403, 201], {
      body: () => ({ user: "sam", scopes: ["topics:read"] }),
    }),
    row("GET", "/api/v1/agent-tokens", [401, 403, 403, 403, 200]),
    row("DELETE", "/api/v1/agent-tokens/{id}", [401, 403, 403, 403, 200], {
      at: (caller) => `/api/v1/agent-tokens/${tokenIds[caller]}`,
    }),
    row("GET", "/api/v1/audit", [401, 403, 403, 403, 200]),
    row("PUT", "/api/v1/audit", [405, 405, 405, 405, 405]),
    row("PATCH", "/api/v1/audit", [405, 405, 405, 405, 405]),
    row("DELETE", "/api/v1/audit", [405, 405, 405, 405, 405]),
    row("DELETE", "/api/v1/session", [401, 204, 204, 400, 204], {
      freshSession: true,
    }),
    // Last: the admin's seal takes effect, and the unseal row undoes it.
    row("POST", "/api/v1/seal", [401, 403, 403, 403, 200]),
    row("POST", "/api/v1/unseal", [200, 200, 200, 200, 200], {
      body: () => ({ passphrase: TEST_PASSPHRASE }),
    }),
  ];

  await t.step(
    "every endpoint answers every caller as the table says",
    async () => {
      const surprises: string[] = [];
      for (const entry of MATRIX) {
        for (const caller of CALLERS) {
          let bearer = bearers[caller];
          if (entry.freshSession && caller !== "anon" && caller !== "agent") {
            const name = caller === "user"
              ? "pat"
              : caller === "self"
              ? "sam"
              : "admin";
            bearer = await login(url, name, keyPems[caller]!);
          }
          const path = entry.at?.(caller) ?? entry.path;
          const body = entry.body ? await entry.body(caller) : undefined;
          const answer: Answer = await call(url, entry.method, path, {
            ...(bearer !== undefined ? { bearer } : {}),
            ...(body !== undefined ? { json: body } : {}),
          });
          const wanted = entry.expect[caller];
          if (answer.status !== wanted) {
            surprises.push(
              `${entry.method} ${path} as ${caller}: ${answer.status}, expected ${wanted}: ${
                answer.text.slice(0, 200)
              }`,
            );
          } else if (wanted >= 400) {
            assert.equal(answer.contentType, "application/problem+json");
          }
        }
      }
      assert.deepEqual(surprises, []);
      // The seal and unseal rows really sealed and unsealed the node.
      const ready = await call(url, "GET", "/api/v1/session", {
        bearer: admin,
      });
      assert.equal(ready.status, 200, ready.text);
    },
  );

  await t.step(
    "405 answers on the audit log name the allowed method",
    async () => {
      const answer = assertProblem(
        await call(url, "DELETE", "/api/v1/audit", { bearer: admin }),
        405,
      );
      assert.equal(answer.headers.get("allow"), "GET");
    },
  );

  const BAD_JSON = '{"name": "x",';
  const badInput: {
    what: string;
    method: string;
    path: string;
    json?: unknown;
    raw?: string;
    status: number;
    field?: string;
  }[] = [
    // Malformed JSON on every endpoint with a body.
    ...[
      ["POST", "/api/v1/login"],
      ["POST", "/api/v1/token"],
      ["POST", "/api/v1/users"],
      ["PATCH", "/api/v1/users/pat"],
      ["POST", "/api/v1/users/pat/keys"],
      ["POST", "/api/v1/groups"],
      ["POST", "/api/v1/agent-tokens"],
      ["POST", "/api/v1/unseal"],
    ].map(([method, path]) => ({
      what: "malformed JSON",
      method: method!,
      path: path!,
      raw: BAD_JSON,
      status: 400,
    })),
    // Unknown fields.
    ...[
      ["POST", "/api/v1/login", { user: "pat", password: "x" }],
      ["POST", "/api/v1/token", { assertion: "x".repeat(20), password: "x" }],
      ["POST", "/api/v1/users", {
        name: "newbie",
        publicKey: "x".repeat(40),
        password: "x",
      }],
      ["PATCH", "/api/v1/users/pat", { password: "x" }],
      ["POST", "/api/v1/users/pat/keys", {
        publicKey: "x".repeat(40),
        password: "x",
      }],
      ["POST", "/api/v1/groups", { name: "g", password: "x" }],
      ["POST", "/api/v1/agent-tokens", {
        user: "pat",
        scopes: ["topics:read"],
        password: "x",
      }],
      ["POST", "/api/v1/unseal", { passphrase: "x", password: "x" }],
    ].map(([method, path, json]) => ({
      what: "an unknown field",
      method: method as string,
      path: path as string,
      json,
      status: 400,
      field: "password",
    })),
    // Bad names, in bodies and paths, and other invalid fields.
    {
      what: "a bad user name",
      method: "POST",
      path: "/api/v1/login",
      json: { user: "Pat!" },
      status: 400,
      field: "user",
    },
    {
      what: "a bad user name",
      method: "POST",
      path: "/api/v1/users",
      json: { name: "Bad Name", publicKey: "x".repeat(40) },
      status: 400,
      field: "name",
    },
    {
      what: "a bad user name",
      method: "GET",
      path: "/api/v1/users/Bad!Name",
      status: 400,
      field: "name",
    },
    {
      what: "a bad user name",
      method: "PATCH",
      path: "/api/v1/users/Bad!Name",
      json: {},
      status: 400,
      field: "name",
    },
    {
      what: "a bad user name",
      method: "DELETE",
      path: "/api/v1/users/-pat",
      status: 400,
      field: "name",
    },
    {
      what: "a bad user name",
      method: "GET",
      path: "/api/v1/users/Bad!Name/versions",
      status: 400,
      field: "name",
    },
    {
      what: "a bad group name",
      method: "POST",
      path: "/api/v1/groups",
      json: { name: "Ops Team" },
      status: 400,
      field: "name",
    },
    {
      what: "a bad group name",
      method: "DELETE",
      path: "/api/v1/groups/Ops!",
      status: 400,
      field: "name",
    },
    {
      what: "a bad group in a user",
      method: "PATCH",
      path: "/api/v1/users/pat",
      json: { groups: ["Ops!"] },
      status: 400,
      field: "groups.0",
    },
    {
      what: "a bad agent token id",
      method: "DELETE",
      path: "/api/v1/agent-tokens/not-a-uuid",
      status: 400,
      field: "id",
    },
    {
      what: "no scopes",
      method: "POST",
      path: "/api/v1/agent-tokens",
      json: { user: "pat", scopes: [] },
      status: 400,
      field: "scopes",
    },
    {
      what: "an unknown scope",
      method: "POST",
      path: "/api/v1/agent-tokens",
      json: { user: "pat", scopes: ["root"] },
      status: 400,
    },
    {
      what: "a public key that is not PEM",
      method: "POST",
      path: "/api/v1/users",
      json: { name: "newbie", publicKey: "x".repeat(40) },
      status: 400,
    },
    {
      what: "a private key as the public key",
      method: "POST",
      path: "/api/v1/users/pat/keys",
      json: { publicKey: pat.privateKeyPem },
      status: 400,
    },
    {
      what: "a bad e-mail",
      method: "PATCH",
      path: "/api/v1/users/pat",
      json: { email: "not an e-mail" },
      status: 400,
    },
    {
      what: "a bad version",
      method: "PATCH",
      path: "/api/v1/users/pat",
      json: { expectedVersion: 0 },
      status: 400,
      field: "expectedVersion",
    },
    {
      what: "a bad limit",
      method: "GET",
      path: "/api/v1/audit?limit=0",
      status: 400,
      field: "limit",
    },
    {
      what: "a bad time",
      method: "GET",
      path: "/api/v1/audit?since=yesterday",
      status: 400,
      field: "since",
    },
    {
      what: "a bad cursor",
      method: "GET",
      path: "/api/v1/users?after=Bad!",
      status: 400,
      field: "after",
    },
    // Unknown resources.
    {
      what: "an unknown user",
      method: "GET",
      path: "/api/v1/users/ghost",
      status: 404,
    },
    {
      what: "an unknown user",
      method: "PATCH",
      path: "/api/v1/users/ghost",
      json: { groups: [] },
      status: 404,
    },
    {
      what: "an unknown user",
      method: "DELETE",
      path: "/api/v1/users/ghost",
      status: 404,
    },
    {
      what: "an unknown user",
      method: "GET",
      path: "/api/v1/users/ghost/versions",
      status: 404,
    },
    {
      what: "an unknown user",
      method: "POST",
      path: "/api/v1/users/ghost/keys",
      json: await freshKey(),
      status: 404,
    },
    {
      what: "an unknown key",
      method: "DELETE",
      path: "/api/v1/users/pat/keys/no-such-key",
      status: 404,
    },
    {
      what: "an unknown group",
      method: "DELETE",
      path: "/api/v1/groups/ghost",
      status: 404,
    },
    {
      what: "an unknown user",
      method: "POST",
      path: "/api/v1/agent-tokens",
      json: { user: "ghost", scopes: ["topics:read"] },
      status: 404,
    },
    {
      what: "an unknown agent token",
      method: "DELETE",
      path: `/api/v1/agent-tokens/${crypto.randomUUID()}`,
      status: 404,
    },
    // Duplicates.
    {
      what: "a duplicate user",
      method: "POST",
      path: "/api/v1/users",
      json: { name: "pat", publicKey: (await freshKey()).publicKey },
      status: 409,
    },
    {
      what: "a duplicate key",
      method: "POST",
      path: "/api/v1/users/pat/keys",
      json: { publicKey: pat.publicKeyPem },
      status: 409,
    },
    {
      what: "a duplicate group",
      method: "POST",
      path: "/api/v1/groups",
      json: { name: "group-admin" },
      status: 409,
    },
  ];
  for (const input of badInput) {
    await t.step(
      `${input.method} ${input.path} with ${input.what} → ${input.status}${
        input.field ? ` naming "${input.field}"` : ""
      }`,
      async () => {
        const answer = assertProblem(
          await call(url, input.method, input.path, {
            bearer: admin,
            ...(input.json !== undefined ? { json: input.json } : {}),
            ...(input.raw !== undefined ? { raw: input.raw } : {}),
          }),
          input.status,
        );
        if (input.field !== undefined) {
          assert.match(
            String(answer.body["detail"]),
            new RegExp(`"${input.field.replaceAll(".", "\\.")}"`),
            answer.text,
          );
          const fields = (answer.body["errors"] as { field: string }[]).map((
            e,
          ) => e.field);
          assert.ok(fields.includes(input.field), answer.text);
        }
      },
    );
  }

  await t.step(
    "a duplicate e-mail is 409, and the e-mail is matched case-insensitively",
    async () => {
      const first = await call(url, "PATCH", "/api/v1/users/pat", {
        bearer: admin,
        json: { email: "pat@example.test" },
      });
      assert.equal(first.status, 200, first.text);
      assertProblem(
        await call(url, "POST", "/api/v1/users", {
          bearer: admin,
          json: {
            name: "pat-twin",
            publicKey: (await freshKey()).publicKey,
            email: "PAT@Example.TEST",
          },
        }),
        409,
      );
    },
  );
});
