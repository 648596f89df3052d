import assert from "node:assert/strict";
import { startServer, tempDir } from "./harness.ts";
import { call, initNode, NO_PASSPHRASE } from "../support/security_node.ts";
import { listFiles, marker, scanForMarkers } from "../support/marker_scan.ts";
import { readKeyfile, unlockWithPassphrase } from "../../security/keyfile.ts";
import { openSqliteStore } from "../../store/sqlite/store.ts";

/** The base64 body of a PEM, in lines long enough not to occur by chance. */
function pemLines(pem: string): string[] {
  return pem.split("\n").filter((line) =>
    line.length >= 40 && !line.startsWith("-----")
  );
}

Deno.test("security e2e: no marker stored as a sealed secret, nor the passphrase, shares, admin key or CA key, appears in plaintext in any data-directory file, running or stopped", async () => {
  await using node = await initNode({ passphrase: marker("passphrase") });
  await using server = await startServer({
    command: "serve",
    dataDir: node.dataDir,
    env: { ...NO_PASSPHRASE, MIRANDA_PASSPHRASE: node.passphrase },
  });
  using client = await node.caClient();
  assert.equal((await call(client, `${server.url}/readyz`)).status, 200);

  // Store markers through the store API while the node runs, so they sit
  // in the WAL as well as (after the stop) the database file.
  const secrets = Array.from({ length: 8 }, (_, i) => marker(`secret-${i}`));
  let caKeyPem: string;
  {
    const keyfile = await readKeyfile(`${node.dataDir}/keyring.json`);
    const keyring = await unlockWithPassphrase(keyfile, node.passphrase);
    await using store = openSqliteStore(
      `${node.dataDir}/miranda.db`,
      () => keyring,
    );
    for (const [i, m] of secrets.entries()) {
      await store.secrets.put(`marker-${i}`, new TextEncoder().encode(m));
      // Long values span pages; UTF-16 checks another encoding.
      await store.secrets.put(
        `long-${i}`,
        new TextEncoder().encode(`${m} ${"x".repeat(5000)} ${m}`),
      );
    }
    const back = await store.secrets.get("marker-7");
    assert.equal(back && new TextDecoder().decode(back), secrets[7]);
    const caKey = await store.secrets.get("ca-key");
    assert.ok(caKey);
    caKeyPem = new TextDecoder().decode(caKey);
    keyring.wipe();
  }
  const markers = [
    ...secrets,
    node.passphrase,
    ...node.shares.map((share) => share.split("-").slice(4).join("-")),
    ...pemLines(await Deno.readTextFile(node.adminKey)),
    ...pemLines(caKeyPem),
  ];
  assert.ok(pemLines(caKeyPem).length >= 2, caKeyPem);

  const running = await listFiles(node.dataDir);
  assert.ok(
    running.some((path) => path.endsWith("/miranda.db-wal")),
    running.join(", "),
  );
  assert.deepEqual(await scanForMarkers(node.dataDir, markers), []);

  assert.equal((await server.stop()).code, 0);
  const stopped = await listFiles(node.dataDir);
  assert.ok(stopped.some((path) => path.endsWith("/miranda.db")));
  assert.deepEqual(await scanForMarkers(node.dataDir, markers), []);

  // The scan is not vacuous: in a copy of the data directory, a marker
  // written in plaintext to a file, and one stored in an unsealed column
  // (a user name), are both found.
  const copy = await tempDir();
  try {
    for (const path of stopped) {
      await Deno.copyFile(path, `${copy}/${path.split("/").at(-1)}`);
    }
    const plain = marker("plaintext");
    const userName = marker("user").toLowerCase();
    await Deno.writeTextFile(`${copy}/ca.pem`, `\n${plain}\n`, {
      append: true,
    });
    {
      await using store = openSqliteStore(`${copy}/miranda.db`, () => {
        throw new Error("no cipher needed for users");
      });
      const now = new Date().toISOString();
      const created = await store.users.create(
        {
          name: userName,
          roles: [],
          groups: [],
          emailHash: null,
          createdAt: now,
          version: 1,
        },
        {
          id: crypto.randomUUID(),
          userName,
          publicKeyPem: "none",
          algorithm: "RSA",
          createdAt: now,
        },
      );
      assert.equal(created.ok, true);
    }
    const found = await scanForMarkers(copy, [...markers, plain, userName]);
    assert.deepEqual(found.sort(), [
      `${copy}/ca.pem: ${plain}`,
      `${copy}/miranda.db: ${userName}`,
    ]);
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
});
