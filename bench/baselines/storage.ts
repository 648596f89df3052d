/**
 * The storage ceiling: raw `node:sqlite` in WAL mode with `synchronous=FULL`,
 * rows of `bodyBytes` encrypted with AES-256-GCM (WebCrypto, a fresh 12-byte
 * IV per row, the row id as additional data) and inserted in transactions of
 * `batch` rows through one prepared statement. What Miranda's event store
 * would do with nothing else in the way.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { makeBody } from "../wrk.ts";

/** Options of {@linkcode storageCeiling}. */
export interface StorageOptions {
  rows: number;
  batch: number;
  bodyBytes: number;
}

/** Events per second stored (encrypt + insert + commit). */
export async function storageCeiling(
  options: StorageOptions,
): Promise<{ eventsPerSec: number; rows: number; seconds: number }> {
  const dir = await Deno.makeTempDir({ prefix: "miranda-bench-sqlite-" });
  const db = new DatabaseSync(`${dir}/ceiling.db`);
  try {
    db.exec("PRAGMA journal_mode=WAL");
    db.exec("PRAGMA synchronous=FULL");
    db.exec(
      "CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, topic TEXT NOT NULL, iv BLOB NOT NULL, body BLOB NOT NULL, created_at INTEGER NOT NULL)",
    );
    const insert = db.prepare(
      "INSERT INTO events (id, topic, iv, body, created_at) VALUES (?, ?, ?, ?, ?)",
    );
    const key = await crypto.subtle.generateKey(
      { name: "AES-GCM", length: 256 },
      false,
      ["encrypt"],
    );
    const plain = new TextEncoder().encode(makeBody(options.bodyBytes));
    const encoder = new TextEncoder();
    const started = performance.now();
    let done = 0;
    while (done < options.rows) {
      const n = Math.min(options.batch, options.rows - done);
      const rows = await Promise.all(
        Array.from({ length: n }, async () => {
          const id = crypto.randomUUID();
          const iv = crypto.getRandomValues(new Uint8Array(12));
          const sealed = await crypto.subtle.encrypt(
            { name: "AES-GCM", iv, additionalData: encoder.encode(id) },
            key,
            plain,
          );
          return { id, iv, body: new Uint8Array(sealed) };
        }),
      );
      db.exec("BEGIN");
      const now = Date.now();
      for (const row of rows) {
        insert.run(row.id, "bench", row.iv, row.body, now);
      }
      db.exec("COMMIT");
      done += n;
    }
    const seconds = (performance.now() - started) / 1000;
    return { eventsPerSec: done / seconds, rows: done, seconds };
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
