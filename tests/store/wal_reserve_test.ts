import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { preallocateWal } from "../../store/sqlite/wal_preallocation.ts";
import {
  readWalEnd,
  reserveSizes,
  WalReserve,
} from "../../store/sqlite/wal_reserve.ts";
import { mountExt4Loop } from "../support/ext4_loop.ts";
import { report } from "../../chaos/lib/report.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/** A WAL database in a new directory, with automatic checkpoints off. */
async function withDatabase(
  test: (db: DatabaseSync, path: string) => Promise<void> | void,
  root?: string,
) {
  const dir = root ?? await Deno.makeTempDir({ prefix: "miranda-wal-res-" });
  const path = `${dir}/miranda.db`;
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA wal_autocheckpoint = 0");
    db.exec("CREATE TABLE rows (n INTEGER PRIMARY KEY, body BLOB)");
    await test(db, path);
  } finally {
    db.close();
    if (root === undefined) await Deno.remove(dir, { recursive: true });
  }
}

/** Inserts `count` rows of `bytes` each, one commit per row, from `first`. */
function insert(db: DatabaseSync, first: number, count: number, bytes = 2_000) {
  const statement = db.prepare("INSERT INTO rows (n, body) VALUES (?, ?)");
  for (let n = first; n < first + count; n++) {
    statement.run(n, new Uint8Array(bytes).fill(n % 251));
  }
}

function walFrames(db: DatabaseSync): number {
  return Number(db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get()!["log"]);
}

Deno.test("wal reserve: the end read from the -shm index is SQLite's own frame count, and moves with each commit", async () => {
  await withDatabase((db, path) => {
    insert(db, 1, 25);
    using shm = Deno.openSync(`${path}-shm`, { read: true });
    const before = readWalEnd(shm)!;
    insert(db, 26, 1);
    const end = readWalEnd(shm)!;
    assert.ok(end.frames > before.frames);
    assert.equal(end.pageSize, 4096);
    assert.equal(end.bytes, 32 + end.frames * (24 + 4096));
    assert.ok(end.bytes <= Deno.statSync(`${path}-wal`).size);
    assert.equal(end.frames, walFrames(db));
  });
});

Deno.test("wal reserve: keeps zero-filled, allocated room ahead of the log's end as it grows, and every row survives", async () => {
  await withDatabase((db, path) => {
    assert.equal(preallocateWal(`${path}-wal`, MiB).kind, "filled");
    const reserve = new WalReserve(path, {
      headroomBytes: 256 * KiB,
      stepBytes: 256 * KiB,
    });
    try {
      const kinds = new Set<string>();
      let n = 1;
      for (let round = 0; round < 400; round++) {
        const done = reserve.ensure(8 * KiB);
        kinds.add(done.kind);
        // The reserve is always ahead of the end, by the headroom at least.
        using shm = Deno.openSync(`${path}-shm`, { read: true });
        const end = readWalEnd(shm)!;
        const info = Deno.statSync(`${path}-wal`);
        assert.ok(
          end.bytes + 8 * KiB + 256 * KiB <= info.size,
          `end ${end.bytes}, file ${info.size}`,
        );
        assert.ok(info.blocks! * 512 >= info.size, "a sparse extension");
        insert(db, n, 1);
        n++;
      }
      assert.deepEqual([...kinds].sort(), ["extended", "room"]);
      assert.ok(Deno.statSync(`${path}-wal`).size > MiB);
      // A copy of the database and its log, as a crash would leave them,
      // has every row: the zeros never landed on a frame.
      const copy = `${path}.copy`;
      Deno.copyFileSync(path, copy);
      Deno.copyFileSync(`${path}-wal`, `${copy}-wal`);
      const reopened = new DatabaseSync(copy);
      const rows = reopened.prepare(
        "SELECT count(*) AS c, sum(n) AS s FROM rows",
      )
        .get()!;
      reopened.close();
      assert.equal(Number(rows["c"]), 400);
      assert.equal(Number(rows["s"]), (400 * 401) / 2);
    } finally {
      reserve.close();
    }
  });
});

