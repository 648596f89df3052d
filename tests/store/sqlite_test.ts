import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SQLITE_MIGRATIONS } from "../../store/sqlite/migrations.ts";
import { openSqliteStore } from "../../store/sqlite/store.ts";
import { EXPIRE_STEP_EVENTS } from "../../store/sqlite/pipeline.ts";
import type {
  Cipher,
  NewEvent,
  Store,
  SubscriptionRecord,
} from "../../store/mod.ts";
import { type Keyring, SealedError } from "../../security/envelope.ts";
import { testKeyfile } from "../support/keys.ts";
import { listFiles, marker, scanForMarkers } from "../support/marker_scan.ts";
import { storeContract } from "./contract.ts";
import { subscriptionRecord, topicRecord } from "./pipeline_contract.ts";

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

/**
 * A data directory holding a database at schema `version`, as released, with
 * what `seed` writes into it.
 */
async function databaseAt(
  version: number,
  seed: (db: DatabaseSync) => void = () => {},
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "miranda-store-" });
  const db = new DatabaseSync(`${dir}/miranda.db`);
  db.exec(
    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
  );
  for (
    const migration of SQLITE_MIGRATIONS.filter((m) => m.version <= version)
  ) {
    db.exec(migration.sql);
    db.prepare("INSERT INTO schema_migrations VALUES (?, ?, ?)").run(
      migration.version,
      migration.name,
      "2026-01-01T00:00:00.000Z",
    );
  }
  seed(db);
  db.close();
  return dir;
}

