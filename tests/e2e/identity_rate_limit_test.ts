import assert from "node:assert/strict";
import {
  accessToken,
  assertProblem,
  call,
  exchange,
  signAssertion,
  startIdentityNode,
} from "../support/identity_client.ts";

Deno.test("identity e2e: with --auth-failures-per-minute 5, the 6th bad bearer from one address is answered 429 with Retry-After; good tokens still work", async () => {
  await using node = await startIdentityNode([
    "--auth-failures-per-minute",
    "5",
  ]);
  const { url } = node;
  // A successful exchange is not a failure, so it spends none of the budget.
  const good = await accessToken(url, {
    name: "admin",
    algorithm: "RSA",
    privateKeyPem: node.adminKeyPem,
  });

  for (let i = 1; i <= 5; i++) {
    assertProblem(
      await call(url, "GET", "/api/v1/session", {
        bearer: `not-a-real-token-${i}-${"x".repeat(30)}`,
      }),
      401,
      `bad bearer ${i}`,
    );
  }
  const sixth = assertProblem(
    await call(url, "GET", "/api/v1/session", {
      bearer: `not-a-real-token-6-${"x".repeat(30)}`,
    }),
    429,
    "bad bearer 6",
  );
  const retryAfter = Number(sixth.headers.get("retry-after"));
  assert.ok(
    Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60,
    `Retry-After: ${sixth.headers.get("retry-after")}`,
  );

  // The limit is on failures: a good token from the same address still works.
  const me = await call(url, "GET", "/api/v1/session", { bearer: good });
  assert.equal(me.status, 200, me.text);

  // Failed exchanges count against the same address.
  const bad = await signAssertion({
    user: "admin",
    privateKeyPem: node.adminKeyPem,
    alg: "RS256",
    audience: "someone-else",
  });
  const refused = assertProblem(await exchange(url, bad), 429);
  assert.ok(Number(refused.headers.get("retry-after")) >= 1);
});
