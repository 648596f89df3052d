import assert from "node:assert/strict";
import {
  base64url,
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  importJWK,
  importPKCS8,
  type JWTPayload,
  SignJWT,
} from "jose";
import { generateUserKeyPair, parsePublicKey } from "../../identity/keys.ts";
import {
  type AssertionKey,
  assertionSubject,
  JtiCache,
  newAgentToken,
  SigningKeys,
  SigningKeysImportError,
  verifyAccessToken,
  verifyClientAssertion,
  type VerifyClientAssertionOptions,
  type VerifyResult,
} from "../../identity/jwt.ts";
import { hashToken } from "../../identity/login_token.ts";

const ISSUER = "https://miranda.test";
const AUDIENCE = "miranda";
const T0 = Date.UTC(2030, 0, 1);

function fakeClock(start = T0): { now(): number; advance(ms: number): void } {
  let time = start;
  return {
    now: () => time,
    advance: (ms) => {
      time += ms;
    },
  };
}

function failureCode<T>(result: VerifyResult<T>): string {
  return result.ok ? "ok" : result.code;
}

const baseInput = {
  sub: "alice",
  scope: ["topics:write", "events:publish"],
  roles: ["publisher"],
  issuer: ISSUER,
  audience: AUDIENCE,
};

// Signs arbitrary claims with the keys' active private key, to forge the
// tokens Miranda itself would never issue.
async function signWithActiveKey(
  keys: SigningKeys,
  payload: JWTPayload,
  header: Record<string, unknown> = {},
): Promise<string> {
  const exported = JSON.parse(keys.export()) as {
    keys: { kid: string; privateJwk: Record<string, string> }[];
  };
  const active = exported.keys.at(-1)!;
  const key = await importJWK(active.privateJwk, "EdDSA");
  return new SignJWT(payload)
    .setProtectedHeader({
      alg: "EdDSA",
      kid: active.kid,
      typ: "at+jwt",
      ...header,
    })
    .sign(key);
}

Deno.test("access token: an issued token verifies and carries scopes and roles", async () => {
  const clock = fakeClock();
  const keys = await SigningKeys.generate({ clock });
  const issued = await keys.issueAccessToken(baseInput);
  assert.equal(issued.expiresAt, T0 + 900_000);
  const header = decodeProtectedHeader(issued.token);
  assert.deepEqual(header, {
    alg: "EdDSA",
    kid: keys.activeKid,
    typ: "at+jwt",
  });
  const result = await verifyAccessToken(issued.token, {
    keys,
    issuer: ISSUER,
    audience: AUDIENCE,
    clock,
  });
  assert.ok(result.ok);
  assert.deepEqual(result.claims, {
    iss: ISSUER,
    sub: "alice",
    aud: AUDIENCE,
    iat: T0 / 1000,
    exp: T0 / 1000 + 900,
    jti: issued.jti,
    scope: ["topics:write", "events:publish"],
    roles: ["publisher"],
  });
  assert.equal(decodeJwt(issued.token)["scope"], "topics:write events:publish");
});

Deno.test("access token: rejections each have their own code", async () => {
  const clock = fakeClock();
  const keys = await SigningKeys.generate({ clock });
  const other = await SigningKeys.generate({ clock });
  const { token } = await keys.issueAccessToken(baseInput);
  const options = { keys, issuer: ISSUER, audience: AUDIENCE, clock };
  const [head, body, signature] = token.split(".");
  const tampered = `${head}.${
    base64url.encode(JSON.stringify({ ...decodeJwt(token), sub: "admin" }))
  }.${signature}`;
  const unsigned = `${
    base64url.encode(JSON.stringify({ alg: "none", typ: "at+jwt" }))
  }.${body}.`;
  const hmac = await new SignJWT(decodeJwt(token))
    .setProtectedHeader({ alg: "HS256", kid: keys.activeKid })
    .sign(new TextEncoder().encode("a-shared-secret-of-32-bytes-long"));
  const noTyp = await signWithActiveKey(keys, decodeJwt(token), {
    typ: "JWT",
  });
  const { jti: _jti, ...withoutJti } = decodeJwt(token);
  const noJti = await signWithActiveKey(keys, withoutJti);
  const cases: [string, string, Partial<typeof options>][] = [
    [tampered, "bad_signature", {}],
    [unsigned, "alg_not_allowed", {}],
    [hmac, "alg_not_allowed", {}],
    [(await other.issueAccessToken(baseInput)).token, "unknown_kid", {}],
    [token, "wrong_audience", { audience: "someone-else" }],
    [token, "wrong_issuer", { issuer: "https://evil.test" }],
    ["not.a.jwt", "malformed", {}],
    ["", "malformed", {}],
    [noTyp, "malformed", {}],
    [noJti, "missing_claim", {}],
  ];
  for (const [candidate, code, override] of cases) {
    const result = await verifyAccessToken(candidate, {
      ...options,
      ...override,
    });
    assert.equal(failureCode(result), code, `expected ${code}`);
    assert.ok(!result.ok && result.detail.length > 0);
  }
});

