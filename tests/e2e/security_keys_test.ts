import assert from "node:assert/strict";
import { runCommand, startServer } from "./harness.ts";
import {
  adminToken,
  call,
  type InitialisedNode,
  initNode,
  NO_PASSPHRASE,
  sealAsAdmin,
} from "../support/security_node.ts";
import {
  readKeyfile,
  rotateDataKey,
  unlockWithPassphrase,
  writeKeyfile,
} from "../../security/keyfile.ts";
import { openSqliteStore } from "../../store/sqlite/store.ts";
import { marker } from "../support/marker_scan.ts";

function withPassphrase(passphrase: string): Record<string, string> {
  return { ...NO_PASSPHRASE, MIRANDA_PASSPHRASE: passphrase };
}

/** Opens the stopped node's store in-process, unsealed with its passphrase. */
async function openStore(node: InitialisedNode) {
  const keyfile = await readKeyfile(`${node.dataDir}/keyring.json`);
  const keyring = await unlockWithPassphrase(keyfile, node.passphrase);
  const store = openSqliteStore(`${node.dataDir}/miranda.db`, () => keyring);
  return {
    keyfile,
    keyring,
    store,
    async [Symbol.asyncDispose]() {
      await store.close();
      keyring.wipe();
    },
  };
}

Deno.test("security e2e: after rekey (node stopped) the old passphrase no longer starts the node, the new one does, and the shares still unseal", async () => {
  await using node = await initNode();
  const newFile = `${node.root}/new-passphrase.txt`;
  const newPassphrase = "the new e2e passphrase";
  await Deno.writeTextFile(newFile, newPassphrase + "\n");
  const dataArgs = ["--data-dir", node.dataDir];

  // The wrong current passphrase is refused and changes nothing.
  const before = await Deno.readTextFile(`${node.dataDir}/keyring.json`);
  const refused = await runCommand(
    "rekey",
    [...dataArgs, "--new-passphrase-file", newFile],
    { env: withPassphrase("not the current passphrase") },
  );
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /^miranda: .*passphrase/im);
  assert.equal(
    await Deno.readTextFile(`${node.dataDir}/keyring.json`),
    before,
  );

  const rekeyed = await runCommand(
    "rekey",
    [...dataArgs, "--new-passphrase-file", newFile],
    { env: withPassphrase(node.passphrase) },
  );
  assert.equal(rekeyed.code, 0, rekeyed.stderr);
  assert.match(rekeyed.stdout, /passphrase is changed/);

  const old = await runCommand(
    "serve",
    ["--listen", "127.0.0.1:0", ...dataArgs],
    { env: withPassphrase(node.passphrase), timeoutMs: 20_000 },
  );
  assert.equal(old.code, 1, old.stdout + old.stderr);
  assert.match(old.stderr, /passphrase does not unlock/);

  await using server = await startServer({
    command: "serve",
    dataDir: node.dataDir,
    args: ["--passphrase-file", newFile],
    env: NO_PASSPHRASE,
  });
  using client = await node.caClient();
  assert.equal((await call(client, `${server.url}/readyz`)).status, 200);

  // Seal, then: the old passphrase is refused, the original shares unseal.
  const unseal = (body: unknown) =>
    call(client, `${server.url}/api/v1/unseal`, { body });
  const token = await adminToken(node, client, server.url);
  assert.equal((await sealAsAdmin(client, server.url, token)).status, 200);
  assert.equal((await unseal({ passphrase: node.passphrase })).status, 400);
  for (const share of node.shares.slice(2)) {
    assert.equal((await unseal({ share })).status, 200);
  }
  const ready = await call(client, `${server.url}/readyz`);
  assert.equal(ready.status, 200, ready.text);
});

