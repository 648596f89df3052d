/**
 * The node zero-fills its write-ahead log to `--wal-preallocate-bytes` when
 * it starts and reports the file's size in `/metrics`; with 0 it does not.
 */

import assert from "node:assert/strict";
import { request, startServer, tempDir } from "./harness.ts";

const MiB = 1024 * 1024;

/** `miranda_store_wal_bytes` in the node's `/metrics`. */
async function walMetric(url: string): Promise<number> {
  const metrics = await request(`${url}/metrics`);
  const match = /^miranda_store_wal_bytes (\d+)$/m.exec(metrics.text);
  assert.ok(match, "miranda_store_wal_bytes is exported");
  return Number(match[1]);
}

Deno.test("wal fill e2e: a started node's log is zero-filled to the configured size and /metrics says so; with 0 it is not", async () => {
  const root = await tempDir();
  const dataDir = `${root}/data`;
  try {
    {
      await using server = await startServer({
        dataDir,
        args: ["--insecure-http", "--wal-preallocate-bytes", String(4 * MiB)],
      });
      const wal = await Deno.stat(`${dataDir}/miranda.db-wal`);
      assert.equal(wal.size, 4 * MiB);
      assert.equal(await walMetric(server.url), 4 * MiB);
      assert.match(server.stderr(), /write-ahead log zero-filled/);
      assert.equal((await server.stop("SIGTERM")).code, 0);
    }
    {
      // A clean stop let SQLite delete the log; without the fill it is only
      // as large as what was written since.
      await using server = await startServer({
        command: "serve",
        dataDir,
        args: ["--insecure-http", "--wal-preallocate-bytes", "0"],
      });
      const size = (await Deno.stat(`${dataDir}/miranda.db-wal`)).size;
      assert.ok(size < 4 * MiB, `the log is ${size} bytes`);
      assert.equal(await walMetric(server.url), size);
      assert.doesNotMatch(server.stderr(), /zero-filled/);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