Deno.test("access token: expiry and not-before are judged on the injected clock with tolerance", async () => {
  const clock = fakeClock();
  const keys = await SigningKeys.generate({ clock });
  const { token } = await keys.issueAccessToken({
    ...baseInput,
    ttlSeconds: 60,
  });
  const verify = (at: number) =>
    verifyAccessToken(token, {
      keys,
      issuer: ISSUER,
      audience: AUDIENCE,
      clockToleranceSec: 5,
      clock: { now: () => at },
    });
  assert.equal(failureCode(await verify(T0 + 64_000)), "ok");
  assert.equal(failureCode(await verify(T0 + 65_000)), "expired");
  assert.equal(failureCode(await verify(T0 - 5_000)), "ok");
  assert.equal(failureCode(await verify(T0 - 6_000)), "not_yet_valid");
});

Deno.test("signing keys: after rotation old tokens verify until the retention ends, then the kid is gone", async () => {
  const clock = fakeClock();
  const keys = await SigningKeys.generate({ clock, retainMs: 3_600_000 });
  const oldKid = keys.activeKid;
  const old = await keys.issueAccessToken(baseInput);
  const newKid = await keys.rotate();
  assert.notEqual(newKid, oldKid);
  assert.equal(keys.activeKid, newKid);
  const fresh = await keys.issueAccessToken(baseInput);
  assert.equal(decodeProtectedHeader(fresh.token).kid, newKid);
  assert.deepEqual(keys.jwks().keys.map((key) => key.kid), [oldKid, newKid]);
  const verify = (token: string) =>
    verifyAccessToken(token, {
      keys,
      issuer: ISSUER,
      audience: AUDIENCE,
      clockToleranceSec: 0,
      clock,
    });
  clock.advance(899_000);
  assert.equal(failureCode(await verify(old.token)), "ok");
  clock.advance(3_600_000 - 899_000);
  assert.deepEqual(keys.jwks().keys.map((key) => key.kid), [newKid]);
  assert.equal(failureCode(await verify(old.token)), "unknown_kid");
});

Deno.test("signing keys: the JWKS holds public Ed25519 keys only", async () => {
  const keys = await SigningKeys.generate();
  const [jwk, ...rest] = keys.jwks().keys;
  assert.equal(rest.length, 0);
  assert.deepEqual(Object.keys(jwk!).sort(), [
    "alg",
    "crv",
    "kid",
    "kty",
    "use",
    "x",
  ]);
  assert.equal(jwk!.crv, "Ed25519");
  assert.equal(jwk!.alg, "EdDSA");
});

Deno.test("signing keys: export and import round-trip; a JWKS getter verifies the imported keys' tokens", async () => {
  const clock = fakeClock();
  const keys = await SigningKeys.generate({ clock });
  const before = await keys.issueAccessToken(baseInput);
  await keys.rotate();
  const copy = await SigningKeys.import(keys.export(), { clock });
  assert.equal(copy.activeKid, keys.activeKid);
  assert.deepEqual(copy.jwks(), keys.jwks());
  const after = await copy.issueAccessToken(baseInput);
  const jwksGetter = createLocalJWKSet(keys.jwks());
  for (const { token } of [before, after]) {
    const result = await verifyAccessToken(token, {
      jwksGetter,
      issuer: ISSUER,
      audience: AUDIENCE,
      clock,
    });
    assert.equal(failureCode(result), "ok");
  }
});

Deno.test("signing keys: import refuses garbage and a kid that does not match its key", async () => {
  const keys = await SigningKeys.generate();
  const exported = JSON.parse(keys.export());
  exported.keys[0].kid = "forged";
  for (const json of ["{", "{}", JSON.stringify(exported)]) {
    await assert.rejects(SigningKeys.import(json), SigningKeysImportError);
  }
});

Deno.test("signing keys: a lifetime longer than the key retention is refused", async () => {
  const keys = await SigningKeys.generate({ retainMs: 600_000 });
  await assert.rejects(
    keys.issueAccessToken({ ...baseInput, ttlSeconds: 601 }),
    RangeError,
  );
  await assert.rejects(
    keys.issueAccessToken({ ...baseInput, ttlSeconds: 0 }),
    RangeError,
  );
});

