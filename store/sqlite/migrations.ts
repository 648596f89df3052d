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
  {
    version: 2,
    name: "node secrets, users and keys",
    sql: `
      CREATE TABLE node_secrets (
        name TEXT PRIMARY KEY,
        key_id INTEGER NOT NULL,
        ciphertext BLOB NOT NULL
      );
      CREATE INDEX node_secrets_key_id ON node_secrets (key_id);
      CREATE TABLE users (
        name TEXT PRIMARY KEY,
        roles TEXT NOT NULL,
        groups_json TEXT NOT NULL,
        email_hash TEXT UNIQUE,
        created_at TEXT NOT NULL,
        version INTEGER NOT NULL
      );
      CREATE TABLE user_keys (
        id TEXT PRIMARY KEY,
        user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
        public_key_pem TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX user_keys_user ON user_keys (user_name);
    `,
  },
];
