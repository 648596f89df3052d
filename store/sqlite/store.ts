/**
 * The embedded store on `node:sqlite`: one database file in the data
 * directory, WAL, `synchronous=FULL`. Implements every interface of
 * `store/mod.ts`; sealed columns go through the {@linkcode Cipher}.
 *
 * @module
 */

import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import type {
  Cipher,
  SealedCell,
  Store,
  UserKeyRecord,
  UserRecord,
} from "../mod.ts";
import { openSqlite } from "./open.ts";

/** A sealed column the data-key rotation walks. */
interface EncryptedColumn {
  name: string;
  table: string;
  idColumn: string;
  kind: string;
}

/** Every sealed column of the SQLite schema (each has `key_id` and `ciphertext`). */
const ENCRYPTED_COLUMNS: readonly EncryptedColumn[] = [
  {
    name: "node_secrets",
    table: "node_secrets",
    idColumn: "name",
    kind: "node-secret",
  },
];

const SECRET_KIND = "node-secret";

/** Opens the SQLite store at `path`; `cipher()` gives the unsealed keyring or throws. */
export function openSqliteStore(path: string, cipher: () => Cipher): Store {
  const db: DatabaseSync = openSqlite(path);
  let open = true;
  const put = db.prepare(
    "INSERT INTO node_secrets (name, key_id, ciphertext) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET key_id = excluded.key_id, ciphertext = excluded.ciphertext",
  );
  const get = db.prepare("SELECT ciphertext FROM node_secrets WHERE name = ?");

  function userFromRow(row: Record<string, SQLInputValue>): UserRecord {
    return {
      name: String(row["name"]),
      roles: JSON.parse(String(row["roles"])),
      groups: JSON.parse(String(row["groups_json"])),
      emailHash: row["email_hash"] === null ? null : String(row["email_hash"]),
      createdAt: String(row["created_at"]),
      version: Number(row["version"]),
    };
  }

  function keyFromRow(row: Record<string, SQLInputValue>): UserKeyRecord {
    return {
      id: String(row["id"]),
      userName: String(row["user_name"]),
      publicKeyPem: String(row["public_key_pem"]),
      algorithm: row["algorithm"] === "Ed25519" ? "Ed25519" : "RSA",
      createdAt: String(row["created_at"]),
    };
  }

  const store: Store = {
    kind: "sqlite",
    secrets: {
      async put(name, plaintext) {
        const c = cipher();
        const ciphertext = await c.seal(plaintext, {
          kind: SECRET_KIND,
          id: name,
        });
        put.run(name, c.activeKeyId, ciphertext);
      },
      async get(name) {
        const row = get.get(name);
        if (!row) return null;
        return await cipher().open(row["ciphertext"] as Uint8Array, {
          kind: SECRET_KIND,
          id: name,
        });
      },
    },
    users: {
      create(user, key) {
        db.exec("BEGIN IMMEDIATE");
        try {
          const exists = db.prepare("SELECT 1 FROM users WHERE name = ?").get(
            user.name,
          );
          if (exists) {
            db.exec("ROLLBACK");
            return Promise.resolve({ ok: false, code: "exists" } as const);
          }
          db.prepare(
            "INSERT INTO users (name, roles, groups_json, email_hash, created_at, version) VALUES (?, ?, ?, ?, ?, ?)",
          ).run(
            user.name,
            JSON.stringify(user.roles),
            JSON.stringify(user.groups),
            user.emailHash,
            user.createdAt,
            user.version,
          );
          db.prepare(
            "INSERT INTO user_keys (id, user_name, public_key_pem, algorithm, created_at) VALUES (?, ?, ?, ?, ?)",
          ).run(
            key.id,
            key.userName,
            key.publicKeyPem,
            key.algorithm,
            key.createdAt,
          );
          db.exec("COMMIT");
          return Promise.resolve({ ok: true } as const);
        } catch (error) {
          if (db.isTransaction) db.exec("ROLLBACK");
          throw error;
        }
      },
      get(name) {
        const row = db.prepare("SELECT * FROM users WHERE name = ?").get(name);
        return Promise.resolve(row ? userFromRow(row) : null);
      },
      keys(name) {
        const rows = db.prepare(
          "SELECT * FROM user_keys WHERE user_name = ? ORDER BY created_at, id",
        ).all(name);
        return Promise.resolve(rows.map(keyFromRow));
      },
    },
    reencryption: {
      underOtherKeys(activeKeyId, limit) {
        const cells: SealedCell[] = [];
        for (const column of ENCRYPTED_COLUMNS) {
          if (cells.length >= limit) break;
          const rows = db.prepare(
            `SELECT ${column.idColumn} AS id, ciphertext FROM ${column.table} WHERE key_id != ? LIMIT ?`,
          ).all(activeKeyId, limit - cells.length);
          for (const row of rows) {
            cells.push({
              column: column.name,
              ref: { kind: column.kind, id: String(row["id"]) },
              ciphertext: row["ciphertext"] as Uint8Array,
            });
          }
        }
        return Promise.resolve(cells);
      },
      replace(cell, ciphertext, keyId) {
        const column = ENCRYPTED_COLUMNS.find((c) => c.name === cell.column);
        if (!column) {
          throw new Error(`Unknown encrypted column "${cell.column}"`);
        }
        const result = db.prepare(
          `UPDATE ${column.table} SET ciphertext = ?, key_id = ? WHERE ${column.idColumn} = ? AND ciphertext = ?`,
        ).run(ciphertext, keyId, cell.ref.id, cell.ciphertext);
        return Promise.resolve(Number(result.changes) === 1);
      },
      countByKey() {
        const counts = new Map<number, number>();
        for (const column of ENCRYPTED_COLUMNS) {
          for (
            const row of db.prepare(
              `SELECT key_id, COUNT(*) AS n FROM ${column.table} GROUP BY key_id`,
            ).all()
          ) {
            const id = Number(row["key_id"]);
            counts.set(id, (counts.get(id) ?? 0) + Number(row["n"]));
          }
        }
        return Promise.resolve(counts);
      },
    },
    healthy: () => open && db.isOpen,
    close() {
      if (open) {
        open = false;
        db.close();
      }
      return Promise.resolve();
    },
    [Symbol.asyncDispose]: () => store.close(),
  };
  return store;
}
