/**
 * The embedded store on `node:sqlite`: one database file in the data
 * directory, WAL, `synchronous=FULL`. Implements every interface of
 * `store/mod.ts`; sealed columns go through the {@linkcode Cipher}. The event
 * pipeline's stores (topics, subscriptions, events, deliveries) live in
 * `pipeline.ts`.
 *
 * Every statement is prepared once when the store opens. `node:sqlite` is
 * synchronous, so each method does its work at once and returns a settled
 * promise (a thrown error becomes a rejection). Writes that touch more than
 * one row run in a `BEGIN IMMEDIATE` transaction, which takes the write lock
 * up front so the checks inside it (name taken, e-mail taken, version) cannot
 * race another writer.
 *
 * @module
 */

import { nextVersion, versionWriter } from "./versions.ts";
import type {
  DatabaseSync,
  SQLInputValue,
  SQLOutputValue,
  StatementSync,
} from "node:sqlite";
import type {
  AgentTokenRecord,
  AuditQuery,
  AuditRecord,
  Cipher,
  GroupRecord,
  SealedCell,
  SessionRecord,
  Store,
  UserKeyRecord,
  UserRecord,
  VersionRecord,
} from "../mod.ts";
import { openSqlite } from "./open.ts";
import { WalSync } from "./wal_sync.ts";
import { preallocateWal, type WalPreallocation } from "./wal_preallocation.ts";
import { WriteHealth } from "./write_health.ts";
import { startCheckpointer, WAL_RESTART_FRAMES } from "./checkpointer.ts";
import { reserveSizes, WalReserve } from "./wal_reserve.ts";
import type { Logger } from "../../observability/logger.ts";
import {
  EVENT_KIND,
  pipelineStores,
  SUBSCRIPTION_SECRET_KIND,
} from "./pipeline.ts";

/** A sealed column the data-key rotation walks. */
interface EncryptedColumn {
  name: string;
  table: string;
  /** The column whose value is the sealed record's id. */
  idColumn: string;
  /** The column naming the data key the cell is sealed under. */
  keyIdColumn: string;
  ciphertextColumn: string;
  kind: string;
}

/** Every sealed column of the SQLite schema. */
const ENCRYPTED_COLUMNS: readonly EncryptedColumn[] = [
  {
    name: "node_secrets",
    table: "node_secrets",
    idColumn: "name",
    keyIdColumn: "key_id",
    ciphertextColumn: "ciphertext",
    kind: "node-secret",
  },
  {
    name: "subscription_secrets",
    table: "subscriptions",
    idColumn: "id",
    keyIdColumn: "secrets_key_id",
    ciphertextColumn: "secrets",
    kind: SUBSCRIPTION_SECRET_KIND,
  },
  {
    name: "events",
    table: "events",
    idColumn: "id",
    keyIdColumn: "key_id",
    ciphertextColumn: "payload",
    kind: EVENT_KIND,
  },
];

const SECRET_KIND = "node-secret";

/** The `kind` of user rows in `resource_versions`. */
const USER_KIND = "user";

/** The actor recorded for changes made without a {@linkcode ChangeContext}. */
const SYSTEM_ACTOR = "system";

/** The optional filters of an audit listing, in the order their SQL is built. */
const AUDIT_FILTERS = [
  ["resource", "resource = ?"],
  ["actor", "actor = ?"],
  ["since", "time >= ?"],
  ["until", "time <= ?"],
  ["afterSeq", "seq > ?"],
] as const satisfies readonly (readonly [keyof AuditQuery, string])[];

type Row = Record<string, SQLOutputValue>;

/** SQLite's own checkpoint threshold, on while no checkpointer worker checkpoints. */
const SQLITE_AUTOCHECKPOINT_PAGES = 1000;