Deno.test("sqlite store: migration 3 upgrades a version 2 database and backfills user versions", async () => {
  const dir = await databaseAt(2, (db) => {
    db.prepare(
      "INSERT INTO users (name, roles, groups_json, email_hash, created_at, version) VALUES (?, ?, ?, ?, ?, ?)",
    ).run("admin", '["admin"]', '["ops"]', null, "2025-06-01T00:00:00.000Z", 1);
  });
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

Deno.test("sqlite store: the marker scan finds no event body, header or subscription secret in the data files, WAL included", async () => {
  const { keyring } = await testKeyfile();
  const dir = await Deno.makeTempDir({ prefix: "miranda-store-" });
  try {
    const bodyMarker = marker("body");
    const headerMarker = marker("header");
    const secretMarker = marker("secret");
    // The path is stored in plaintext by design: the scan must find it.
    const controlMarker = marker("path");
    const store = openSqliteStore(`${dir}/miranda.db`, () => keyring);
    try {
      await store.topics.create({
        id: "t1",
        name: "orders",
        owner: "alice",
        ack: "persisted",
        retentionMs: 60_000,
        maxBodyBytes: null,
        grants: [],
        createdAt: "2026-01-01T00:00:00.000Z",
        version: 1,
      }, { actor: "alice", requestId: "r1", time: "2026-01-01T00:00:00.000Z" });
      await store.subscriptions.create(
        {
          id: "s1",
          topicId: "t1",
          owner: "bob",
          url: "https://subscriber.example/hook",
          livenessUrl: "https://subscriber.example/health",
          ordered: true,
          maxInFlight: 1,
          failurePolicy: { mode: "retry", maxAttempts: 5 },
          record: "async",
          timeoutMs: 30_000,
          headers: {},
          paused: null,
          privateAllowed: false,
          createdAt: "2026-01-01T00:00:00.000Z",
          version: 1,
        },
        { current: secretMarker, previous: null },
        {
          actor: "bob",
          requestId: "r2",
          time: "2026-01-01T00:00:00.000Z",
        },
      );
      await store.events.append(Array.from({ length: 3 }, (_, i) => ({
        id: `e${i}`,
        topicId: "t1",
        method: "POST" as const,
        path: `/${controlMarker}`,
        query: "",
        contentType: "text/plain",
        headers: { "x-marker": headerMarker },
        body: new TextEncoder().encode(`${i}:${bodyMarker}`),
        sender: "alice",
        receivedAt: Date.parse("2026-01-01T00:00:00.000Z"),
        idempotencyKey: null,
      })));
      const files = await listFiles(dir);
      assert.ok(
        files.some((f) => f.endsWith("miranda.db-wal")),
        `the WAL is among the scanned files: ${files.join(", ")}`,
      );
      const markers = [bodyMarker, headerMarker, secretMarker, controlMarker];
      const found = await scanForMarkers(dir, markers);
      assert.ok(
        found.some((f) => f.endsWith(controlMarker)),
        "the scan sees the store's data (control marker found)",
      );
      assert.deepEqual(
        found.filter((f) => !f.endsWith(controlMarker)),
        [],
      );
      assert.equal(
        new TextDecoder().decode((await store.events.get("e1"))!.body),
        `1:${bodyMarker}`,
      );
    } finally {
      await store.close();
    }
    // After the close has checkpointed the WAL into the database file.
    const after = await scanForMarkers(dir, [
      bodyMarker,
      headerMarker,
      secretMarker,
    ]);
    assert.deepEqual(after, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite store: migration 4 upgrades a version 3 database with the pipeline tables", async () => {
  const dir = await databaseAt(3);
  try {
    const { keyring } = await testKeyfile();
    {
      await using store = openSqliteStore(`${dir}/miranda.db`, () => keyring);
      assert.deepEqual(await store.topics.list(), []);
      assert.equal(await store.events.lastSeq("t1"), 0);
    }
    const raw = new DatabaseSync(`${dir}/miranda.db`);
    try {
      assert.deepEqual(
        raw.prepare("SELECT version FROM schema_migrations ORDER BY version")
          .all().map((r) => r["version"]),
        SQLITE_MIGRATIONS.map((m) => m.version),
      );
    } finally {
      raw.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite store: migration 5 lets existing subscriptions of admins and of owners outside the users table keep private addresses, not those of other users", async () => {
  const dir = await databaseAt(4, (db) => {
    const user = db.prepare(
      "INSERT INTO users (name, roles, groups_json, email_hash, created_at, version) VALUES (?, ?, '[]', NULL, '2026-01-01T00:00:00.000Z', 1)",
    );
    user.run("root", '["admin","user"]');
    user.run("bob", '["user"]');
    db.exec(
      "INSERT INTO topics (id, name, owner, ack, retention_ms, max_body_bytes, grants, created_at, version) VALUES ('t1', 'orders', 'root', 'persisted', 60000, NULL, '[]', '2026-01-01T00:00:00.000Z', 1)",
    );
    const sub = db.prepare(
      "INSERT INTO subscriptions (id, topic_id, owner, url, liveness_url, ordered, max_in_flight, failure_mode, max_attempts, record_mode, timeout_ms, headers, paused, created_at, version, secrets_key_id, secrets) VALUES (?, 't1', ?, 'http://10.0.0.1/', 'http://10.0.0.1/', 1, 1, 'retry', 3, 'async', 1000, '{}', NULL, '2026-01-01T00:00:00.000Z', 1, 1, x'00')",
    );
    sub.run("s-root", "root");
    sub.run("s-bob", "bob");
    sub.run("s-external", "https://issuer.example/svc");
  });
  try {
    const { keyring } = await testKeyfile();
    await using store = openSqliteStore(`${dir}/miranda.db`, () => keyring);
    const allowed = async (id: string) =>
      (await store.subscriptions.get(id))?.privateAllowed;
    assert.equal(await allowed("s-root"), true);
    assert.equal(await allowed("s-bob"), false);
    assert.equal(await allowed("s-external"), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const T0 = "2026-01-01T00:00:00.000Z";

/** Events with these ids on topic `t1`, received at `time`, body `{}`. */
function ordersEvents(ids: string[], time: string): NewEvent[] {
  return ids.map((id) => ({
    id,
    topicId: "t1",
    method: "POST",
    path: "",
    query: "",
    contentType: "application/json",
    headers: {},
    body: new TextEncoder().encode("{}"),
    sender: "root",
    receivedAt: Date.parse(time),
    idempotencyKey: null,
  }));
}

/** Creates topic `t1` ("orders", owned by root) or fails the test. */
async function addOrdersTopic(store: Store): Promise<void> {
  assert.deepEqual(
    await store.topics.create(
      topicRecord("orders", { id: "t1", owner: "root", retentionMs: 60_000 }),
      { actor: "root", requestId: "r1", time: T0 },
    ),
    { ok: true },
  );
}

/** Subscribes "s1" (unordered, 8 in flight) to the orders topic. */
async function addOrdersSubscription(
  store: Store,
  fields: Pick<SubscriptionRecord, "failurePolicy">,
): Promise<void> {
  await store.subscriptions.create(
    subscriptionRecord("s1", "t1", {
      owner: "root",
      ordered: false,
      maxInFlight: 8,
      timeoutMs: 1_000,
      ...fields,
    }),
    { current: "whsec_Y3VycmVudA==", previous: null },
    { actor: "root", requestId: "r1", time: T0 },
  );
}

Deno.test("sqlite store: event batches, deliveries and dead letters are answered only after a WAL flush that leaves the event loop free", async () => {
  const dir = await Deno.makeTempDir({ prefix: "miranda-store-" });
  try {
    const { keyring } = await testKeyfile();
    const gates: PromiseWithResolvers<void>[] = [];
    await using store = openSqliteStore(`${dir}/miranda.db`, () => keyring, {
      walFlush: () => {
        const gate = Promise.withResolvers<void>();
        gates.push(gate);
        return gate.promise;
      },
    });
    const time = T0;
    await addOrdersTopic(store);
    await addOrdersSubscription(store, {
      failurePolicy: { mode: "deadLetter", maxAttempts: 1 },
    });
    assert.equal(gates.length, 0, "topics and subscriptions commit with FULL");

    /** Resolves `pending` behind the next gate: pending until it opens. */
    const waitsForFlush = async <T>(pending: Promise<T>): Promise<T> => {
      let settled = false;
      pending.then(() => (settled = true), () => (settled = true));
      // Timers run meanwhile: the flush does not hold the event loop.
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(settled, false, "answered before the WAL was flushed");
      assert.ok(gates.length > 0, "no WAL flush was started");
      for (const gate of gates.splice(0)) gate.resolve();
      return await pending;
    };
    const events = ordersEvents(["e1", "e2"], time);
    const [seq1, seq2] = await waitsForFlush(store.events.append(events));
    await waitsForFlush(store.deliveries.recordDelivered([{
      subscriptionId: "s1",
      seq: seq1!,
      eventId: "e1",
      attemptId: "a1",
      attempts: 1,
      deliveredAt: Date.parse(time) + 1,
    }]));
    await waitsForFlush(store.deliveries.recordFailed({
      subscriptionId: "s1",
      seq: seq2!,
      eventId: "e2",
      reason: "dead_letter",
      attempts: 1,
      lastStatus: 500,
      lastError: null,
      failedAt: Date.parse(time) + 2,
    }));
    assert.deepEqual(await store.deliveries.position("s1"), {
      cursor: seq2,
      doneAbove: [],
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** `keyring` as a cipher of its own that calls `onOpen` at every open. */
function countingCipher(keyring: Keyring, onOpen: () => void): Cipher {
  return {
    seal: (plaintext, ref) => keyring.seal(plaintext, ref),
    sealMany: (records) => keyring.sealMany(records),
    open: (ciphertext, ref) => {
      onOpen();
      return keyring.open(ciphertext, ref);
    },
    get activeKeyId() {
      return keyring.activeKeyId;
    },
    get sealed() {
      return keyring.sealed;
    },
  };
}

Deno.test("sqlite store: events just appended, or read once, are read again without decrypting; never while sealed, and not after forgetOpened", async () => {
  const dir = await Deno.makeTempDir({ prefix: "miranda-store-" });
  try {
    const { keyring } = await testKeyfile();
    let opens = 0;
    const counting = () => countingCipher(keyring, () => opens++);
    let current = counting();
    let sealed = false;
    await using store = openSqliteStore(`${dir}/miranda.db`, () => {
      if (sealed) throw new SealedError("open");
      return current;
    });
    const time = T0;
    await addOrdersTopic(store);
    const events = [1, 2, 3].map((n) => ({
      id: `e${n}`,
      topicId: "t1",
      method: "POST" as const,
      path: `/n/${n}`,
      query: "",
      contentType: "application/json",
      headers: { "x-event-type": `type-${n}` },
      body: new TextEncoder().encode(`{"n":${n}}`),
      sender: "root",
      receivedAt: Date.parse(time),
      idempotencyKey: null,
    }));
    const seqs = await store.events.append(events);
    const expected = events.map((e, i) => ({ ...e, seq: seqs[i]! }));
    assert.deepEqual((await store.events.read("t1", 0, 10)).events, expected);
    assert.equal(opens, 0, "an appended batch is kept as it was sealed");

    store.events.forgetOpened();
    assert.deepEqual((await store.events.read("t1", 0, 10)).events, expected);
    assert.equal(opens, 3, "forgotten: each event decrypted once more");
    assert.deepEqual(await store.events.readSeqs([seqs[1]!]), [expected[1]]);
    assert.deepEqual((await store.events.read("t1", 0, 10)).events, expected);
    assert.equal(opens, 3, "and then kept");

    current = counting();
    assert.deepEqual((await store.events.read("t1", 0, 10)).events, expected);
    assert.equal(opens, 6, "another keyring (an unseal) decrypts afresh");

    sealed = true;
    await assert.rejects(store.events.read("t1", 0, 10), SealedError);
    await assert.rejects(store.events.get("e1"), SealedError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite store: many readers of the same events in the same turn share one decryption each", async () => {
  const dir = await Deno.makeTempDir({ prefix: "miranda-store-" });
  try {
    const { keyring } = await testKeyfile();
    let opens = 0;
    const counting = countingCipher(keyring, () => opens++);
    await using store = openSqliteStore(`${dir}/miranda.db`, () => counting);
    const time = T0;
    await addOrdersTopic(store);
    await store.events.append([1, 2, 3, 4].map((n) => ({
      id: `e${n}`,
      topicId: "t1",
      method: "POST" as const,
      path: "",
      query: "",
      contentType: null,
      headers: {},
      body: new Uint8Array([n]),
      sender: "root",
      receivedAt: Date.parse(time),
      idempotencyKey: null,
    })));
    store.events.forgetOpened();
    // A hundred couriers fanning the same events out, all at once.
    const reads = await Promise.all(
      Array.from(
        { length: 100 },
        async () => (await store.events.read("t1", 0, 10)).events,
      ),
    );
    assert.equal(opens, 4, "each event decrypted once");
    for (const read of reads) {
      assert.deepEqual(read.map((e) => e.body[0]), [1, 2, 3, 4]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite store: an appended batch can be read, and onVisible is told its seqs, before its WAL flush ends", async () => {
  const dir = await Deno.makeTempDir({ prefix: "miranda-store-" });
  try {
    const { keyring } = await testKeyfile();
    const gates: PromiseWithResolvers<void>[] = [];
    let holdFlushes = true;
    await using store = openSqliteStore(`${dir}/miranda.db`, () => keyring, {
      walFlush: (file) => {
        if (!holdFlushes) return file.syncData();
        const gate = Promise.withResolvers<void>();
        gates.push(gate);
        return gate.promise;
      },
    });
    // A failed assertion must not leave the store's close waiting on a gate.
    using _release = {
      [Symbol.dispose]: () => {
        holdFlushes = false;
        for (const gate of gates.splice(0)) gate.resolve();
      },
    };
    await addOrdersTopic(store);
    const events = ordersEvents(["e1", "e2", "e3"], T0);
    const visible: number[][] = [];
    let durable = false;
    const appending = store.events.append(events, (seqs) => {
      visible.push(seqs);
    });
    appending.then(() => (durable = true), () => (durable = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(durable, false, "resolved before the WAL was flushed");
    assert.equal(
      visible.length,
      1,
      "onVisible was not called before the flush",
    );
    const read = (await store.events.read("t1", 0, 10)).events;
    assert.deepEqual(read.map((e) => e.id), ["e1", "e2", "e3"]);
    assert.deepEqual(read.map((e) => e.seq), visible[0]);
    assert.ok(gates.length > 0, "no WAL flush was started");
    for (const gate of gates.splice(0)) gate.resolve();
    assert.deepEqual(await appending, visible[0]);
    assert.equal(visible.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite store: a failed WAL flush stops its writes until it is opened again, and its health says so", async () => {
  const dir = await Deno.makeTempDir({ prefix: "miranda-store-" });
  try {
    const { keyring } = await testKeyfile();
    let failFlush = true;
    let flushes = 0;
    const open = (flush?: (file: Deno.FsFile) => Promise<void>) =>
      openSqliteStore(
        `${dir}/miranda.db`,
        () => keyring,
        flush ? { walFlush: flush } : {},
      );
    {
      await using store = open((file) => {
        flushes++;
        return failFlush
          ? Promise.reject(new Error("Input/output error (os error 5)"))
          : file.syncData();
      });
      await addOrdersTopic(store);
      assert.deepEqual(store.health(), { ok: true, detail: "writes succeed" });
      await assert.rejects(
        store.events.append(ordersEvents(["e1"], T0)),
        /could not be flushed \(Input\/output error \(os error 5\)\)/,
      );
      const failing = store.health();
      assert.equal(failing.ok, false);
      assert.match(
        failing.detail,
        /writes failing since .*until the node restarts/,
      );
      // The disk answers again: still nothing is written, no probe clears it.
      failFlush = false;
      await new Promise((r) => setTimeout(r, 1_500));
      assert.equal(store.health().ok, false);
      await assert.rejects(
        store.events.append(ordersEvents(["e2"], T0)),
        /until the node restarts/,
      );
      await assert.rejects(
        store.topics.create(
          topicRecord("invoices", { id: "t2", owner: "root" }),
          { actor: "root", requestId: "r2", time: T0 },
        ),
        /until the node restarts/,
      );
      assert.equal(flushes, 1, "the log was not flushed again");
    }
    // Opened again (the node restarted): the committed event is there.
    await using again = open();
    assert.equal(again.health().ok, true);
    const read = (await again.events.read("t1", 0, 10)).events;
    assert.deepEqual(read.map((e) => e.id), ["e1"]);
    await again.events.append(ordersEvents(["e3"], T0));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite store: with a zero-filled WAL, event commits overwrite it in place, and a copy taken as by a crash opens with every committed event", async () => {
  const dir = await Deno.makeTempDir({ prefix: "miranda-store-" });
  try {
    const { keyring } = await testKeyfile();
    const bytes = 4 * 1024 * 1024;
    const wal = `${dir}/miranda.db-wal`;
    const ids = Array.from({ length: 300 }, (_, i) => `e${i}`);
    {
      await using store = openSqliteStore(`${dir}/miranda.db`, () => keyring, {
        walPreallocateBytes: bytes,
      });
      assert.equal((await Deno.stat(wal)).size, bytes);
      await addOrdersTopic(store);
      for (let i = 0; i < ids.length; i += 30) {
        await store.events.append(ordersEvents(ids.slice(i, i + 30), T0));
      }
      // The commits wrote into the zeroed blocks: the file did not grow.
      assert.equal((await Deno.stat(wal)).size, bytes);
      // A crash: the database and its log as they are on disk, no -shm.
      await Deno.mkdir(`${dir}/crash`);
      await Deno.copyFile(`${dir}/miranda.db`, `${dir}/crash/miranda.db`);
      await Deno.copyFile(wal, `${dir}/crash/miranda.db-wal`);
    }
    for (const at of [dir, `${dir}/crash`]) {
      await using store = openSqliteStore(`${at}/miranda.db`, () => keyring, {
        walPreallocateBytes: bytes,
      });
      for (const id of [ids[0]!, ids.at(-1)!]) {
        assert.equal((await store.events.get(id))?.id, id, `${id} in ${at}`);
      }
      assert.equal((await Deno.stat(`${at}/miranda.db-wal`)).size, bytes);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite store: the WAL is zero-filled under SQLite's write lock — an open waits for another connection's write transaction, whose frames survive", async () => {
  const dir = await Deno.makeTempDir({ prefix: "miranda-store-" });
  try {
    const { keyring } = await testKeyfile();
    const path = `${dir}/miranda.db`;
    await openSqliteStore(path, () => keyring).close();
    // Another process in a write transaction for 800 ms.
    const writer = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { DatabaseSync } from "node:sqlite";
        const db = new DatabaseSync(${JSON.stringify(path)});
        db.exec("BEGIN IMMEDIATE");
        db.exec("INSERT INTO node_meta (key, value) VALUES ('other', 'writer')");
        console.log("locked");
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 800);
        db.exec("COMMIT");
        console.log("committed " + Date.now());
        db.close();`,
      ],
      stdout: "piped",
    }).spawn();
    const lines = writer.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let out = "";
    while (!out.includes("locked")) out += (await lines.read()).value ?? "";
    const store = openSqliteStore(path, () => keyring, {
      walPreallocateBytes: 1024 * 1024,
    });
    const openedAt = Date.now();
    while (!/committed \d+\n/.test(out)) {
      const { value, done } = await lines.read();
      if (done) break;
      out += value;
    }
    await writer.status;
    const committedAt = Number(/committed (\d+)/.exec(out)?.[1]);
    assert.ok(
      openedAt >= committedAt,
      `the store opened at ${openedAt}, before the other commit at ${committedAt}`,
    );
    assert.equal((await Deno.stat(`${path}-wal`)).size, 1024 * 1024);
    const reader = new DatabaseSync(path);
    assert.equal(
      reader.prepare("SELECT value FROM node_meta WHERE key = 'other'").get()
        ?.["value"],
      "writer",
    );
    assert.equal(
      reader.prepare("PRAGMA integrity_check").get()?.["integrity_check"],
      "ok",
    );
    reader.close();
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sqlite store: a retention sweep of a long backlog removes it in steps, serving the event loop between them, and a millisecond holding more than a step goes whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "miranda-store-" });
  try {
    const { keyring } = await testKeyfile();
    await using store = openSqliteStore(`${dir}/miranda.db`, () => keyring);
    await addOrdersTopic(store);
    await addOrdersSubscription(store, {
      failurePolicy: { mode: "retry", maxAttempts: 5 },
    });
    const start = Date.parse(T0);
    // Two and a half steps, ten events a millisecond, then one millisecond
    // holding more than a step, then a young event.
    const spread = Math.floor(EXPIRE_STEP_EVENTS * 2.5);
    const crowd = EXPIRE_STEP_EVENTS + 300;
    const ids = Array.from({ length: spread + crowd + 1 }, (_, i) => `x${i}`);
    const events = ordersEvents(ids, T0).map((event, i) => ({
      ...event,
      receivedAt: i < spread
        ? start + Math.floor(i / 10)
        : i < spread + crowd
        ? start + spread
        : start + 10 * spread,
    }));
    for (let i = 0; i < events.length; i += 500) {
      await store.events.append(events.slice(i, i + 500));
    }
    // Timer turns while the sweep runs: none if it held the thread throughout.
    let turns = 0;
    let ticking = true;
    const tick = () => {
      if (!ticking) return;
      turns++;
      setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
    const result = await store.events.expire("t1", start + 5 * spread);
    ticking = false;
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(result, {
      removed: spread + crowd,
      expiredUndelivered: spread + crowd,
    });
    assert.ok(turns >= 3, `${turns} timer turns during the sweep`);
    assert.equal(await store.events.get(ids[0]!), null);
    assert.equal(await store.events.get(ids[spread + crowd - 1]!), null);
    assert.equal((await store.events.get(ids.at(-1)!))?.id, ids.at(-1));
    assert.equal(await store.deliveries.backlog("s1"), 1);
    const failed = await store.deliveries.listFailed("s1", 0, 100_000);
    assert.equal(failed.length, spread + crowd);
    assert.ok(failed.every((f) => f.reason === "expired"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
