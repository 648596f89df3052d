import assert from "node:assert/strict";
import { startServer } from "./harness.ts";
import {
  adminToken,
  call,
  gauge,
  initNode,
  NO_PASSPHRASE,
  problemOf,
  sealAsAdmin,
} from "../support/security_node.ts";

/** A management-style call: refused while sealed, routed (whatever it answers) once unsealed. */
const API_CALL = "/api/v1/users";

type Answer = Awaited<ReturnType<typeof call>>;

function progressOf(answer: Answer) {
  assert.equal(answer.status, 200, answer.text);
  return answer.json() as {
    sealed: boolean;
    progress: number;
    threshold: number;
    message: string;
  };
}

/**
 * A share with a valid shape *and* a valid checksum but altered Shamir
 * bytes: what someone who knows the share format (it is public) could
 * forge. The checksum is only a typo guard, so it is recomputed here.
 */
async function forgeShare(share: string): Promise<string> {
  const match = /^miranda-share-(\d+)-([0-9a-f]{12})-(.+)$/.exec(share)!;
  const [, index, fingerprint, data] = match;
  const payload = Uint8Array.fromBase64(data!, { alphabet: "base64url" });
  const bytes = payload.slice(0, payload.length - 4);
  bytes[5]! ^= 0x5a;
  const label = new TextEncoder().encode(
    `miranda-share/${fingerprint}/${index}/`,
  );
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new Uint8Array([...label, ...bytes])),
  );
  const forged = new Uint8Array([...bytes, ...digest.slice(0, 4)]);
  return `miranda-share-${index}-${fingerprint}-${
    forged.toBase64({ alphabet: "base64url", omitPadding: true })
  }`;
}

/**
 * The share with one character of its data changed (the checksum no longer
 * matches). A middle character carries six data bits; the last one may
 * carry only padding bits, so changing it could leave the bytes as they are.
 */
function mistype(share: string): string {
  const at = share.length - 10;
  const swapped = share[at] === "A" ? "B" : "A";
  return share.slice(0, at) + swapped + share.slice(at + 1);
}

Deno.test("security e2e: without a passphrase serve starts sealed and unseals with k shares one per call; k-1, mistyped, forged and foreign shares and a wrong passphrase are refused", async () => {
  const [node, other] = await Promise.all([initNode(), initNode()]);
  await using _node = node;
  await using _other = other;
  await using server = await startServer({
    command: "serve",
    dataDir: node.dataDir,
    env: NO_PASSPHRASE,
    args: ["--unseal-attempts-per-minute", "100"],
  });
  using client = await node.caClient();
  const unseal = (body: unknown) =>
    call(client, `${server.url}/api/v1/unseal`, { body });
  const metrics = async () =>
    (await call(client, `${server.url}/metrics`)).text;
  const assertSealed = async (progress: number) => {
    const ready = await call(client, `${server.url}/readyz`);
    assert.equal(ready.status, 503, ready.text);
    assert.match(
      problemOf(ready).detail ?? "",
      new RegExp(`seal: sealed; ${progress} of 3 shares received`),
    );
    const api = await call(client, `${server.url}${API_CALL}`);
    assert.equal(api.status, 503, api.text);
    assert.equal(problemOf(api).type, "urn:miranda:problem:sealed");
    assert.ok(api.headers.get("retry-after"));
    const text = await metrics();
    assert.equal(gauge(text, "miranda_sealed"), 1);
    assert.equal(gauge(text, "miranda_unseal_shares_received"), progress);
  };

  const health = await call(client, `${server.url}/healthz`);
  assert.equal(health.status, 200);
  await assertSealed(0);
  assert.equal(gauge(await metrics(), "miranda_unseal_shares_threshold"), 3);

  // k-1 shares: progress is reported, the node stays sealed.
  const [s1, s2, s3] = node.shares;
  let state = progressOf(await unseal({ share: s1 }));
  assert.deepEqual(state, {
    sealed: true,
    progress: 1,
    threshold: 3,
    message: "sealed; 1 of 3 shares received",
  });
  state = progressOf(await unseal({ share: s2 }));
  assert.equal(state.message, "sealed; 2 of 3 shares received");
  assert.equal(state.sealed, true);
  await assertSealed(2);

  // The same share twice does not count twice.
  state = progressOf(await unseal({ share: s2 }));
  assert.equal(state.progress, 2);

  // A mistyped share: 400, progress kept.
  let refused = await unseal({ share: mistype(s3!) });
  assert.equal(refused.status, 400, refused.text);
  assert.equal(problemOf(refused).type, "urn:miranda:problem:unseal_failed");
  assert.match(problemOf(refused).detail ?? "", /checksum/);

  // A share of another init: 400 naming it foreign, progress kept.
  refused = await unseal({ share: other.shares[2] });
  assert.equal(refused.status, 400, refused.text);
  const foreign = problemOf(refused);
  assert.equal(foreign.type, "urn:miranda:problem:unseal_failed");
  const otherFingerprint = other.shares[2]!.split("-")[3]!;
  assert.match(
    foreign.detail ?? "",
    new RegExp(`belongs to keyring "${otherFingerprint}", not to this keyring`),
  );

  // A wrong passphrase: 400.
  refused = await unseal({ passphrase: "not the passphrase" });
  assert.equal(refused.status, 400, refused.text);
  assert.match(problemOf(refused).detail ?? "", /passphrase does not unlock/);
  await assertSealed(2);

  // A forged third share (valid syntax and checksum): 400, still sealed, start over.
  refused = await unseal({ share: await forgeShare(s3!) });
  assert.equal(refused.status, 400, refused.text);
  assert.match(problemOf(refused).detail ?? "", /do not rebuild the key/);
  await assertSealed(0);

  // k genuine shares, one per call: unsealed.
  assert.equal(progressOf(await unseal({ share: s3 })).progress, 1);
  assert.equal(progressOf(await unseal({ share: node.shares[4] })).progress, 2);
  state = progressOf(await unseal({ share: s1 }));
  assert.deepEqual(state, {
    sealed: false,
    progress: 0,
    threshold: 3,
    message: "unsealed",
  });
  const ready = await call(client, `${server.url}/readyz`);
  assert.equal(ready.status, 200, ready.text);
  const api = await call(client, `${server.url}${API_CALL}`);
  assert.notEqual(api.status, 503, api.text);
  const text = await metrics();
  assert.equal(gauge(text, "miranda_sealed"), 0);
  assert.equal(gauge(text, "miranda_unseal_shares_received"), 0);
  assert.match(
    text,
    /^miranda_unseal_attempts_total\{method="share",result="refused"\} 3$/m,
  );
});