// ---------------------------------------------------------------------------
// Client assertions

const rsaPair = await generateUserKeyPair("RSA", { modulusBits: 2048 });
const edPair = await generateUserKeyPair("Ed25519");
const rsaKey = await parsePublicKey(rsaPair.publicKeyPem);
const edKey = await parsePublicKey(edPair.publicKeyPem);
const aliceKeys: AssertionKey[] = [
  { pem: rsaKey.pem, algorithm: "RSA", fingerprint: rsaKey.fingerprint },
  { pem: edKey.pem, algorithm: "Ed25519", fingerprint: edKey.fingerprint },
];

async function assertion(
  alg: "RS256" | "EdDSA",
  claims: JWTPayload,
  options: { privateKeyPem?: string; kid?: string } = {},
): Promise<string> {
  const pem = options.privateKeyPem ??
    (alg === "RS256" ? rsaPair.privateKeyPem : edPair.privateKeyPem);
  const key = await importPKCS8(pem, alg);
  const header = options.kid === undefined
    ? { alg }
    : { alg, kid: options.kid };
  return new SignJWT(claims).setProtectedHeader(header).sign(key);
}

// Claims valid at `now`, overridden by `extra`; an `undefined` drops a claim.
function claimsAt(
  now: number,
  extra: Record<string, unknown> = {},
): JWTPayload {
  const iat = Math.floor(now / 1000);
  const claims: Record<string, unknown> = {
    iss: "alice",
    sub: "alice",
    aud: AUDIENCE,
    iat,
    exp: iat + 120,
    jti: crypto.randomUUID(),
    ...extra,
  };
  return Object.fromEntries(
    Object.entries(claims).filter(([, value]) => value !== undefined),
  );
}

function assertionOptions(
  clock: { now(): number },
  cache = new JtiCache({ clock }),
): VerifyClientAssertionOptions {
  return {
    user: "alice",
    publicKeys: aliceKeys,
    audience: AUDIENCE,
    jtiSeen: (key, expiresAt) => cache.seen(key, expiresAt),
    clock,
  };
}

Deno.test("client assertion: RS256 and EdDSA assertions by a registered key verify", async () => {
  const clock = fakeClock();
  const options = assertionOptions(clock);
  for (const alg of ["RS256", "EdDSA"] as const) {
    const claims = claimsAt(clock.now(), { scope: "events:publish" });
    const result = await verifyClientAssertion(
      await assertion(alg, claims),
      options,
    );
    assert.ok(result.ok, alg);
    assert.deepEqual(result.claims, {
      user: "alice",
      jti: claims.jti,
      iat: claims.iat,
      exp: claims.exp,
      scope: ["events:publish"],
    });
  }
});

Deno.test("client assertion: a kid naming the key fingerprint selects that key", async () => {
  const clock = fakeClock();
  const token = await assertion("EdDSA", claimsAt(clock.now()), {
    kid: edKey.fingerprint,
  });
  assert.equal(assertionSubject(token), "alice");
  const result = await verifyClientAssertion(
    token,
    assertionOptions(clock),
  );
  assert.equal(failureCode(result), "ok");
});

Deno.test("client assertion: the same jti is refused the second time as replayed", async () => {
  const clock = fakeClock();
  const options = assertionOptions(clock);
  const token = await assertion("EdDSA", claimsAt(clock.now()));
  assert.equal(failureCode(await verifyClientAssertion(token, options)), "ok");
  clock.advance(10_000);
  assert.equal(
    failureCode(await verifyClientAssertion(token, options)),
    "replayed",
  );
});

Deno.test("client assertion: a forged signature does not consume its jti", async () => {
  const clock = fakeClock();
  const cache = new JtiCache({ clock });
  const options = assertionOptions(clock, cache);
  const mallory = await generateUserKeyPair("Ed25519");
  const claims = claimsAt(clock.now());
  const forged = await assertion("EdDSA", claims, {
    privateKeyPem: mallory.privateKeyPem,
  });
  assert.equal(
    failureCode(await verifyClientAssertion(forged, options)),
    "bad_signature",
  );
  assert.equal(cache.size, 0);
  const genuine = await assertion("EdDSA", claims);
  assert.equal(
    failureCode(await verifyClientAssertion(genuine, options)),
    "ok",
  );
});