Deno.test("security e2e: rotate-data-key re-encrypts every sealed cell under the new key, they still open, and --resume finishes an interrupted rotation", async () => {
  await using node = await initNode();
  const markers = Array.from({ length: 5 }, (_, i) => marker(`rotate-${i}`));
  const encoder = new TextEncoder();
  let caKey: Uint8Array | null;
  {
    await using opened = await openStore(node);
    assert.equal(opened.keyfile.dataKeys.active, 1);
    for (const [i, m] of markers.entries()) {
      await opened.store.secrets.put(`marker-${i}`, encoder.encode(m));
    }
    caKey = await opened.store.secrets.get("ca-key");
    assert.ok(caKey, "init stores the CA key as a sealed node secret");
    assert.deepEqual(
      await opened.store.reencryption.countByKey(),
      new Map([[1, markers.length + 1]]),
    );
  }
  const dataArgs = ["--data-dir", node.dataDir];
  const env = withPassphrase(node.passphrase);

  const rotated = await runCommand("rotate-data-key", dataArgs, { env });
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.match(rotated.stdout, /New data key 2 is active/);
  assert.match(rotated.stdout, /Re-encryption done: 6 records/);

  const checkAllUnder = async (keyId: number, keyCount: number) => {
    await using opened = await openStore(node);
    assert.equal(opened.keyfile.dataKeys.active, keyId);
    assert.equal(opened.keyfile.dataKeys.keys.length, keyCount);
    assert.deepEqual(
      await opened.store.reencryption.countByKey(),
      new Map([[keyId, markers.length + 1]]),
    );
    const decoder = new TextDecoder();
    for (const [i, m] of markers.entries()) {
      const value = await opened.store.secrets.get(`marker-${i}`);
      assert.equal(value && decoder.decode(value), m);
    }
    assert.deepEqual(await opened.store.secrets.get("ca-key"), caKey);
  };
  await checkAllUnder(2, 2);

  // Interrupted: the new key is written and active, nothing re-encrypted yet.
  {
    await using opened = await openStore(node);
    const next = await rotateDataKey(opened.keyfile, opened.keyring);
    await writeKeyfile(`${node.dataDir}/keyring.json`, next.keyfile);
    assert.deepEqual(
      await opened.store.reencryption.countByKey(),
      new Map([[2, markers.length + 1]]),
    );
  }
  const resumed = await runCommand(
    "rotate-data-key",
    [...dataArgs, "--resume"],
    { env },
  );
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.doesNotMatch(resumed.stdout, /New data key/);
  await checkAllUnder(3, 3);
});

Deno.test("security e2e: sealing a node in the middle of its background re-encryption leaves every cell whole (old or new key, each opens), and --resume finishes", async () => {
  await using node = await initNode();
  const count = 400;
  const value = (i: number) => `value-${i}-${"v".repeat(i % 50)}`;
  {
    await using opened = await openStore(node);
    for (let i = 0; i < count; i++) {
      await opened.store.secrets.put(
        `cell-${i}`,
        new TextEncoder().encode(value(i)),
      );
    }
    // Interrupted rotation: key 2 active, every cell still under key 1.
    const next = await rotateDataKey(opened.keyfile, opened.keyring);
    await writeKeyfile(`${node.dataDir}/keyring.json`, next.keyfile);
  }

  {
    // Unsealed at start, the node resumes re-encryption in the background;
    // seal it at once.
    await using server = await startServer({
      command: "serve",
      dataDir: node.dataDir,
      env: withPassphrase(node.passphrase),
    });
    using client = await node.caClient();
    const token = await adminToken(node, client, server.url);
    const sealed = await sealAsAdmin(client, server.url, token);
    assert.equal(sealed.status, 200, sealed.text);
    assert.equal((await server.stop()).code, 0, server.stderr());
    assert.doesNotMatch(server.stderr(), /unhandled|Uncaught/i);
  }

  const checkCells = async (keyIds: number[]) => {
    await using opened = await openStore(node);
    const counts = await opened.store.reencryption.countByKey();
    assert.deepEqual(
      [...counts.keys()].filter((id) => !keyIds.includes(id)),
      [],
      `cells under unexpected keys: ${JSON.stringify([...counts])}`,
    );
    assert.equal(
      [...counts.values()].reduce((a, b) => a + b, 0),
      count + 1,
    );
    const decoder = new TextDecoder();
    for (let i = 0; i < count; i++) {
      const got = await opened.store.secrets.get(`cell-${i}`);
      assert.equal(got && decoder.decode(got), value(i), `cell-${i}`);
    }
    return counts;
  };
  await checkCells([1, 2]);

  const resumed = await runCommand(
    "rotate-data-key",
    ["--data-dir", node.dataDir, "--resume"],
    { env: withPassphrase(node.passphrase) },
  );
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual(await checkCells([2]), new Map([[2, count + 1]]));
});
