import assert from "node:assert/strict";
import { TEST_PASSPHRASE } from "./harness.ts";
import {
  assertProblem,
  call,
  login,
  startIdentityNode,
} from "../support/identity_client.ts";
import { hashToken } from "../../identity/login_token.ts";
import { readKeyfile, unlockWithPassphrase } from "../../security/keyfile.ts";
import { openSqliteStore } from "../../store/sqlite/store.ts";

const TTL_MS = 1_500;

/** Waits `ms` of real time: the server is a separate process with its own clock. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("identity e2e: a session used every 500 ms slides past its 1.5 s life, in memory and in the store; one left idle expires and is swept", async () => {
  await using node = await startIdentityNode([
    "--session-ttl-ms",
    String(TTL_MS),
    "--session-sweep-ms",
    "200",
  ]);
  const { url } = node;
  const busy = await login(url, "admin", node.adminKeyPem);
  const idle = await login(url, "admin", node.adminKeyPem);
  const loggedInAt = Date.now();

  let lastUse = 0;
  while (Date.now() - loggedInAt < 2.5 * TTL_MS) {
    const me = await call(url, "GET", "/api/v1/session", { bearer: busy });
    assert.equal(
      me.status,
      200,
      `busy session refused ${
        Date.now() - loggedInAt
      } ms after login: ${me.text}`,
    );
    lastUse = Date.now();
    await sleep(500);
  }
  assert.ok(lastUse - loggedInAt > TTL_MS, "the busy session outlived a TTL");
  assertProblem(
    await call(url, "GET", "/api/v1/session", { bearer: idle }),
    401,
    "the idle session",
  );
  const stillBusy = await call(url, "GET", "/api/v1/session", {
    bearer: busy,
  });
  assert.equal(stillBusy.status, 200, stillBusy.text);
  lastUse = Date.now();

  // The store is the truth every node reads: the busy session must be there
  // with its slid expiry, or another node (or this one after a restart)
  // would refuse a session in use. The idle one has been swept.
  assert.equal((await node.server.stop("SIGTERM")).code, 0);
  const keyfile = await readKeyfile(`${node.server.dataDir}/keyring.json`);
  const keyring = await unlockWithPassphrase(keyfile, TEST_PASSPHRASE);
  await using store = openSqliteStore(
    `${node.server.dataDir}/miranda.db`,
    () => keyring,
  );
  const stored = await store.sessions.get(await hashToken(busy), lastUse);
  assert.ok(stored, "the busy session is in the store");
  assert.ok(
    stored.expiresAt > lastUse,
    `stored expiry ${stored.expiresAt - lastUse} ms after the last use`,
  );
  assert.equal(await store.sessions.get(await hashToken(idle), 0), null);
  keyring.wipe();
});
