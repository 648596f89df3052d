/**
 * Opens the embedded SQLite store (`node:sqlite`) in the data directory with
 * the settings durability needs: WAL, `synchronous=FULL` (a commit is on disk
 * before it is acknowledged), foreign keys, a busy timeout, and the
 * migrations applied in order.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { SQLITE_MIGRATIONS } from "./migrations.ts";

/** The file name of the embedded store inside the data directory. */
export const SQLITE_FILE = "miranda.db";

/** Opens (creating if needed) the store at `path` and applies pending migrations. */
export function openSqlite(path: string): DatabaseSync {
  ownerOnly(path);
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA busy_timeout = 5000");
  migrate(db);
  return db;
}

function migrate(db: DatabaseSync): void {
  db.exec(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
  );
  const applied = new Set(
    db.prepare("SELECT version FROM schema_migrations").all().map((row) =>
      Number(row["version"])
    ),
  );
  for (const migration of SQLITE_MIGRATIONS) {
    if (applied.has(migration.version)) continue;
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(migration.sql);
      db.prepare(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
      )
        .run(migration.version, migration.name, new Date().toISOString());
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  }
}

/**
 * Creates the database file owner-only before SQLite opens it; SQLite gives
 * its `-wal` and `-shm` files the same permissions as the database.
 */
function ownerOnly(path: string): void {
  const file = Deno.openSync(path, { create: true, write: true, mode: 0o600 });
  file.close();
  Deno.chmodSync(path, 0o600);
}
