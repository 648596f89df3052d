/**
 * The versioned schema of the embedded store, applied in order at start.
 * A migration is never edited once released: add a new one.
 *
 * @module
 */

/** One schema step. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Every migration of the SQLite store, oldest first. */
export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "node metadata",
    sql: `CREATE TABLE node_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  },
];
