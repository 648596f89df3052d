/**
 * How long one SQLite commit takes when SQLite checkpoints the WAL inline
 * (its default, every 1,000 pages) against with the automatic checkpoint off
 * (what the store does, a worker checkpointing instead): 30,000 commits of
 * one 600-byte row each, WAL, synchronous=NORMAL, in a temporary directory
 * under the working directory.
 *
 * `deno run -A bench/probes/checkpoint_stall.ts`
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { say } from "../log.ts";

const COMMITS = 30_000;
const dir = Deno.makeTempDirSync({ dir: ".", prefix: "checkpoint-stall-" });
try {
  for (const autocheckpoint of [1000, 0]) {
    const db = new DatabaseSync(`${dir}/t${autocheckpoint}.db`);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec(`PRAGMA wal_autocheckpoint = ${autocheckpoint}`);
    db.exec("CREATE TABLE t (a INTEGER PRIMARY KEY, b BLOB)");
    const insert = db.prepare("INSERT INTO t (b) VALUES (?)");
    const ms: number[] = [];
    for (let i = 0; i < COMMITS; i++) {
      const started = performance.now();
      db.exec("BEGIN IMMEDIATE");
      insert.run(crypto.getRandomValues(new Uint8Array(600)));
      db.exec("COMMIT");
      ms.push(performance.now() - started);
    }
    db.close();
    ms.sort((a, b) => a - b);
    const at = (p: number) => ms[Math.floor(p * (ms.length - 1))]!.toFixed(3);
    say(
      `wal_autocheckpoint=${autocheckpoint}: commit p50 ${at(0.5)} ms, p99 ${
        at(0.99)
      } ms, p99.9 ${at(0.999)} ms, max ${at(1)} ms`,
    );
  }
} finally {
  Deno.removeSync(dir, { recursive: true });
}