Deno.test("wal reserve: zeros go only past the file's real end, even when a transaction outgrew the size it remembered", async () => {
  await withDatabase((db, path) => {
    assert.equal(preallocateWal(`${path}-wal`, 512 * KiB).kind, "filled");
    const reserve = new WalReserve(path, {
      headroomBytes: 64 * KiB,
      stepBytes: 64 * KiB,
    });
    try {
      assert.equal(reserve.ensure().kind, "room");
      // One transaction far larger than any estimate: SQLite appends.
      db.exec("BEGIN");
      insert(db, 1, 300, 4_000);
      db.exec("COMMIT");
      const appended = Deno.statSync(`${path}-wal`).size;
      assert.ok(appended > 512 * KiB);
      const done = reserve.ensure();
      assert.equal(done.kind, "extended");
      assert.equal((done as { fromBytes: number }).fromBytes, appended);
      insert(db, 301, 10);
      const copy = `${path}.copy`;
      Deno.copyFileSync(path, copy);
      Deno.copyFileSync(`${path}-wal`, `${copy}-wal`);
      const reopened = new DatabaseSync(copy);
      const count = reopened.prepare("SELECT count(*) AS c FROM rows").get()!;
      reopened.close();
      assert.equal(Number(count["c"]), 310);
    } finally {
      reserve.close();
    }
  });
});

Deno.test("wal reserve: after SQLite starts the log over and cuts it back, the reserve reads the new size", async () => {
  await withDatabase((db, path) => {
    db.exec(`PRAGMA journal_size_limit = ${256 * KiB}`);
    const reserve = new WalReserve(path, {
      headroomBytes: 128 * KiB,
      stepBytes: 128 * KiB,
    });
    try {
      for (let n = 1; n <= 200; n++) {
        reserve.ensure();
        insert(db, n, 1);
      }
      const grown = Deno.statSync(`${path}-wal`).size;
      assert.ok(grown > 256 * KiB);
      db.exec("PRAGMA wal_checkpoint(RESTART)");
      insert(db, 201, 1); // starts the log over and cuts it to the limit
      assert.equal(Deno.statSync(`${path}-wal`).size, 256 * KiB);
      assert.equal(reserve.ensure().kind, "room");
      for (let n = 202; n <= 260; n++) {
        reserve.ensure();
        insert(db, n, 1);
      }
      using shm = Deno.openSync(`${path}-shm`, { read: true });
      const end = readWalEnd(shm)!;
      assert.ok(end.bytes + 128 * KiB <= Deno.statSync(`${path}-wal`).size);
    } finally {
      reserve.close();
    }
  });
});

Deno.test("wal reserve: an extension that runs out of space gives it back, is logged once and tried again a second later", async () => {
  const root = await Deno.makeTempDir({ prefix: "miranda-wal-res-full-" });
  try {
    const fs = await mountExt4Loop(root, 8);
    if (typeof fs === "string") {
      assert.notEqual(Deno.env.get("CI"), "true", `cannot run in CI: ${fs}`);
      report(`wal reserve (no space) skipped: ${fs}`);
      return;
    }
    await using _fs = fs;
    await withDatabase((db, path) => {
      insert(db, 1, 5);
      const size = Deno.statSync(`${path}-wal`).size;
      const warnings: string[] = [];
      let now = 0;
      const log = {
        warn: (message: string) => warnings.push(message),
        info: () => {},
      } as unknown as import("../../observability/logger.ts").Logger;
      const reserve = new WalReserve(path, {
        headroomBytes: 64 * MiB,
        stepBytes: MiB,
        log,
        now: () => now,
      });
      try {
        const done = reserve.ensure();
        assert.equal(done.kind, "failed");
        assert.match(String((done as { error: unknown }).error), /space/i);
        assert.equal(Deno.statSync(`${path}-wal`).size, size);
        assert.equal(reserve.ensure().kind, "waiting");
        now += 1_001;
        assert.equal(reserve.ensure().kind, "failed");
        assert.equal(warnings.length, 1);
        // Commits go on, appending, and the rows are there.
        insert(db, 6, 5);
        const count = db.prepare("SELECT count(*) AS c FROM rows").get()!;
        assert.equal(Number(count["c"]), 10);
      } finally {
        reserve.close();
      }
    }, root);
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

Deno.test("wal reserve: its sizes follow the start-up fill — a quarter of it, the headroom at most 8 MiB, the step between 1 and 8 MiB", () => {
  assert.deepEqual(reserveSizes(80 * MiB), {
    headroomBytes: 8 * MiB,
    stepBytes: 8 * MiB,
  });
  assert.deepEqual(reserveSizes(16 * MiB), {
    headroomBytes: 4 * MiB,
    stepBytes: 4 * MiB,
  });
  assert.deepEqual(reserveSizes(MiB), {
    headroomBytes: 256 * KiB,
    stepBytes: MiB,
  });
});