Deno.test("client assertion: rejections each have their own code", async () => {
  const clock = fakeClock();
  const now = clock.now();
  const secs = Math.floor(now / 1000);
  const bob = await parsePublicKey(
    (await generateUserKeyPair("Ed25519")).publicKeyPem,
  );
  const bobKey: AssertionKey = { pem: bob.pem, algorithm: "Ed25519" };
  const hmac = await new SignJWT(claimsAt(now))
    .setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode("a-shared-secret-of-32-bytes-long"));
  const cases: [string, string, Partial<VerifyClientAssertionOptions>][] = [
    [
      await assertion("EdDSA", claimsAt(now, { exp: secs + 301 })),
      "lifetime_too_long",
      {},
    ],
    [
      await assertion("EdDSA", claimsAt(now, { jti: undefined })),
      "missing_claim",
      {},
    ],
    [
      await assertion("EdDSA", claimsAt(now, { exp: undefined })),
      "missing_claim",
      {},
    ],
    [
      await assertion("EdDSA", claimsAt(now, { iat: undefined })),
      "missing_claim",
      {},
    ],
    [
      await assertion("EdDSA", claimsAt(now, { iss: "bob" })),
      "wrong_issuer",
      {},
    ],
    [
      await assertion("EdDSA", claimsAt(now, { sub: "bob" })),
      "wrong_issuer",
      {},
    ],
    [
      await assertion("EdDSA", claimsAt(now, { aud: "elsewhere" })),
      "wrong_audience",
      {},
    ],
    [await assertion("EdDSA", claimsAt(now - 200_000)), "expired", {}],
    [
      await assertion("EdDSA", claimsAt(now, { nbf: secs + 60 })),
      "not_yet_valid",
      {},
    ],
    [await assertion("EdDSA", claimsAt(now + 60_000)), "not_yet_valid", {}],
    [await assertion("EdDSA", claimsAt(now, { jti: 42 })), "malformed", {}],
    [hmac, "alg_not_allowed", {}],
    ["garbage", "malformed", {}],
    [
      await assertion("RS256", claimsAt(now)),
      "unknown_kid",
      { publicKeys: [aliceKeys[1]!] },
    ],
    [
      // Alice signs claims naming Bob; Bob's registered key did not sign.
      await assertion("EdDSA", claimsAt(now, { iss: "bob", sub: "bob" })),
      "bad_signature",
      { user: "bob", publicKeys: [bobKey] },
    ],
  ];
  for (const [token, code, override] of cases) {
    const result = await verifyClientAssertion(token, {
      ...assertionOptions(clock),
      ...override,
    });
    assert.equal(failureCode(result), code, `expected ${code}`);
  }
});

Deno.test("client assertion: assertionSubject reads the unverified sub or gives null", async () => {
  assert.equal(
    assertionSubject(await assertion("EdDSA", claimsAt(T0))),
    "alice",
  );
  assert.equal(assertionSubject("a.b.c"), null);
  assert.equal(assertionSubject("nonsense"), null);
  assert.equal(
    assertionSubject(`x.${base64url.encode('{"sub":7}')}.y`),
    null,
  );
});

// ---------------------------------------------------------------------------
// JtiCache

Deno.test("jti cache: a key is seen until it expires, then it is new again", () => {
  const clock = fakeClock();
  const cache = new JtiCache({ clock });
  assert.equal(cache.seen("a", T0 + 1_000), false);
  assert.equal(cache.seen("a", T0 + 1_000), true);
  clock.advance(1_000);
  assert.equal(cache.seen("a", T0 + 5_000), false);
});

Deno.test("jti cache: when full of live entries it fails closed, and sweeps once entries expire", () => {
  const clock = fakeClock();
  const cache = new JtiCache({ clock, maxEntries: 2 });
  assert.equal(cache.seen("a", T0 + 1_000), false);
  assert.equal(cache.seen("b", T0 + 2_000), false);
  assert.equal(cache.seen("c", T0 + 3_000), true);
  assert.equal(cache.size, 2);
  clock.advance(1_000);
  assert.equal(cache.seen("c", T0 + 3_000), false);
  assert.equal(cache.size, 2);
  assert.equal(cache.seen("b", T0 + 2_000), true);
});

// ---------------------------------------------------------------------------
// Agent tokens

Deno.test("agent token: a mat_ bearer with 32 random bytes, stored as its hash", async () => {
  const first = newAgentToken();
  const second = newAgentToken();
  assert.match(first.bearer, /^mat_[A-Za-z0-9_-]{43}$/);
  assert.equal(first.hash, await hashToken(first.bearer));
  assert.notEqual(first.bearer, second.bearer);
});
