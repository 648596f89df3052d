import assert from "node:assert/strict";
import {
  createLocalJWKSet,
  type JSONWebKeySet,
  jwtVerify,
  SignJWT,
} from "jose";
import {
  accessToken,
  assertProblem,
  call,
  createUser,
  exchange,
  login,
  signAssertion,
  startIdentityNode,
  type TestUser,
  unsignedAssertion,
} from "../support/identity_client.ts";
import { generateUserKeyPair } from "../../identity/keys.ts";
import { hashToken } from "../../identity/login_token.ts";

const NON_ADMIN_SCOPES = [
  "topics:read",
  "topics:write",
  "events:publish",
  "events:read",
  "subscriptions:read",
  "subscriptions:write",
];

Deno.test("identity e2e: JWT exchange (RS256, EdDSA), every rejection, agent tokens, and deleted users locked out at once, on a real node", async (t) => {
  await using node = await startIdentityNode();
  const { url } = node;
  const admin = await login(url, "admin", node.adminKeyPem);
  const rsa = await createUser(url, admin, "rsa-user", {
    roles: ["publisher"],
  });
  const ed = await createUser(url, admin, "ed-user", {
    algorithm: "Ed25519",
    roles: ["subscriber"],
  });
  const adminUser: TestUser = {
    name: "admin",
    algorithm: "RSA",
    privateKeyPem: node.adminKeyPem,
    publicKeyPem: "",
  };

  await t.step(
    "an RS256 assertion is exchanged for an access token that works on /api/v1/session with the user's scopes",
    async () => {
      const answer = await exchange(
        url,
        await signAssertion({
          user: rsa.name,
          privateKeyPem: rsa.privateKeyPem,
          alg: "RS256",
        }),
      );
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.body["token_type"], "Bearer");
      const expiresIn = Number(answer.body["expires_in"]);
      assert.ok(expiresIn > 890 && expiresIn <= 900, String(expiresIn));
      assert.equal(answer.body["scope"], NON_ADMIN_SCOPES.join(" "));
      const me = await call(url, "GET", "/api/v1/session", {
        bearer: String(answer.body["access_token"]),
      });
      assert.equal(me.status, 200, me.text);
      assert.deepEqual(me.body, {
        user: "rsa-user",
        roles: ["publisher"],
        groups: [],
        scopes: NON_ADMIN_SCOPES,
        via: "jwt",
      });
    },
  );

  await t.step(
    "an EdDSA (Ed25519) assertion is exchanged for exactly the scopes asked for; the token verifies against the published JWKS",
    async () => {
      const answer = await exchange(
        url,
        await signAssertion({
          user: ed.name,
          privateKeyPem: ed.privateKeyPem,
          alg: "EdDSA",
        }),
        "topics:read events:read",
      );
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.body["scope"], "topics:read events:read");
      const token = String(answer.body["access_token"]);
      const me = await call(url, "GET", "/api/v1/session", { bearer: token });
      assert.equal(me.status, 200, me.text);
      assert.equal(me.body["user"], "ed-user");
      assert.equal(me.body["via"], "jwt");
      assert.deepEqual(me.body["scopes"], ["topics:read", "events:read"]);

      const jwks = await call(url, "GET", "/.well-known/jwks.json");
      assert.equal(jwks.status, 200, jwks.text);
      const { payload, protectedHeader } = await jwtVerify(
        token,
        createLocalJWKSet(jwks.body as unknown as JSONWebKeySet),
        { issuer: "miranda", audience: "miranda" },
      );
      assert.equal(protectedHeader.alg, "EdDSA");
      assert.equal(payload.sub, "ed-user");
      assert.equal(payload["scope"], "topics:read events:read");
      for (const key of (jwks.body["keys"] as Record<string, unknown>[])) {
        assert.equal(key["d"], undefined, "the JWKS holds no private part");
      }
    },
  );

  await t.step(
    "scopes narrow and never widen: an admin token without `admin` is refused an admin call; a user may not ask for `admin`",
    async () => {
      const narrow = await accessToken(url, adminUser, "topics:read");
      assertProblem(
        await call(url, "GET", "/api/v1/users", { bearer: narrow }),
        403,
      );
      const wide = await accessToken(url, adminUser, "admin");
      const users = await call(url, "GET", "/api/v1/users", { bearer: wide });
      assert.equal(users.status, 200, users.text);
      const refused = assertProblem(
        await exchange(
          url,
          await signAssertion({
            user: rsa.name,
            privateKeyPem: rsa.privateKeyPem,
            alg: "RS256",
          }),
          "admin",
        ),
        403,
      );
      assert.equal(refused.body["reason"], "scope_not_allowed");
    },
  );

  const rejections: {
    name: string;
    reason: string;
    assertion: () => Promise<string>;
  }[] = [
    {
      name: "alg none",
      reason: "alg_not_allowed",
      assertion: () => Promise.resolve(unsignedAssertion(rsa.name)),
    },
    {
      name: "HS256 with the public key as the secret",
      reason: "alg_not_allowed",
      assertion: async () => {
        const now = Math.floor(Date.now() / 1000);
        return await new SignJWT({})
          .setProtectedHeader({ alg: "HS256" })
          .setIssuer(rsa.name).setSubject(rsa.name).setAudience("miranda")
          .setIssuedAt(now).setExpirationTime(now + 60).setJti(
            crypto.randomUUID(),
          )
          .sign(new TextEncoder().encode(rsa.publicKeyPem));
      },
    },
    {
      name: "wrong aud",
      reason: "wrong_audience",
      assertion: () =>
        signAssertion({
          user: rsa.name,
          privateKeyPem: rsa.privateKeyPem,
          alg: "RS256",
          audience: "someone-else",
        }),
    },
    {
      name: "iss is not sub",
      reason: "wrong_issuer",
      assertion: () =>
        signAssertion({
          user: rsa.name,
          privateKeyPem: rsa.privateKeyPem,
          alg: "RS256",
          issuer: "admin",
        }),
    },
    {
      name: "sub names another user than the signer",
      reason: "bad_signature",
      assertion: () =>
        signAssertion({
          user: "admin",
          privateKeyPem: rsa.privateKeyPem,
          alg: "RS256",
        }),
    },
    {
      name: "expired",
      reason: "expired",
      assertion: () =>
        signAssertion({
          user: rsa.name,
          privateKeyPem: rsa.privateKeyPem,
          alg: "RS256",
          iat: -200,
          exp: -100,
        }),
    },
    {
      name: "not yet valid (nbf in the future)",
      reason: "not_yet_valid",
      assertion: () =>
        signAssertion({
          user: rsa.name,
          privateKeyPem: rsa.privateKeyPem,
          alg: "RS256",
          nbf: 120,
          exp: 240,
        }),
    },
    {
      name: "lifetime over 5 minutes",
      reason: "lifetime_too_long",
      assertion: () =>
        signAssertion({
          user: ed.name,
          privateKeyPem: ed.privateKeyPem,
          alg: "EdDSA",
          exp: 301 + 60,
        }),
    },
    {
      name: "signed by a key that is not registered",
      reason: "bad_signature",
      assertion: async () =>
        signAssertion({
          user: rsa.name,
          privateKeyPem: (await generateUserKeyPair("RSA", {
            modulusBits: 2048,
          })).privateKeyPem,
          alg: "RS256",
        }),
    },
    {
      name: "unknown kid: an algorithm the user has no key for",
      reason: "bad_signature",
      assertion: async () =>
        signAssertion({
          user: ed.name,
          privateKeyPem: (await generateUserKeyPair("RSA", {
            modulusBits: 2048,
          })).privateKeyPem,
          alg: "RS256",
          kid: "no-such-key",
        }),
    },
    {
      name: "unknown user",
      reason: "bad_signature",
      assertion: () =>
        signAssertion({
          user: "nobody-here",
          privateKeyPem: rsa.privateKeyPem,
          alg: "RS256",
        }),
    },
  ];
  for (const rejection of rejections) {
    await t.step(
      `an assertion with ${rejection.name} is refused 401 problem+json (${rejection.reason})`,
      async () => {
        const answer = assertProblem(
          await exchange(url, await rejection.assertion()),
          401,
          rejection.name,
        );
        assert.equal(answer.body["reason"], rejection.reason, answer.text);
      },
    );
  }

  await t.step(
    "the token endpoint does not tell unknown users from known ones: a stranger's key gets the same answer for either",
    async () => {
      const stranger = await generateUserKeyPair("RSA", { modulusBits: 2048 });
      const answers = [];
      for (const user of ["nobody-here", rsa.name, ed.name]) {
        const answer = assertProblem(
          await exchange(
            url,
            await signAssertion({
              user,
              privateKeyPem: stranger.privateKeyPem,
              alg: "RS256",
            }),
          ),
          401,
          user,
        );
        answers.push({
          reason: answer.body["reason"],
          detail: String(answer.body["detail"]).replaceAll(user, "USER"),
        });
      }
      assert.deepEqual(answers[1], answers[0]);
      assert.deepEqual(answers[2], answers[0]);
    },
  );

  await t.step(
    "an assertion's jti is never reused: the same assertion twice, and a new one with the same jti, are refused",
    async () => {
      const jti = crypto.randomUUID();
      const first = await signAssertion({
        user: ed.name,
        privateKeyPem: ed.privateKeyPem,
        alg: "EdDSA",
        jti,
      });
      assert.equal((await exchange(url, first)).status, 200);
      const again = assertProblem(await exchange(url, first), 401);
      assert.equal(again.body["reason"], "replayed");
      const same = await signAssertion({
        user: ed.name,
        privateKeyPem: ed.privateKeyPem,
        alg: "EdDSA",
        jti,
        exp: 200,
      });
      assert.equal(
        assertProblem(await exchange(url, same), 401).body["reason"],
        "replayed",
      );
    },
  );

  await t.step(
    "a tampered access token is refused 401 problem+json (payload, signature, header)",
    async () => {
      const token = await accessToken(url, rsa);
      const [header, payload, signature] = token.split(".") as [
        string,
        string,
        string,
      ];
      const claims = JSON.parse(
        new TextDecoder().decode(
          Uint8Array.fromBase64(payload, { alphabet: "base64url" }),
        ),
      );
      const forged = new TextEncoder().encode(
        JSON.stringify({ ...claims, sub: "admin", scope: "admin" }),
      ).toBase64({ alphabet: "base64url", omitPadding: true });
      const flipped = signature.slice(0, 10) +
        (signature[10] === "A" ? "B" : "A") + signature.slice(11);
      const none = new TextEncoder().encode(
        JSON.stringify({ alg: "none", typ: "at+jwt" }),
      ).toBase64({ alphabet: "base64url", omitPadding: true });
      for (
        const bad of [
          `${header}.${forged}.${signature}`,
          `${header}.${payload}.${flipped}`,
          `${none}.${payload}.`,
          `${none}.${forged}.${signature}`,
        ]
      ) {
        assertProblem(
          await call(url, "GET", "/api/v1/session", { bearer: bad }),
          401,
          bad,
        );
      }
      // The untampered token still works, so the refusals are the tampering's.
      assert.equal(
        (await call(url, "GET", "/api/v1/session", { bearer: token })).status,
        200,
      );
    },
  );

  await t.step(
    "agent tokens: minted by an admin as mat_…, shown once, carry exactly their scopes, never listed, revoked → 401",
    async () => {
      const minted = await call(url, "POST", "/api/v1/agent-tokens", {
        bearer: admin,
        json: { user: "admin", scopes: ["topics:read"], description: "ci" },
      });
      assert.equal(minted.status, 201, minted.text);
      const token = String(minted.body["token"]);
      const id = String(minted.body["id"]);
      assert.match(token, /^mat_[A-Za-z0-9_-]{43}$/);
      const me = await call(url, "GET", "/api/v1/session", { bearer: token });
      assert.equal(me.status, 200, me.text);
      assert.deepEqual(me.body, {
        user: "admin",
        roles: ["admin"],
        groups: [],
        scopes: ["topics:read"],
        via: "agent",
      });
      // An admin user's token without the `admin` scope may not do admin calls.
      assertProblem(
        await call(url, "GET", "/api/v1/users", { bearer: token }),
        403,
      );
      assertProblem(
        await call(url, "POST", "/api/v1/agent-tokens", {
          bearer: token,
          json: { user: "admin", scopes: ["admin"] },
        }),
        403,
      );
      const adminScoped = await call(url, "POST", "/api/v1/agent-tokens", {
        bearer: admin,
        json: { user: "admin", scopes: ["admin"] },
      });
      assert.equal(adminScoped.status, 201, adminScoped.text);
      const list = await call(url, "GET", "/api/v1/agent-tokens", {
        bearer: String(adminScoped.body["token"]),
      });
      assert.equal(list.status, 200, list.text);
      const items = list.body["items"] as Record<string, unknown>[];
      assert.ok(items.some((item) => item["id"] === id), list.text);
      const hash = await hashToken(token);
      for (
        const secret of [
          token,
          token.slice(4),
          hash,
          String(adminScoped.body["token"]),
          await hashToken(String(adminScoped.body["token"])),
        ]
      ) {
        assert.ok(!list.text.includes(secret), `listing shows ${secret}`);
      }
      for (const item of items) {
        assert.deepEqual(
          Object.keys(item).filter((k) => /token|hash/i.test(k)),
          [],
          JSON.stringify(item),
        );
      }
      const revoked = await call(url, "DELETE", `/api/v1/agent-tokens/${id}`, {
        bearer: admin,
      });
      assert.equal(revoked.status, 200, revoked.text);
      assertProblem(
        await call(url, "GET", "/api/v1/session", { bearer: token }),
        401,
      );
      assertProblem(
        await call(url, "DELETE", `/api/v1/agent-tokens/${id}`, {
          bearer: admin,
        }),
        404,
      );
    },
  );

  await t.step(
    "a deleted user is locked out at once: their sessions, agent tokens and access JWTs get 401, also after the name is reused",
    async () => {
      const doomed = await createUser(url, admin, "doomed", {
        roles: ["publisher"],
      });
      const session = await login(url, "doomed", doomed.privateKeyPem);
      const jwt = await accessToken(url, doomed);
      const minted = await call(url, "POST", "/api/v1/agent-tokens", {
        bearer: admin,
        json: { user: "doomed", scopes: ["topics:read"] },
      });
      assert.equal(minted.status, 201, minted.text);
      const agent = String(minted.body["token"]);
      const credentials = { session, jwt, agent };
      for (const [kind, bearer] of Object.entries(credentials)) {
        const me = await call(url, "GET", "/api/v1/session", { bearer });
        assert.equal(me.status, 200, `${kind}: ${me.text}`);
      }
      const deleted = await call(url, "DELETE", "/api/v1/users/doomed", {
        bearer: admin,
      });
      assert.equal(deleted.status, 200, deleted.text);
      for (const [kind, bearer] of Object.entries(credentials)) {
        assertProblem(
          await call(url, "GET", "/api/v1/session", { bearer }),
          401,
          kind,
        );
      }
    },
  );

  await t.step(
    "a user deleted and at once re-created under the same name does not inherit the old user's sessions, agent tokens or access JWTs",
    async () => {
      const old = await createUser(url, admin, "reborn", { roles: ["admin"] });
      const credentials = {
        session: await login(url, "reborn", old.privateKeyPem),
        jwt: await accessToken(url, old),
        agent: String(
          (await call(url, "POST", "/api/v1/agent-tokens", {
            bearer: admin,
            json: { user: "reborn", scopes: ["admin"] },
          })).body["token"],
        ),
      };
      for (const [kind, bearer] of Object.entries(credentials)) {
        const me = await call(url, "GET", "/api/v1/session", { bearer });
        assert.equal(me.status, 200, `${kind}: ${me.text}`);
      }
      const deleted = await call(url, "DELETE", "/api/v1/users/reborn", {
        bearer: admin,
      });
      assert.equal(deleted.status, 200, deleted.text);
      await createUser(url, admin, "reborn", { roles: [] });
      for (const [kind, bearer] of Object.entries(credentials)) {
        assertProblem(
          await call(url, "GET", "/api/v1/session", { bearer }),
          401,
          `${kind} of the old "reborn"`,
        );
      }
    },
  );
});