function logPreallocation(
  done: WalPreallocation,
  ms: number,
  log?: Logger,
): void {
  if (done.kind === "filled") {
    log?.info("write-ahead log zero-filled", {
      fromBytes: done.fromBytes,
      toBytes: done.toBytes,
      ms: Math.round(ms),
    });
  } else if (done.kind === "failed") {
    log?.warn("write-ahead log not zero-filled; commits append to it instead", {
      error: done.error,
    });
  }
}

/**
 * Opens the SQLite store at `path`; `cipher()` gives the unsealed keyring or
 * throws. WAL checkpoints run in a worker (see `checkpointer.ts`).
 */
export function openSqliteStore(
  path: string,
  cipher: () => Cipher,
  options: {
    log?: Logger;
    /** Flushes the WAL file (`syncData` unless given; tests gate it). */
    walFlush?: (file: Deno.FsFile) => Promise<void>;
    /** Zero-fills the WAL to this size once open, before any commit (see `wal_preallocation.ts`); 0 by default. */
    walPreallocateBytes?: number;
  } = {},
): Store {
  const db: DatabaseSync = openSqlite(path);
  // After opening: SQLite deletes a log it finds beside an empty database.
  // Under the write lock, so that no connection appends frames where the
  // zeros go (ours commits nothing yet; another process on the same
  // directory, wrongly started, would wait).
  const walBytes = options.walPreallocateBytes ?? 0;
  if (walBytes > 0) {
    const started = performance.now();
    db.exec("BEGIN IMMEDIATE");
    let done: WalPreallocation;
    try {
      done = preallocateWal(`${path}-wal`, walBytes);
    } finally {
      db.exec("ROLLBACK");
    }
    logPreallocation(done, performance.now() - started, options.log);
  }
  // When the checkpointer makes SQLite start the WAL over, the file is cut
  // back to this size instead of keeping its peak (never below the
  // preallocated size: those blocks are what commits overwrite).
  const pageSize = Number(db.prepare("PRAGMA page_size").get()!["page_size"]);
  db.exec(
    `PRAGMA journal_size_limit = ${
      Math.max(WAL_RESTART_FRAMES * pageSize, walBytes)
    }`,
  );
  let open = true;
  const sql = prepareAll(db);
  // Prepared once: `exec` would parse them again on every transaction.
  const begin = db.prepare("BEGIN IMMEDIATE");
  const commit = db.prepare("COMMIT");
  // Checkpoints run in a worker while the store writes; SQLite's own would
  // stall the event loop, so they are on only while no worker checkpoints.
  const checkpointer = startCheckpointer(path, {
    inline: (on) => {
      if (!db.isOpen) return;
      db.exec(
        `PRAGMA wal_autocheckpoint = ${on ? SQLITE_AUTOCHECKPOINT_PAGES : 0}`,
      );
    },
    onFailure: (error) => {
      options.log?.error(
        "WAL checkpointer failed; SQLite checkpoints inline again",
        { error },
      );
    },
    onRecovery: () => {
      options.log?.info("WAL checkpointer recovered; checkpoints off-thread");
    },
  });

  const totalChanges = db.prepare("SELECT total_changes() AS n");
  const changes = () => Number(totalChanges.get()!["n"]);

  // Zero-filled room ahead of the log's end, kept while the store writes.
  const reserve = walBytes > 0
    ? new WalReserve(path, {
      ...reserveSizes(walBytes),
      ...(options.log ? { log: options.log } : {}),
    })
    : null;

  /**
   * Runs `fn` in a write transaction, rolling back when it throws;
   * `writeBytes` is about how much it may write to the log, if much.
   */
  function transaction<T>(fn: () => T, writeBytes?: number): T {
    // After a failed WAL flush nothing more may be appended (`wal_sync.ts`).
    if (walSync.failed !== null) throw walSync.failed;
    // A commit that changed no row (a retention sweep with nothing to
    // remove, say) starts no checkpointer worker.
    const before = checkpointer.running ? -1 : changes();
    begin.run();
    // Under the write lock: no frame is written while zeros are.
    reserve?.ensure(writeBytes);
    try {
      const result = fn();
      commit.run();
      if (before === -1 || changes() !== before) checkpointer.wrote();
      return result;
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      writes.failed(error);
      throw error;
    }
  }

  // Storage failures (a full disk, a read-only file system) take the node
  // out of `/readyz` until a probe write gets through again.
  const probeWrite = db.prepare(
    "INSERT INTO node_meta (key, value) VALUES ('write_probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
  );
  const writes = new WriteHealth({
    // A committed transaction of its own: `synchronous=FULL` flushes it.
    probe: () =>
      settle(() => {
        transaction(() => probeWrite.run(new Date().toISOString()));
      }),
    onChange: (state) => {
      if (state.ok) options.log?.info("store writes succeed again");
      else {
        options.log?.error(
          "store writes failing; /readyz answers 503 until one succeeds",
          { detail: state.detail },
        );
      }
    },
  });

  const writeVersion = versionWriter(db);

  function writeUser(user: UserRecord): void {
    sql.updateUser.run(
      JSON.stringify(user.roles),
      JSON.stringify(user.groups),
      user.emailHash,
      user.version,
      user.name,
    );
  }

  function emailTakenByOther(hash: string | null, name: string): boolean {
    if (hash === null) return false;
    const row = sql.userByEmail.get(hash);
    return row !== undefined && row["name"] !== name;
  }

  const walSync = new WalSync(`${path}-wal`, {
    ...(options.walFlush ? { flush: options.walFlush } : {}),
    onFailure: (error) => writes.failed(error),
  });
  const pipeline = pipelineStores(db, cipher, transaction, walSync);

  const store: Store = {
    kind: "sqlite",
    ...pipeline,
    secrets: {
      async put(name, plaintext) {
        const c = cipher();
        const ciphertext = await c.seal(plaintext, {
          kind: SECRET_KIND,
          id: name,
        });
        sql.putSecret.run(name, c.activeKeyId, ciphertext);
      },
      async get(name) {
        const row = sql.getSecret.get(name);
        if (!row) return null;
        return await cipher().open(row["ciphertext"] as Uint8Array, {
          kind: SECRET_KIND,
          id: name,
        });
      },
    },
    users: {
      create: (user, key, change) =>
        settle(() =>
          transaction(() => {
            if (sql.userExists.get(user.name)) {
              return { ok: false, code: "exists" } as const;
            }
            if (emailTakenByOther(user.emailHash, user.name)) {
              return { ok: false, code: "email_taken" } as const;
            }
            // A new user is always at version 1, whatever the record says.
            const first = { ...user, version: 1 };
            sql.insertUser.run(
              first.name,
              JSON.stringify(first.roles),
              JSON.stringify(first.groups),
              first.emailHash,
              first.createdAt,
              first.version,
            );
            sql.insertKey.run(
              key.id,
              key.userName,
              key.publicKeyPem,
              key.algorithm,
              key.createdAt,
            );
            writeVersion({
              kind: USER_KIND,
              id: first.name,
              version: first.version,
              change: change ?? {
                actor: SYSTEM_ACTOR,
                requestId: "",
                time: first.createdAt,
              },
              snapshot: userSnapshot(first),
            });
            return { ok: true } as const;
          })
        ),
      get: (name) =>
        settle(() => {
          const row = sql.getUser.get(name);
          return row ? userFromRow(row) : null;
        }),
      list: (page) =>
        settle(() => {
          const limit = Math.max(0, page.limit);
          const rows = page.after === undefined
            ? sql.listUsers.all(limit)
            : sql.listUsersAfter.all(page.after, limit);
          return rows.map(userFromRow);
        }),
      findByEmailHash: (hash) =>
        settle(() => {
          const row = sql.userByEmail.get(hash);
          return row ? userFromRow(row) : null;
        }),
      update: (name, patch, change) =>
        settle(() =>
          transaction(() => {
            const row = sql.getUser.get(name);
            const versioned = nextVersion(
              row ? userFromRow(row) : null,
              patch,
              change.expectedVersion,
            );
            if (!versioned.ok) return versioned;
            const next = versioned.next;
            if (emailTakenByOther(next.emailHash, name)) {
              return { ok: false, code: "email_taken" } as const;
            }
            writeUser(next);
            writeVersion({
              kind: USER_KIND,
              id: name,
              version: next.version,
              change: change,
              snapshot: userSnapshot(next),
            });
            return { ok: true, user: next } as const;
          })
        ),
      delete: (name) =>
        settle(() =>
          transaction(() => {
            // Sessions and tokens go explicitly rather than by the foreign
            // keys' cascade alone, so a connection without
            // `foreign_keys = ON` cannot leave a deleted user logged in.
            sql.deleteUserSessions.run(name);
            sql.deleteUserTokens.run(name);
            sql.deleteUserKeys.run(name);
            sql.deleteVersions.run(USER_KIND, name);
            return Number(sql.deleteUser.run(name).changes) === 1;
          })
        ),
      versions: (name) =>
        settle(() => sql.listVersions.all(USER_KIND, name).map(versionFromRow)),
      keys: (name) => settle(() => sql.listKeys.all(name).map(keyFromRow)),
      addKey: (key) =>
        settle(() =>
          transaction(() => {
            if (!sql.userExists.get(key.userName)) return false;
            sql.insertKey.run(
              key.id,
              key.userName,
              key.publicKeyPem,
              key.algorithm,
              key.createdAt,
            );
            return true;
          })
        ),
      revokeKey: (name, keyId) =>
        settle(() => Number(sql.deleteKey.run(keyId, name).changes) === 1),
    },
    groups: {
      create: (group) =>
        settle(() => {
          const result = sql.insertGroup.run(
            group.name,
            group.description,
            group.createdAt,
          );
          return Number(result.changes) === 1
            ? { ok: true } as const
            : { ok: false, code: "exists" } as const;
        }),
      get: (name) =>
        settle(() => {
          const row = sql.getGroup.get(name);
          return row ? groupFromRow(row) : null;
        }),
      list: () => settle(() => sql.listGroups.all().map(groupFromRow)),
      delete: (name, change) =>
        settle(() =>
          transaction(() => {
            if (Number(sql.deleteGroup.run(name).changes) === 0) return false;
            // Membership is part of a user's settings: dropping it is a new
            // version of each member.
            const context = change ?? {
              actor: SYSTEM_ACTOR,
              requestId: "",
              time: new Date().toISOString(),
            };
            for (const row of sql.usersInGroup.all(name)) {
              const member = userFromRow(row);
              const next = {
                ...member,
                groups: member.groups.filter((g) => g !== name),
                version: member.version + 1,
              };
              writeUser(next);
              writeVersion({
                kind: USER_KIND,
                id: next.name,
                version: next.version,
                change: context,
                snapshot: userSnapshot(next),
              });
            }
            return true;
          })
        ),
    },
    sessions: {
      create: (session) =>
        settle(() => {
          sql.insertSession.run(
            session.tokenHash,
            session.userName,
            session.createdAt,
            session.expiresAt,
          );
        }),
      get: (tokenHash, now) =>
        settle(() => {
          const row = sql.getSession.get(tokenHash, now);
          return row ? sessionFromRow(row) : null;
        }),
      extend: (tokenHash, expiresAt, now) =>
        settle(() =>
          Number(sql.extendSession.run(expiresAt, tokenHash, now).changes) ===
            1
        ),
      delete: (tokenHash) =>
        settle(() => Number(sql.deleteSession.run(tokenHash).changes) === 1),
      sweep: (now) => settle(() => Number(sql.sweepSessions.run(now).changes)),
    },
    agentTokens: {
      create: (token) =>
        settle(() => {
          sql.insertToken.run(
            token.id,
            token.tokenHash,
            token.userName,
            JSON.stringify(token.scopes),
            token.description,
            token.createdAt,
            token.createdBy,
            token.expiresAt,
          );
        }),
      getByHash: (tokenHash) =>
        settle(() => {
          const row = sql.tokenByHash.get(tokenHash);
          return row ? tokenFromRow(row) : null;
        }),
      list: (userName) =>
        settle(() =>
          (userName === undefined
            ? sql.listTokens.all()
            : sql.listUserTokens.all(userName)).map(tokenFromRow)
        ),
      revoke: (id) =>
        settle(() => Number(sql.deleteToken.run(id).changes) === 1),
    },
    audit: {
      append: (record) =>
        settle(() =>
          Number(
            sql.appendAudit.run(
              record.time,
              record.actor,
              record.action,
              record.resource,
              record.requestId,
              record.result,
              record.version,
              JSON.stringify(record.detail),
            ).lastInsertRowid,
          )
        ),
      list: (query) =>
        settle(() => {
          let mask = 0;
          const params: SQLInputValue[] = [];
          AUDIT_FILTERS.forEach(([field], bit) => {
            const value = query[field];
            if (value === undefined) return;
            mask |= 1 << bit;
            params.push(value);
          });
          params.push(Math.max(0, query.limit));
          return sql.listAudit[mask]!.all(...params).map(auditFromRow);
        }),
      prune: (before) =>
        settle(() => Number(sql.pruneAudit.run(before).changes)),
    },
    reencryption: {
      underOtherKeys: (activeKeyId, limit) =>
        settle(() => {
          const cells: SealedCell[] = [];
          for (const column of ENCRYPTED_COLUMNS) {
            if (cells.length >= limit) break;
            const rows = sql.columns.get(column.name)!.underOtherKeys.all(
              activeKeyId,
              limit - cells.length,
            );
            for (const row of rows) {
              cells.push({
                column: column.name,
                ref: { kind: column.kind, id: String(row["id"]) },
                ciphertext: row["ciphertext"] as Uint8Array,
              });
            }
          }
          return cells;
        }),
      replace: (cell, ciphertext, keyId) =>
        settle(() => {
          const column = sql.columns.get(cell.column);
          if (!column) {
            throw new Error(`Unknown encrypted column "${cell.column}"`);
          }
          const result = column.replace.run(
            ciphertext,
            keyId,
            cell.ref.id,
            cell.ciphertext,
          );
          return Number(result.changes) === 1;
        }),
      countByKey: () =>
        settle(() => {
          const counts = new Map<number, number>();
          for (const column of sql.columns.values()) {
            for (const row of column.countByKey.all()) {
              const id = Number(row["key_id"]);
              counts.set(id, (counts.get(id) ?? 0) + Number(row["n"]));
            }
          }
          return counts;
        }),
    },
    health: () =>
      open && db.isOpen ? writes.state() : { ok: false, detail: "closed" },
    async close() {
      if (open) {
        open = false;
        writes.close();
        await walSync.close();
        reserve?.close();
        await checkpointer.close();
        db.close();
      }
    },
    [Symbol.asyncDispose]: () => store.close(),
  };
  return store;
}

