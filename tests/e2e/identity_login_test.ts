import assert from "node:assert/strict";
import { dirname } from "node:path";
import { runCommand } from "./harness.ts";
import {
  assertProblem,
  call,
  createUser,
  login,
  startIdentityNode,
} from "../support/identity_client.ts";
import { decryptWithPrivateKey } from "../../identity/login_token.ts";

/** Bytes of the base64 text `text`. */
function decodedLength(text: string): number {
  return Uint8Array.fromBase64(text).length;
}

Deno.test("identity e2e: password-free login with RSA keys, no user enumeration, sessions and logout, on a real node", async (t) => {
  await using node = await startIdentityNode();
  const { url } = node;

  let admin = "";
  await t.step(
    "the admin logs in with the key init wrote, and the session says who they are",
    async () => {
      admin = await login(url, "admin", node.adminKeyPem);
      const me = await call(url, "GET", "/api/v1/session", { bearer: admin });
      assert.equal(me.status, 200, me.text);
      assert.deepEqual(me.body, {
        user: "admin",
        roles: ["admin"],
        groups: [],
        scopes: null,
        via: "session",
      });
    },
  );

  const alice = await createUser(url, admin, "alice", {
    modulusBits: 2048,
    roles: ["publisher"],
  });

  await t.step(
    "a user created with a fresh 2048-bit RSA key logs in; the answer decrypts only with that key",
    async () => {
      const answer = await call(url, "POST", "/api/v1/login", {
        json: { user: "alice" },
      });
      assert.equal(answer.status, 201, answer.text);
      assert.deepEqual(Object.keys(answer.body).sort(), [
        "expiresAt",
        "session",
      ]);
      assert.equal(decodedLength(String(answer.body["session"])), 256);
      const expiresIn = Date.parse(String(answer.body["expiresAt"])) -
        Date.now();
      assert.ok(
        expiresIn > 3_500_000 && expiresIn <= 3_600_000,
        String(expiresIn),
      );
      await assert.rejects(
        decryptWithPrivateKey(node.adminKeyPem, String(answer.body["session"])),
        /does not decrypt/,
      );
      const bearer = await login(url, "alice", alice.privateKeyPem);
      const me = await call(url, "GET", "/api/v1/session", { bearer });
      assert.equal(me.status, 200, me.text);
      assert.equal(me.body["user"], "alice");
      assert.deepEqual(me.body["roles"], ["publisher"]);
      assert.equal(me.body["via"], "session");
    },
  );

  await t.step(
    "an unknown user gets the same shape of answer as a 2048-bit user: 201, same keys, same ciphertext length, and the first one is not slower",
    async () => {
      const timed = async (user: string) => {
        const started = performance.now();
        const answer = await call(url, "POST", "/api/v1/login", {
          json: { user },
        });
        return { answer, ms: performance.now() - started };
      };
      const knownTimes: number[] = [];
      let known = (await timed("alice")).answer;
      for (let i = 0; i < 3; i++) {
        const one = await timed("alice");
        known = one.answer;
        knownTimes.push(one.ms);
      }
      // The first unknown login on this node: were the decoy key made only
      // now, this answer would take an RSA key generation longer.
      const first = await timed("nobody-here");
      const unknown = first.answer;
      assert.ok(
        first.ms < Math.max(...knownTimes) + 150,
        `first unknown login took ${first.ms.toFixed(0)} ms, known ones ${
          knownTimes.map((ms) => ms.toFixed(0)).join(", ")
        } ms`,
      );
      assert.equal(unknown.status, 201, unknown.text);
      assert.deepEqual(
        Object.keys(unknown.body).sort(),
        Object.keys(known.body).sort(),
      );
      assert.equal(
        String(unknown.body["session"]).length,
        String(known.body["session"]).length,
      );
      assert.equal(decodedLength(String(unknown.body["session"])), 256);
      assert.equal(
        typeof unknown.body["expiresAt"],
        typeof known.body["expiresAt"],
      );
      // Two unknown logins are not a replayed constant.
      const again = await call(url, "POST", "/api/v1/login", {
        json: { user: "nobody-here" },
      });
      assert.notEqual(again.body["session"], unknown.body["session"]);
    },
  );

  await t.step(
    "a made-up bearer token and a malformed header are refused 401 problem+json",
    async () => {
      const made = await call(url, "GET", "/api/v1/session", {
        bearer: "A".repeat(43),
      });
      assertProblem(made, 401);
      assert.match(made.headers.get("www-authenticate") ?? "", /^Bearer/);
      const basic = await call(url, "GET", "/api/v1/session", {
        headers: { authorization: "Basic YWRtaW46YWRtaW4=" },
      });
      assertProblem(basic, 401);
      assertProblem(await call(url, "GET", "/api/v1/session"), 401);
    },
  );

  await t.step(
    "DELETE /api/v1/session logs out: that token then gets 401, another session of the same user still works",
    async () => {
      const first = await login(url, "alice", alice.privateKeyPem);
      const second = await login(url, "alice", alice.privateKeyPem);
      assert.notEqual(first, second);
      const out = await call(url, "DELETE", "/api/v1/session", {
        bearer: first,
      });
      assert.equal(out.status, 204, out.text);
      assertProblem(
        await call(url, "GET", "/api/v1/session", { bearer: first }),
        401,
      );
      assertProblem(
        await call(url, "DELETE", "/api/v1/session", { bearer: first }),
        401,
      );
      const still = await call(url, "GET", "/api/v1/session", {
        bearer: second,
      });
      assert.equal(still.status, 200, still.text);
    },
  );

  await t.step(
    "`miranda login` and `miranda token` do the dance from the command line",
    async () => {
      const keyFile = `${dirname(node.server.dataDir)}/admin-key.pem`;
      const loggedIn = await runCommand("login", [
        "--user",
        "admin",
        "--key",
        keyFile,
        "--url",
        url,
      ]);
      assert.equal(loggedIn.code, 0, loggedIn.stderr);
      const session = loggedIn.stdout.trim();
      const me = await call(url, "GET", "/api/v1/session", { bearer: session });
      assert.equal(me.status, 200, me.text);
      assert.equal(me.body["via"], "session");

      const out = `${dirname(node.server.dataDir)}/token.txt`;
      const token = await runCommand("token", [
        "--user",
        "admin",
        "--key",
        keyFile,
        "--url",
        url,
        "--scope",
        "admin topics:read",
        "--out",
        out,
      ]);
      assert.equal(token.code, 0, token.stderr);
      assert.equal((await Deno.stat(out)).mode! & 0o777, 0o600);
      const jwt = (await Deno.readTextFile(out)).trim();
      const viaJwt = await call(url, "GET", "/api/v1/session", { bearer: jwt });
      assert.equal(viaJwt.status, 200, viaJwt.text);
      assert.equal(viaJwt.body["via"], "jwt");
      assert.deepEqual(viaJwt.body["scopes"], ["admin", "topics:read"]);

      const wrongKey = `${dirname(node.server.dataDir)}/alice.pem`;
      await Deno.writeTextFile(wrongKey, alice.privateKeyPem);
      const refused = await runCommand("login", [
        "--user",
        "admin",
        "--key",
        wrongKey,
        "--url",
        url,
      ]);
      assert.notEqual(refused.code, 0);
    },
  );
});
