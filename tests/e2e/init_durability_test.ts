/**
 * What `init` writes must survive the file system failing right after it:
 * the data directory and the admin's key on an ext4 loop device whose
 * journal is aborted (an ext4 error, as a failing disk would cause) the
 * moment `init` returns. ext4 commits what was not flushed only every 5 s,
 * so anything `init` left unflushed is gone after the check — the admin's
 * key or the node's TLS key come back empty and the node cannot be used.
 */

import assert from "node:assert/strict";
import { join, relative } from "node:path";
import {
  runCommand,
  startServer,
  tempDir,
  TEST_PASSPHRASE,
} from "./harness.ts";
import { mountExt4Loop } from "../support/ext4_loop.ts";
import { report } from "../../chaos/lib/report.ts";
import { call, login } from "../support/identity_client.ts";

async function filesUnder(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  const walk = async (at: string) => {
    for await (const entry of Deno.readDir(at)) {
      const path = join(at, entry.name);
      if (entry.isDirectory && entry.name !== "lost+found") await walk(path);
      else if (entry.isFile) {
        files.set(relative(dir, path), await Deno.readFile(path));
      }
    }
  };
  await walk(dir);
  return files;
}

Deno.test("init e2e: the data directory, the admin's key and the unseal shares survive the file system failing right after init", async () => {
  const root = await tempDir();
  try {
    const fs = await mountExt4Loop(root, 64);
    if (typeof fs === "string") {
      assert.notEqual(Deno.env.get("CI"), "true", `cannot run in CI: ${fs}`);
      report(`init durability skipped: ${fs}`);
      return;
    }
    await using _fs = fs;
    const dataDir = `${root}/data`;
    const result = await runCommand("init", [
      "--data-dir",
      dataDir,
      "--admin-key-out",
      `${root}/admin-key.pem`,
      "--shares-out",
      `${root}/shares.txt`,
    ], { env: { MIRANDA_PASSPHRASE: TEST_PASSPHRASE }, timeoutMs: 60_000 });
    assert.equal(result.code, 0, result.stderr);
    await fs.fail();
    // Read back from the page cache: what init wrote, flushed or not.
    const written = await filesUnder(root);
    await fs.repair();
    const kept = await filesUnder(root);
    // SQLite's files are SQLite's to keep consistent (it flushes its own
    // commits); the rest must come back byte for byte.
    for (const [path, bytes] of written) {
      if (/miranda\.db(-wal|-shm)?$/.test(path)) continue;
      assert.deepEqual(kept.get(path), bytes, `${path} came back different`);
    }
    for (const path of ["admin-key.pem", "shares.txt", "data/keyring.json"]) {
      assert.ok((kept.get(path)?.length ?? 0) > 0, `${path} is empty`);
    }
    // And the node serves from it: it unseals and the admin logs in.
    await using server = await startServer({
      dataDir,
      command: "serve",
      args: ["--insecure-http"],
    });
    const bearer = await login(
      server.url,
      "admin",
      await Deno.readTextFile(`${root}/admin-key.pem`),
    );
    const session = await call(server.url, "GET", "/api/v1/session", {
      bearer,
    });
    assert.equal(session.status, 200);
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
