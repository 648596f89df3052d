import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { startCheckpointer } from "../../store/sqlite/checkpointer.ts";

async function eventually(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Not within 5 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A WAL database with a table `t` and no automatic checkpoint, removed after `fn`. */
async function withWalDatabase<T>(
  fn: (db: DatabaseSync, path: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "miranda-ckpt-" });
  const path = `${dir}/miranda.db`;
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA wal_autocheckpoint = 0");
    db.exec("CREATE TABLE t (a INTEGER PRIMARY KEY, b BLOB)");
    return await fn(db, path);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("checkpointer: WAL pages reach the database file from the worker, while the writer's connection never checkpoints", async () => {
  await withWalDatabase(async (db, path) => {
    const insert = db.prepare("INSERT INTO t (b) VALUES (?)");
    const write = (rows: number) => {
      for (let i = 0; i < rows; i++) {
        db.exec("BEGIN IMMEDIATE");
        insert.run(new Uint8Array(1024).fill(i % 251));
        db.exec("COMMIT");
      }
    };
    const size = () => Deno.statSync(path).size;
    const before = size();
    // Control: with no checkpointer the database file does not grow.
    write(1_500);
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(size(), before, "nothing checkpointed without the worker");
    const failures: string[] = [];
    const checkpointer = startCheckpointer(path, {
      intervalMs: 50,
      inline: () => {},
      onFailure: (error) => failures.push(error),
    });
    checkpointer.wrote();
    try {
      // The rows reach the database file (a checkpoint copies page by page,
      // so the size is watched until it holds them all).
      await eventually(
        "the WAL is checkpointed into the database file",
        () => size() >= 1_500 * 1024,
      );
      // Writing goes on while the worker checkpoints.
      write(500);
      assert.equal(
        Number(db.prepare("SELECT COUNT(*) AS n FROM t").get()?.["n"]),
        2_000,
      );
    } finally {
      await checkpointer.close();
    }
    assert.deepEqual(failures, []);
  });
});

Deno.test("checkpointer: a file it cannot open reports the failure once, and close still ends the worker", async () => {
  const failures: string[] = [];
  const inline: boolean[] = [];
  const checkpointer = startCheckpointer("/nonexistent-dir/miranda.db", {
    intervalMs: 50,
    inline: (on) => inline.push(on),
    onFailure: (error) => failures.push(error),
  });
  checkpointer.wrote();
  await eventually("the failure is reported", () => failures.length > 0);
  // A file it cannot open starts no second worker.
  await checkpointer.close();
  checkpointer.wrote();
  assert.equal(checkpointer.running, false);
  assert.deepEqual(inline, [true], "SQLite checkpoints inline throughout");
  assert.equal(failures.length, 1);
  assert.match(failures[0]!, /unable to open|cannot open|no such/i);
});

Deno.test("checkpointer: the first write starts the worker; it retires after a quiet spell with a last checkpoint (inline on), and the next write starts a new one (inline off)", async () => {
  await withWalDatabase(async (db, path) => {
    const insert = db.prepare("INSERT INTO t (b) VALUES (?)");
    const size = () => Deno.statSync(path).size;
    const inline: boolean[] = [];
    const checkpointer = startCheckpointer(path, {
      intervalMs: 10_000,
      idleMs: 300,
      inline: (on) => inline.push(on),
      onFailure: (error) => assert.fail(error),
    });
    try {
      assert.equal(checkpointer.running, false, "no worker before a write");
      assert.deepEqual(inline, [true]);
      checkpointer.wrote();
      assert.equal(checkpointer.running, true, "the first write starts one");
      await eventually("the worker checkpoints", () => inline.at(-1) === false);
      // Writes keep it: 600 ms of them, each less than the idle time apart.
      for (let i = 0; i < 6; i++) {
        checkpointer.wrote();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(checkpointer.running, true, "kept while writes go on");
      // Rows written now wait for the worker's next checkpoint (10 s away):
      // only its last one, at retirement, can bring them in early.
      const before = size();
      for (let i = 0; i < 200; i++) insert.run(new Uint8Array(1024));
      await eventually("the worker retires", () => !checkpointer.running);
      assert.equal(inline.at(-1), true, "SQLite checkpoints inline meanwhile");
      await eventually(
        "the last checkpoint reached the database file",
        () => size() >= before + 200 * 1024,
      );
      checkpointer.wrote();
      assert.equal(checkpointer.running, true);
      await eventually(
        "a new worker checkpoints",
        () => inline.at(-1) === false,
      );
      assert.deepEqual(inline, [true, false, true, false]);
    } finally {
      await checkpointer.close();
    }
    assert.equal(checkpointer.running, false);
    assert.equal(inline.at(-1), true);
  });
});

/**
 * Commits `commits` 1 KiB rows one by one without yielding, busy for 0.1 ms
 * between commits (a gap shorter than a checkpoint's fsync, so a passive
 * checkpoint never copies every frame before the next commit),
 * with a checkpointer that starts the WAL over past `restartFrames`. Then,
 * with `settle`, goes on the same way (for 10 s at most) until the WAL file
 * is within four times `restartFrames`: on a loaded machine the
 * checkpointer's thread may get too little time during the burst to keep
 * the WAL near the limit, and what counts is that it comes back while the
 * writes go on. Resolves with the WAL file's size, the rows and SQLite's
 * integrity check.
 */
async function steadyWrites(
  restartFrames: number,
  commits: number,
  settle = false,
): Promise<{ walBytes: number; rows: number; integrity: string }> {
  return await withWalDatabase(async (db, path) => {
    // As the store: commits wait for a restart's brief hold of the lock,
    // and a started-over WAL file is cut back to the limit.
    db.exec("PRAGMA busy_timeout = 5000");
    if (restartFrames !== Infinity) {
      db.exec(`PRAGMA journal_size_limit = ${restartFrames * 4096}`);
    }
    const insert = db.prepare("INSERT INTO t (b) VALUES (?)");
    const failures: string[] = [];
    const checkpointer = startCheckpointer(path, {
      intervalMs: 10,
      restartFrames,
      inline: () => {},
      onFailure: (error) => failures.push(error),
    });
    const commitOne = (i: number) => {
      db.exec("BEGIN IMMEDIATE");
      insert.run(new Uint8Array(1024).fill(i % 251));
      db.exec("COMMIT");
      checkpointer.wrote();
      // Other work between commits, as on the node's thread at full rate.
      const until = performance.now() + 0.1;
      while (performance.now() < until) { /* busy */ }
    };
    try {
      for (let i = 0; i < commits; i++) commitOne(i);
      // Steady writes go on (up to 10 s more) until the WAL file is back
      // near the limit, checked every 100 commits.
      const settleUntil = performance.now() + 10_000;
      while (
        settle && performance.now() < settleUntil &&
        (await Deno.stat(`${path}-wal`)).size > 4 * restartFrames * 4096
      ) {
        for (let i = 0; i < 100; i++) commitOne(i);
      }
    } finally {
      await checkpointer.close();
    }
    assert.deepEqual(failures, []);
    return {
      walBytes: (await Deno.stat(`${path}-wal`)).size,
      rows: Number(db.prepare("SELECT COUNT(*) AS n FROM t").get()?.["n"]),
      integrity: String(
        db.prepare("PRAGMA integrity_check").get()?.["integrity_check"],
      ),
    };
  });
}

Deno.test("checkpointer: under steady writes the WAL is started over once it passes restartFrames, so it stays near that size; with passive checkpoints alone it grows with every commit", async () => {
  const commits = 3_000;
  const restarted = await steadyWrites(100, commits, true);
  const passiveOnly = await steadyWrites(Infinity, commits);
  assert.ok(restarted.rows >= commits, `restarted: ${restarted.rows} rows`);
  assert.equal(passiveOnly.rows, commits);
  assert.equal(restarted.integrity, "ok");
  // Without a limit the WAL file keeps its largest size; with passive
  // checkpoints alone that holds most of the commits (a frame each at least).
  assert.ok(
    passiveOnly.walBytes > (commits / 2) * 4096,
    `passive only: ${passiveOnly.walBytes} bytes`,
  );
  assert.ok(
    restarted.walBytes < passiveOnly.walBytes / 4,
    `restarted: ${restarted.walBytes} bytes against ${passiveOnly.walBytes}`,
  );
});
