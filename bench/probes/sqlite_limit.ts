/**
 * What a bound `LIMIT ?` costs a read against `LIMIT CAST(? AS INTEGER)`
 * and a constant limit, in the SQLite that Deno ships: a courier's read of
 * the newest event of a topic (`seq > head - 1`, limit 256) from 10,000
 * events of 600 bytes, WAL, in a temporary directory under the working
 * directory. Prints µs per read.
 *
 * `deno run -A bench/probes/sqlite_limit.ts`
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { say } from "../log.ts";
import { timePerCall } from "./per_call.ts";

const EVENTS = 10_000;
const READS = 50_000;

const dir = Deno.makeTempDirSync({ dir: ".", prefix: "sqlite-limit-" });
try {
  const db = new DatabaseSync(`${dir}/probe.db`);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(
    "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic_id TEXT NOT NULL, payload BLOB NOT NULL)",
  );
  db.exec("CREATE INDEX events_topic_seq ON events (topic_id, seq)");
  const insert = db.prepare(
    "INSERT INTO events (topic_id, payload) VALUES (?, ?)",
  );
  db.exec("BEGIN");
  for (let i = 0; i < EVENTS; i++) {
    insert.run("topic-1", crypto.getRandomValues(new Uint8Array(600)));
  }
  db.exec("COMMIT");
  const read =
    "SELECT * FROM events WHERE topic_id = ? AND seq > ? ORDER BY seq LIMIT";
  const bound = db.prepare(`${read} ?`);
  const cast = db.prepare(`${read} CAST(? AS INTEGER)`);
  const constant = db.prepare(`${read} 256`);
  const after = EVENTS - 1;
  say(`SQLite ${db.prepare("SELECT sqlite_version() AS v").get()?.["v"]}`);
  await timePerCall([
    ["LIMIT ?", () => Promise.resolve(bound.all("topic-1", after, 256))],
    [
      "LIMIT CAST(? AS INTEGER)",
      () => Promise.resolve(cast.all("topic-1", after, 256)),
    ],
    ["LIMIT 256", () => Promise.resolve(constant.all("topic-1", after))],
  ], { calls: READS, atOnce: 1, unit: "read" });
  db.close();
} finally {
  Deno.removeSync(dir, { recursive: true });
}
