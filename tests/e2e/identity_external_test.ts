import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import {
  assertProblem,
  call,
  startIdentityNode,
} from "../support/identity_client.ts";

const ISSUER = "https://idp.example.test/realms/ops";
const AUDIENCE = "miranda-api";

Deno.test("identity e2e: tokens of an external issuer, with its JWKS served on loopback, are accepted with mapped roles; wrong audience, foreign keys and unmapped roles are not", async (t) => {
  const idpKey = await generateKeyPair("RS256", { extractable: true });
  const publicJwk = {
    ...await exportJWK(idpKey.publicKey),
    kid: "idp-1",
    alg: "RS256",
    use: "sig",
  };
  let jwksFetches = 0;
  await using jwks = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => {
      if (new URL(req.url).pathname !== "/jwks.json") {
        return new Response("not found", { status: 404 });
      }
      jwksFetches++;
      return Response.json({ keys: [publicJwk] });
    },
  );
  const jwksUrl = `http://127.0.0.1:${jwks.addr.port}/jwks.json`;
  await using node = await startIdentityNode([
    "--external-issuers",
    JSON.stringify([{
      issuer: ISSUER,
      jwksUrl,
      audience: AUDIENCE,
      roleClaim: "roles",
      roleMap: { ops: ["admin"] },
    }]),
  ]);
  const { url } = node;

  const sign = async (
    claims: JWTPayload,
    options: { key?: CryptoKey; kid?: string; audience?: string } = {},
  ) => {
    const now = Math.floor(Date.now() / 1000);
    return await new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: options.kid ?? "idp-1" })
      .setIssuer(ISSUER)
      .setSubject(String(claims.sub ?? "carol"))
      .setAudience(options.audience ?? AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(options.key ?? idpKey.privateKey);
  };

  await t.step(
    "a token with a mapped role is accepted: the external subject gets the mapped roles and the token's scopes",
    async () => {
      const token = await sign({ roles: ["ops"], scope: "admin topics:read" });
      const me = await call(url, "GET", "/api/v1/session", { bearer: token });
      assert.equal(me.status, 200, me.text);
      assert.deepEqual(me.body, {
        user: "ext:carol",
        roles: ["admin"],
        groups: [],
        scopes: ["admin", "topics:read"],
        via: "jwt",
      });
      const users = await call(url, "GET", "/api/v1/users", { bearer: token });
      assert.equal(users.status, 200, users.text);
      assert.ok(jwksFetches >= 1, "Miranda fetched the issuer's JWKS");
    },
  );

  await t.step(
    "a token for another audience is refused 401 problem+json",
    async () => {
      const token = await sign({ roles: ["ops"], scope: "admin" }, {
        audience: "someone-else",
      });
      assertProblem(
        await call(url, "GET", "/api/v1/session", { bearer: token }),
        401,
      );
    },
  );

  await t.step(
    "a token signed by a key the issuer does not publish, or naming an unknown kid, is refused 401",
    async () => {
      const foreign = await generateKeyPair("RS256");
      for (
        const token of [
          await sign({ roles: ["ops"], scope: "admin" }, {
            key: foreign.privateKey,
          }),
          await sign({ roles: ["ops"], scope: "admin" }, {
            key: foreign.privateKey,
            kid: "idp-2",
          }),
        ]
      ) {
        assertProblem(
          await call(url, "GET", "/api/v1/users", { bearer: token }),
          401,
        );
      }
    },
  );

  await t.step(
    "a token from an issuer that is not configured is refused 401",
    async () => {
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ roles: ["ops"], scope: "admin" })
        .setProtectedHeader({ alg: "RS256", kid: "idp-1" })
        .setIssuer("https://evil.example.test/")
        .setSubject("carol").setAudience(AUDIENCE)
        .setIssuedAt(now).setExpirationTime(now + 300)
        .sign(idpKey.privateKey);
      assertProblem(
        await call(url, "GET", "/api/v1/session", { bearer: token }),
        401,
      );
    },
  );

  await t.step(
    "a token whose role is not mapped authenticates but gets 403 on an admin call",
    async () => {
      const token = await sign({
        sub: "dave",
        roles: ["viewer"],
        scope: "admin",
      });
      const me = await call(url, "GET", "/api/v1/session", { bearer: token });
      assert.equal(me.status, 200, me.text);
      assert.equal(me.body["user"], "ext:dave");
      assert.deepEqual(me.body["roles"], []);
      assertProblem(
        await call(url, "GET", "/api/v1/users", { bearer: token }),
        403,
      );
      assertProblem(
        await call(url, "POST", "/api/v1/seal", { bearer: token }),
        403,
      );
    },
  );
});
