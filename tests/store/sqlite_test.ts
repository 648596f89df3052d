import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SQLITE_MIGRATIONS } from "../../store/sqlite/migrations.ts";
import { openSqliteStore } from "../../store/sqlite/store.ts";
import { testKeyfile } from "../support/keys.ts";
import { storeContract } from "./contract.ts";

storeContract("sqlite", async (cipher) => {
  const dir = await Deno.makeTempDir({ prefix: "miranda-store-" });
  const store = openSqliteStore(`${dir}/miranda.db`, cipher);
  return {
    ...store,
    location: dir,
    [Symbol.asyncDispose]: async () => {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
});

/** A data directory holding a database at schema version 2, as released. */
async function databaseAtVersion2(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "miranda-store-" });
  const db = new DatabaseSync(`${dir}/miranda.db`);
  db.exec(
    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
  );
  for (const migration of SQLITE_MIGRATIONS.filter((m) => m.version <= 2)) {
    db.exec(migration.sql);
    db.prepare("INSERT INTO schema_migrations VALUES (?, ?, ?)").run(
      migration.version,
      migration.name,
      "2026-01-01T00:00:00.000Z",
    );
  }
  db.prepare(
    "INSERT INTO users (name, roles, groups_json, email_hash, created_at, version) VALUES (?, ?, ?, ?, ?, ?)",
  ).run("admin", '["admin"]', '["ops"]', null, "2025-06-01T00:00:00.000Z", 1);
  db.close();
  return dir;
}

Deno.test("sqlite store: migration 3 upgrades a version 2 database and backfills user versions", async () => {
  const dir = await databaseAtVersion2();
  try {
    const { keyring } = await testKeyfile();
    await using store = openSqliteStore(`${dir}/miranda.db`, () => keyring);
    assert.deepEqual(await store.users.versions("admin"), [{
      version: 1,
      time: "2025-06-01T00:00:00.000Z",
      actor: "system",
      requestId: "",
      snapshot: { roles: ["admin"], groups: ["ops"], emailHash: null },
    }]);
    const updated = await store.users.update("admin", { groups: [] }, {
      actor: "admin",
      requestId: "r1",
      time: "2026-01-01T00:00:00.000Z",
      expectedVersion: 1,
    });
    assert.equal(updated.ok && updated.user.version, 2);
    assert.equal(
      await store.audit.append({
        time: "2026-01-01T00:00:00.000Z",
        actor: "admin",
        action: "user.update",
        resource: "user:admin",
        requestId: "r1",
        result: "ok",
        version: 2,
        detail: {},
      }),
      1,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite store: the audit table refuses updates even through SQL", async () => {
  const { keyring } = await testKeyfile();
  const dir = await Deno.makeTempDir({ prefix: "miranda-store-" });
  try {
    await using store = openSqliteStore(`${dir}/miranda.db`, () => keyring);
    await store.audit.append({
      time: "2026-01-01T00:00:00.000Z",
      actor: "alice",
      action: "login",
      resource: "session",
      requestId: "r1",
      result: "ok",
      version: null,
      detail: {},
    });
    const raw = new DatabaseSync(`${dir}/miranda.db`);
    try {
      assert.throws(
        () => raw.exec("UPDATE audit SET actor = 'mallory'"),
        /append-only/,
      );
    } finally {
      raw.close();
    }
    assert.equal((await store.audit.list({ limit: 1 }))[0]?.actor, "alice");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