Deno.test("security e2e: unseal attempts over --unseal-attempts-per-minute get 429 with Retry-After, even with the right passphrase", async () => {
  await using node = await initNode();
  await using server = await startServer({
    command: "serve",
    dataDir: node.dataDir,
    env: NO_PASSPHRASE,
    args: ["--unseal-attempts-per-minute", "2"],
  });
  using client = await node.caClient();
  const unseal = (body: unknown) =>
    call(client, `${server.url}/api/v1/unseal`, { body });
  assert.equal((await unseal({ passphrase: "wrong one" })).status, 400);
  assert.equal((await unseal({ share: node.shares[0] })).status, 200);
  const limited = await unseal({ passphrase: node.passphrase });
  assert.equal(limited.status, 429, limited.text);
  assert.equal(problemOf(limited).type, "urn:miranda:problem:rate_limited");
  const retryAfter = Number(limited.headers.get("retry-after"));
  assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${retryAfter}`);
  const ready = await call(client, `${server.url}/readyz`);
  assert.equal(ready.status, 503, "a rate-limited attempt must not unseal");
});

Deno.test("security e2e: sealing while requests are in flight answers every request cleanly (2xx or problem+json, never 500), then refuses /api calls until unsealed", async () => {
  await using node = await initNode();
  await using server = await startServer({
    command: "serve",
    dataDir: node.dataDir,
    env: { ...NO_PASSPHRASE, MIRANDA_PASSPHRASE: node.passphrase },
    args: ["--unseal-attempts-per-minute", "1000"],
  });
  using client = await node.caClient();
  assert.equal((await call(client, `${server.url}/readyz`)).status, 200);
  const token = await adminToken(node, client, server.url);
  const listUsers = await call(client, `${server.url}${API_CALL}`, { token });
  assert.equal(listUsers.status, 200, listUsers.text);
  const anonymousSeal = await call(client, `${server.url}/api/v1/seal`, {
    method: "POST",
  });
  assert.equal(anonymousSeal.status, 401, anonymousSeal.text);
  assert.equal((await call(client, `${server.url}/readyz`)).status, 200);

  const burst = (n: number) =>
    Array.from({ length: n }, (_, i) => {
      switch (i % 5) {
        case 0:
          if (i % 20 === 0) {
            // A wrong passphrase costs a KDF run once sealed: only a few.
            return call(client, `${server.url}/api/v1/unseal`, {
              body: { passphrase: "wrong passphrase" },
            });
          }
          return call(client, `${server.url}/readyz`);
        case 1:
          return call(client, `${server.url}/metrics`);
        case 2:
          return call(client, `${server.url}/api/v1/openapi.json`);
        case 3:
          return call(client, `${server.url}/api/v1/unseal`, {
            body: { share: node.shares[i % 5] },
          });
        default:
          return call(client, `${server.url}${API_CALL}`, { token });
      }
    });
  const before = burst(150);
  const sealed = await sealAsAdmin(client, server.url, token);
  const after = burst(100);
  const answers = await Promise.all([...before, ...after]);

  assert.equal(sealed.status, 200, sealed.text);
  assert.equal((sealed.json() as { sealed: boolean }).sealed, true);
  for (const answer of answers) {
    assert.ok(
      answer.status < 500 || answer.status === 503,
      `${answer.status}: ${answer.text}`,
    );
    if (answer.status >= 400) {
      const problem = problemOf(answer);
      assert.match(problem.type, /^urn:miranda:problem:[a-z_]+$/);
      assert.equal(problem.status, answer.status);
    }
  }
  // Calls issued after the seal answered: every /api call other than unseal is 503.
  for (const [i, answer] of after.entries()) {
    if (i % 5 === 4) {
      const a = await answer;
      assert.equal(a.status, 503, a.text);
      assert.equal(problemOf(a).type, "urn:miranda:problem:sealed");
    }
  }
  // Still sealed: no share given in the burst completed an unseal.
  const api = await call(client, `${server.url}${API_CALL}`);
  assert.equal(api.status, 503, api.text);
  const metrics = (await call(client, `${server.url}/metrics`)).text;
  assert.equal(gauge(metrics, "miranda_sealed"), 1);
  assert.doesNotMatch(metrics, /status="500"/);

  const unsealed = await call(client, `${server.url}/api/v1/unseal`, {
    body: { passphrase: node.passphrase },
  });
  assert.equal(unsealed.status, 200, unsealed.text);
  assert.equal((unsealed.json() as { sealed: boolean }).sealed, false);
  assert.equal((await call(client, `${server.url}/readyz`)).status, 200);
  assert.notEqual(
    (await call(client, `${server.url}${API_CALL}`)).status,
    503,
  );
  assert.doesNotMatch(server.stderr(), /unhandled error/);
});
