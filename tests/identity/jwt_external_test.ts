import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import {
  createExternalVerifier,
  type ExternalIssuerConfig,
} from "../../identity/jwt.ts";

const ISSUER = "https://keycloak.test/realms/acme";
const AUDIENCE = "miranda";

// An external issuer: an RS256 key pair whose public half is served as a
// JWKS by a real HTTP server on loopback.
async function startIssuer() {
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  const jwk = { ...await exportJWK(publicKey), kid: "kc-1", alg: "RS256" };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) =>
      new URL(request.url).pathname === "/certs"
        ? Response.json({ keys: [jwk] })
        : new Response("not found", { status: 404 }),
  );
  const jwksUrl = `http://127.0.0.1:${server.addr.port}/certs`;
  const sign = (claims: JWTPayload, kid = "kc-1") =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(privateKey);
  return {
    jwksUrl,
    sign,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

function keycloakConfig(jwksUrl: string): ExternalIssuerConfig {
  return {
    issuer: ISSUER,
    jwksUrl,
    audience: AUDIENCE,
    roleClaim: ["realm_access", "roles"],
    roleMap: {
      "miranda-admin": ["admin"],
      "miranda-pub": ["publisher", "subscriber"],
    },
  };
}

Deno.test("external issuer: a token verified by its served JWKS maps roles and scopes", async () => {
  await using issuer = await startIssuer();
  const verify = createExternalVerifier(keycloakConfig(issuer.jwksUrl));
  const token = await issuer.sign({
    sub: "f81d4fae-7dec",
    scope: "openid events:publish",
    "realm_access": { roles: ["miranda-pub", "offline_access", "admin"] },
  });
  const result = await verify(token);
  assert.ok(result.ok);
  assert.deepEqual(result.claims, {
    issuer: ISSUER,
    subject: "f81d4fae-7dec",
    roles: ["publisher", "subscriber"],
    scopes: ["openid", "events:publish"],
  });
});

Deno.test("external issuer: a literal claim name with dots and an array scope claim are read", async () => {
  await using issuer = await startIssuer();
  const verify = createExternalVerifier({
    ...keycloakConfig(issuer.jwksUrl),
    roleClaim: "https://miranda.test/roles",
    scopeClaim: "scp",
  });
  const result = await verify(
    await issuer.sign({
      sub: "auth0|42",
      "https://miranda.test/roles": ["miranda-admin"],
      scp: ["admin", "topics:write"],
    }),
  );
  assert.ok(result.ok);
  assert.deepEqual(result.claims.roles, ["admin"]);
  assert.deepEqual(result.claims.scopes, ["admin", "topics:write"]);
});

Deno.test("external issuer: wrong issuer, wrong audience and unknown kid are refused", async () => {
  await using issuer = await startIssuer();
  const config = keycloakConfig(issuer.jwksUrl);
  const token = await issuer.sign({ sub: "u1" });
  const cases: [string, Partial<ExternalIssuerConfig>, string][] = [
    [token, { issuer: "https://other.test" }, "wrong_issuer"],
    [token, { audience: "someone-else" }, "wrong_audience"],
    [token, { algorithms: ["EdDSA"] }, "alg_not_allowed"],
    [await issuer.sign({ sub: "u1" }, "kc-2"), {}, "unknown_kid"],
  ];
  for (const [candidate, override, code] of cases) {
    const result = await createExternalVerifier({ ...config, ...override })(
      candidate,
    );
    assert.equal(result.ok ? "ok" : result.code, code, code);
  }
});

Deno.test("external issuer: an unreachable JWKS is reported as keys unavailable", async () => {
  let jwksUrl: string;
  let token: string;
  {
    await using issuer = await startIssuer();
    jwksUrl = issuer.jwksUrl;
    token = await issuer.sign({ sub: "u1" });
  }
  const result = await createExternalVerifier(keycloakConfig(jwksUrl))(token);
  assert.equal(result.ok ? "ok" : result.code, "keys_unavailable");
});
