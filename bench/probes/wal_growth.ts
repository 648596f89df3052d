/**
 * How large the WAL grows under steady writes with the store's checkpointer
 * worker, and what its checkpoints cost the writing thread: with the WAL
 * started over past `WAL_RESTART_FRAMES` (the store's setting) against never
 * (passive checkpoints only, as before). The writer commits batches of 16
 * 600-byte rows with two indexes, WAL, `synchronous=NORMAL`, no automatic
 * checkpoint, yielding to the event loop between commits, for 20 s each; in
 * a temporary directory under the working directory. Prints the WAL file's
 * largest and final size and the commit times (p50, p99, p99.9, max).
 *
 * `deno run -A bench/probes/wal_growth.ts [seconds]`
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { setImmediate } from "node:timers";
import { say } from "../log.ts";
import { percentile } from "../stats.ts";
import {
  startCheckpointer,
  WAL_RESTART_FRAMES,
} from "../../store/sqlite/checkpointer.ts";

const SECONDS = Number(Deno.args[0] ?? 20);
const ROWS_PER_COMMIT = 16;
const MB = 1024 * 1024;

async function run(restartFrames: number): Promise<string> {
  const dir = await Deno.makeTempDir({ dir: ".", prefix: "wal-growth-" });
  const path = `${dir}/probe.db`;
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA wal_autocheckpoint = 0");
    db.exec(`PRAGMA journal_size_limit = ${WAL_RESTART_FRAMES * 4096}`);
    db.exec(
      "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, topic TEXT NOT NULL, payload BLOB NOT NULL)",
    );
    db.exec("CREATE INDEX events_topic_seq ON events (topic, seq)");
    const insert = db.prepare(
      "INSERT INTO events (id, topic, payload) VALUES (?, ?, ?)",
    );
    const checkpointer = startCheckpointer(path, {
      restartFrames,
      inline: () => {},
      onFailure: (error) => say(`checkpointer failed: ${error}`),
    });
    const payload = crypto.getRandomValues(new Uint8Array(600));
    const commitMs: number[] = [];
    let largest = 0;
    let n = 0;
    const deadline = performance.now() + SECONDS * 1000;
    while (performance.now() < deadline) {
      const started = performance.now();
      db.exec("BEGIN IMMEDIATE");
      for (let i = 0; i < ROWS_PER_COMMIT; i++) {
        // Ids rise as UUIDv7s do.
        const id = `0193${(n++).toString(16).padStart(12, "0")}-7000-8000-0`;
        insert.run(id, `topic-${n % 4}`, payload);
      }
      db.exec("COMMIT");
      commitMs.push(performance.now() - started);
      checkpointer.wrote();
      if (commitMs.length % 64 === 0) {
        largest = Math.max(largest, (await Deno.stat(`${path}-wal`)).size);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await checkpointer.close();
    const final = (await Deno.stat(`${path}-wal`)).size;
    commitMs.sort((a, b) => a - b);
    const ms = (p: number) => percentile(commitMs, p).toFixed(2);
    return `${commitMs.length} commits (${
      Math.round(n / SECONDS)
    } rows/s); WAL largest ${(largest / MB).toFixed(0)} MB, final ${
      (final / MB).toFixed(0)
    } MB; commit ms p50 ${ms(50)} p99 ${ms(99)} p99.9 ${ms(99.9)} max ${
      commitMs.at(-1)!.toFixed(2)
    }`;
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

for (let round = 1; round <= 2; round++) {
  say(`passive only:           ${await run(Infinity)}`);
  say(
    `restart past ${WAL_RESTART_FRAMES} frames: ${await run(
      WAL_RESTART_FRAMES,
    )}`,
  );
}