/** Every statement of the store, prepared once. */
function prepareAll(db: DatabaseSync) {
  const p = (text: string): StatementSync => db.prepare(text);
  // Bound limits are cast: see `preparePipeline` in pipeline.ts.
  return {
    putSecret: p(
      "INSERT INTO node_secrets (name, key_id, ciphertext) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET key_id = excluded.key_id, ciphertext = excluded.ciphertext",
    ),
    getSecret: p("SELECT ciphertext FROM node_secrets WHERE name = ?"),

    userExists: p("SELECT 1 FROM users WHERE name = ?"),
    getUser: p("SELECT * FROM users WHERE name = ?"),
    userByEmail: p("SELECT * FROM users WHERE email_hash = ?"),
    listUsers: p("SELECT * FROM users ORDER BY name LIMIT CAST(? AS INTEGER)"),
    listUsersAfter: p(
      "SELECT * FROM users WHERE name > ? ORDER BY name LIMIT CAST(? AS INTEGER)",
    ),
    usersInGroup: p(
      "SELECT * FROM users WHERE EXISTS (SELECT 1 FROM json_each(users.groups_json) WHERE json_each.value = ?) ORDER BY name",
    ),
    insertUser: p(
      "INSERT INTO users (name, roles, groups_json, email_hash, created_at, version) VALUES (?, ?, ?, ?, ?, ?)",
    ),
    updateUser: p(
      "UPDATE users SET roles = ?, groups_json = ?, email_hash = ?, version = ? WHERE name = ?",
    ),
    deleteUser: p("DELETE FROM users WHERE name = ?"),

    insertKey: p(
      "INSERT INTO user_keys (id, user_name, public_key_pem, algorithm, created_at) VALUES (?, ?, ?, ?, ?)",
    ),
    listKeys: p(
      "SELECT * FROM user_keys WHERE user_name = ? ORDER BY created_at, id",
    ),
    deleteKey: p("DELETE FROM user_keys WHERE id = ? AND user_name = ?"),
    deleteUserKeys: p("DELETE FROM user_keys WHERE user_name = ?"),

    listVersions: p(
      "SELECT * FROM resource_versions WHERE kind = ? AND id = ? ORDER BY version",
    ),
    deleteVersions: p(
      "DELETE FROM resource_versions WHERE kind = ? AND id = ?",
    ),

    insertGroup: p(
      "INSERT INTO groups (name, description, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
    ),
    getGroup: p("SELECT * FROM groups WHERE name = ?"),
    listGroups: p("SELECT * FROM groups ORDER BY name"),
    deleteGroup: p("DELETE FROM groups WHERE name = ?"),

    insertSession: p(
      "INSERT INTO sessions (token_hash, user_name, created_at, expires_at) VALUES (?, ?, ?, ?)",
    ),
    getSession: p(
      "SELECT * FROM sessions WHERE token_hash = ? AND expires_at > ?",
    ),
    extendSession: p(
      "UPDATE sessions SET expires_at = ? WHERE token_hash = ? AND expires_at > ?",
    ),
    deleteSession: p("DELETE FROM sessions WHERE token_hash = ?"),
    sweepSessions: p("DELETE FROM sessions WHERE expires_at <= ?"),
    deleteUserSessions: p("DELETE FROM sessions WHERE user_name = ?"),

    insertToken: p(
      "INSERT INTO agent_tokens (id, token_hash, user_name, scopes, description, created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    tokenByHash: p("SELECT * FROM agent_tokens WHERE token_hash = ?"),
    listTokens: p("SELECT * FROM agent_tokens ORDER BY created_at, id"),
    listUserTokens: p(
      "SELECT * FROM agent_tokens WHERE user_name = ? ORDER BY created_at, id",
    ),
    deleteToken: p("DELETE FROM agent_tokens WHERE id = ?"),
    deleteUserTokens: p("DELETE FROM agent_tokens WHERE user_name = ?"),

    appendAudit: p(
      "INSERT INTO audit (time, actor, action, resource, request_id, result, version, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    /** One listing per combination of filters, indexed by a bit mask over `AUDIT_FILTERS`. */
    listAudit: Array.from(
      { length: 1 << AUDIT_FILTERS.length },
      (_, mask) => {
        const where = AUDIT_FILTERS.filter((_, bit) => mask & (1 << bit))
          .map(([, clause]) => clause);
        return p(
          `SELECT * FROM audit${
            where.length ? ` WHERE ${where.join(" AND ")}` : ""
          } ORDER BY seq LIMIT CAST(? AS INTEGER)`,
        );
      },
    ),
    pruneAudit: p("DELETE FROM audit WHERE time < ?"),

    columns: new Map(ENCRYPTED_COLUMNS.map((column) => {
      const { table, idColumn, keyIdColumn, ciphertextColumn } = column;
      return [column.name, {
        // Two ranges rather than `!=`, so an index on the key id serves it.
        underOtherKeys: p(
          `SELECT ${idColumn} AS id, ${ciphertextColumn} AS ciphertext FROM ${table} WHERE ${keyIdColumn} < ?1 OR ${keyIdColumn} > ?1 LIMIT CAST(?2 AS INTEGER)`,
        ),
        replace: p(
          `UPDATE ${table} SET ${ciphertextColumn} = ?, ${keyIdColumn} = ? WHERE ${idColumn} = ? AND ${ciphertextColumn} = ?`,
        ),
        countByKey: p(
          `SELECT ${keyIdColumn} AS key_id, COUNT(*) AS n FROM ${table} GROUP BY ${keyIdColumn}`,
        ),
      }];
    })),
  };
}

/** Runs synchronous work as the interface's promise; a throw becomes a rejection. */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}

function userSnapshot(user: UserRecord): unknown {
  return {
    roles: user.roles,
    groups: user.groups,
    emailHash: user.emailHash,
  };
}

function text(value: SQLOutputValue | undefined): string {
  return String(value);
}

function userFromRow(row: Row): UserRecord {
  return {
    name: text(row["name"]),
    roles: JSON.parse(text(row["roles"])),
    groups: JSON.parse(text(row["groups_json"])),
    emailHash: row["email_hash"] === null ? null : text(row["email_hash"]),
    createdAt: text(row["created_at"]),
    version: Number(row["version"]),
  };
}

function keyFromRow(row: Row): UserKeyRecord {
  return {
    id: text(row["id"]),
    userName: text(row["user_name"]),
    publicKeyPem: text(row["public_key_pem"]),
    algorithm: row["algorithm"] === "Ed25519" ? "Ed25519" : "RSA",
    createdAt: text(row["created_at"]),
  };
}

function versionFromRow(row: Row): VersionRecord {
  return {
    version: Number(row["version"]),
    time: text(row["time"]),
    actor: text(row["actor"]),
    requestId: text(row["request_id"]),
    snapshot: JSON.parse(text(row["snapshot"])),
  };
}

function groupFromRow(row: Row): GroupRecord {
  return {
    name: text(row["name"]),
    description: text(row["description"]),
    createdAt: text(row["created_at"]),
  };
}

function sessionFromRow(row: Row): SessionRecord {
  return {
    tokenHash: text(row["token_hash"]),
    userName: text(row["user_name"]),
    createdAt: text(row["created_at"]),
    expiresAt: Number(row["expires_at"]),
  };
}

function tokenFromRow(row: Row): AgentTokenRecord {
  return {
    id: text(row["id"]),
    tokenHash: text(row["token_hash"]),
    userName: text(row["user_name"]),
    scopes: JSON.parse(text(row["scopes"])),
    description: text(row["description"]),
    createdAt: text(row["created_at"]),
    createdBy: text(row["created_by"]),
    expiresAt: row["expires_at"] === null ? null : Number(row["expires_at"]),
  };
}

function auditFromRow(row: Row): AuditRecord {
  return {
    seq: Number(row["seq"]),
    time: text(row["time"]),
    actor: text(row["actor"]),
    action: text(row["action"]),
    resource: text(row["resource"]),
    requestId: text(row["request_id"]),
    result: text(row["result"]) as AuditRecord["result"],
    version: row["version"] === null ? null : Number(row["version"]),
    detail: JSON.parse(text(row["detail"])),
  };
}
