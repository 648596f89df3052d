import assert from "node:assert/strict";
import { preallocateWal } from "../../store/sqlite/wal_preallocation.ts";
import { mountExt4Loop } from "../support/ext4_loop.ts";
import { report } from "../../chaos/lib/report.ts";

const MiB = 1024 * 1024;

async function inTempDir(test: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "miranda-wal-fill-" });
  try {
    await test(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Whether every byte of `data` from `from` on is zero. */
function zeroFrom(data: Uint8Array, from: number): boolean {
  return data.subarray(from).every((byte) => byte === 0);
}

Deno.test("wal preallocation: a missing log is created owner-only and filled with written zeros, not a sparse hole", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/miranda.db-wal`;
    const bytes = 3 * MiB + 5;
    assert.deepEqual(preallocateWal(path, bytes), {
      kind: "filled",
      fromBytes: 0,
      toBytes: bytes,
    });
    const info = await Deno.stat(path);
    assert.equal(info.size, bytes);
    assert.equal(info.mode! & 0o777, 0o600);
    // Allocated blocks: an overwrite then needs no new ones.
    assert.ok(info.blocks! * 512 >= bytes, `${info.blocks} blocks of 512`);
    assert.ok(zeroFrom(await Deno.readFile(path), 0));
  });
});

Deno.test("wal preallocation: a log left by a crash keeps its frames and gains zeros after them; a large one is left alone", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/miranda.db-wal`;
    const frames = new Uint8Array(5_000).fill(7);
    await Deno.writeFile(path, frames);
    assert.equal(preallocateWal(path, 2 * MiB).kind, "filled");
    const data = await Deno.readFile(path);
    assert.equal(data.length, 2 * MiB);
    assert.deepEqual(data.subarray(0, frames.length), frames);
    assert.ok(zeroFrom(data, frames.length));
    assert.deepEqual(preallocateWal(path, MiB), {
      kind: "already",
      bytes: 2 * MiB,
    });
    assert.equal((await Deno.stat(path)).size, 2 * MiB);
  });
});

Deno.test("wal preallocation: a fill that runs out of space gives the space back and leaves the log as it was", async () => {
  const root = await Deno.makeTempDir({ prefix: "miranda-wal-full-" });
  try {
    const fs = await mountExt4Loop(root, 8);
    if (typeof fs === "string") {
      assert.notEqual(Deno.env.get("CI"), "true", `cannot run in CI: ${fs}`);
      report(`wal preallocation (no space) skipped: ${fs}`);
      return;
    }
    await using _fs = fs;
    const fresh = `${root}/fresh.db-wal`;
    const done = preallocateWal(fresh, 16 * MiB);
    assert.equal(done.kind, "failed");
    assert.match(String((done as { error: unknown }).error), /space/i);
    await assert.rejects(() => Deno.stat(fresh), Deno.errors.NotFound);
    const kept = `${root}/kept.db-wal`;
    await Deno.writeTextFile(kept, "frames");
    assert.equal(preallocateWal(kept, 16 * MiB).kind, "failed");
    assert.equal(await Deno.readTextFile(kept), "frames");
    // The space came back: a fill that fits succeeds.
    assert.equal(preallocateWal(kept, 4 * MiB).kind, "filled");
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
