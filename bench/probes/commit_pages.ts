/**
 * What each page an event insert dirties costs its commit, in the SQLite
 * that Deno ships: the events table as the store makes it (AUTOINCREMENT,
 * the unique id and four indexes) against variants without one of them,
 * and a minimal one. WAL, `synchronous=NORMAL` (the store's event commits;
 * the flush runs off the thread), no automatic checkpoint, a temporary
 * directory under the working directory. Prints µs per event committed
 * alone (as at 1,000 events/s) and in batches of 64 (as at full rate), the
 * best of three rounds.
 *
 * `deno run -A bench/probes/commit_pages.ts`
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { say } from "../log.ts";

const INDEXES = {
  topicSeq: "CREATE INDEX events_topic_seq ON events (topic_id, seq)",
  topicReceived:
    "CREATE INDEX events_topic_received ON events (topic_id, received_at)",
  idempotency:
    "CREATE INDEX events_idempotency ON events (topic_id, idempotency_key, received_at) WHERE idempotency_key IS NOT NULL",
  keyId: "CREATE INDEX events_key_id ON events (key_id)",
};
type Index = keyof typeof INDEXES;
const ALL = Object.keys(INDEXES) as Index[];

const VARIANTS: { name: string; autoincrement: boolean; indexes: Index[] }[] = [
  { name: "as the store makes it", autoincrement: true, indexes: ALL },
  {
    name: "without events_key_id",
    autoincrement: true,
    indexes: ALL.filter((i) => i !== "keyId"),
  },
  {
    name: "without events_topic_received",
    autoincrement: true,
    indexes: ALL.filter((i) => i !== "topicReceived"),
  },
  { name: "without AUTOINCREMENT", autoincrement: false, indexes: ALL },
  {
    name: "minimal (no AUTOINCREMENT, topic_seq and idempotency only)",
    autoincrement: false,
    indexes: ["topicSeq", "idempotency"],
  },
];

const PAYLOAD = new Uint8Array(300).fill(7);

/** µs per event: `commits` transactions of `batch` inserts each. */
function measure(
  variant: (typeof VARIANTS)[number],
  batch: number,
  commits: number,
): number {
  const dir = Deno.makeTempDirSync({ dir: ".", prefix: "commit-pages-" });
  const db = new DatabaseSync(`${dir}/probe.db`);
  try {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA wal_autocheckpoint = 0");
    db.exec(
      `CREATE TABLE events (seq INTEGER PRIMARY KEY${
        variant.autoincrement ? " AUTOINCREMENT" : ""
      }, id TEXT NOT NULL UNIQUE, topic_id TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, query TEXT NOT NULL, content_type TEXT, sender TEXT NOT NULL, received_at INTEGER NOT NULL, idempotency_key TEXT, key_id INTEGER NOT NULL, payload BLOB NOT NULL)`,
    );
    for (const index of variant.indexes) db.exec(INDEXES[index]);
    const insert = db.prepare(
      "INSERT INTO events (id, topic_id, method, path, query, content_type, sender, received_at, idempotency_key, key_id, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    const begin = db.prepare("BEGIN IMMEDIATE");
    const commit = db.prepare("COMMIT");
    let n = 0;
    const transaction = (size: number) => {
      begin.run();
      for (let i = 0; i < size; i++) {
        // Ids rise as UUIDv7s do.
        const id = `0193${(n++).toString(16).padStart(12, "0")}-7000-8000-0`;
        insert.run(
          id,
          "topic-1",
          "POST",
          "/",
          "",
          "application/json",
          "alice",
          Date.now(),
          null,
          1,
          PAYLOAD,
        );
      }
      commit.run();
    };
    for (let i = 0; i < 2_000; i++) transaction(1);
    const started = performance.now();
    for (let i = 0; i < commits; i++) transaction(batch);
    return (performance.now() - started) * 1000 / (commits * batch);
  } finally {
    db.close();
    Deno.removeSync(dir, { recursive: true });
  }
}

say("µs per event (best of 3)          alone   batches of 64");
for (const variant of VARIANTS) {
  let alone = Infinity;
  let batched = Infinity;
  for (let round = 0; round < 3; round++) {
    alone = Math.min(alone, measure(variant, 1, 5_000));
    batched = Math.min(batched, measure(variant, 64, 150));
  }
  say(
    `${variant.name.padEnd(58)} ${alone.toFixed(1).padStart(6)} ${
      batched.toFixed(2).padStart(7)
    }`,
  );
}
