/**
 * The store conformance suite: every implementation of `store/mod.ts` runs
 * these tests unchanged.
 *
 * @module
 */

import assert from "node:assert/strict";
import type {
  AgentTokenRecord,
  AuditRecord,
  ChangeContext,
  SessionRecord,
  Store,
  UserKeyRecord,
  UserRecord,
} from "../../store/mod.ts";
import type { Keyring } from "../../security/envelope.ts";
import { rotateDataKey } from "../../security/keyfile.ts";
import { testKeyfile } from "../support/keys.ts";
import { pipelineContract } from "./pipeline_contract.ts";

/** Opens a fresh, empty store of the implementation under test. */
export type OpenStore = (
  cipher: () => Keyring,
) => Promise<Store & { location: string }>;

const text = new TextEncoder();

const T0 = "2026-01-01T00:00:00.000Z";

function userRecord(
  name: string,
  fields: Partial<Omit<UserRecord, "name">> = {},
): UserRecord {
  return {
    name,
    roles: ["publisher"],
    groups: [],
    emailHash: `hash-${name}`,
    createdAt: T0,
    version: 1,
    ...fields,
  };
}

function keyRecord(userName: string, id = `${userName}-k1`): UserKeyRecord {
  return {
    id,
    userName,
    publicKeyPem: `-----BEGIN PUBLIC KEY-----\n${id}\n-----END PUBLIC KEY-----`,
    algorithm: "Ed25519",
    createdAt: T0,
  };
}

function changeBy(actor: string, requestId: string, time = T0): ChangeContext {
  return { actor, requestId, time };
}

/** Creates users (each with one key) or fails the test. */
async function addUsers(store: Store, ...users: UserRecord[]): Promise<void> {
  for (const user of users) {
    assert.deepEqual(
      await store.users.create(user, keyRecord(user.name)),
      { ok: true },
      `create ${user.name}`,
    );
  }
}

function sessionRecord(
  tokenHash: string,
  userName: string,
  expiresAt: number,
): SessionRecord {
  return { tokenHash, userName, createdAt: T0, expiresAt };
}

function tokenRecord(
  id: string,
  userName: string,
  fields: Partial<AgentTokenRecord> = {},
): AgentTokenRecord {
  return {
    id,
    tokenHash: `th-${id}`,
    userName,
    scopes: ["publish:orders"],
    description: `token ${id}`,
    createdAt: T0,
    createdBy: "admin",
    expiresAt: null,
    ...fields,
  };
}

function auditRecord(
  fields: Partial<Omit<AuditRecord, "seq">> = {},
): Omit<AuditRecord, "seq"> {
  return {
    time: T0,
    actor: "alice",
    action: "user.update",
    resource: "user:alice",
    requestId: "r1",
    result: "ok",
    version: null,
    detail: {},
    ...fields,
  };
}

/** Registers the conformance tests for one implementation. */
export function storeContract(name: string, openStore: OpenStore): void {
  pipelineContract(name, openStore);

  Deno.test(`${name} store: a secret round-trips sealed`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    await store.secrets.put("ca-key", text.encode("secret value"));
    assert.equal(
      new TextDecoder().decode((await store.secrets.get("ca-key"))!),
      "secret value",
    );
    assert.equal(await store.secrets.get("missing"), null);
    await store.secrets.put("ca-key", text.encode("replaced"));
    assert.equal(
      new TextDecoder().decode((await store.secrets.get("ca-key"))!),
      "replaced",
    );
  });

  Deno.test(`${name} store: a secret cannot be read while sealed`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    await store.secrets.put("k", text.encode("v"));
    keyring.wipe();
    await assert.rejects(() => store.secrets.get("k"), { name: "SealedError" });
    await assert.rejects(() => store.secrets.put("k", text.encode("w")), {
      name: "SealedError",
    });
  });

  Deno.test(`${name} store: users are created once, with their keys`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    const user = {
      name: "alice",
      roles: ["publisher"],
      groups: ["ops"],
      emailHash: "h1",
      createdAt: "2026-01-01T00:00:00.000Z",
      version: 1,
    };
    const key = {
      id: "k1",
      userName: "alice",
      publicKeyPem:
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
      algorithm: "RSA" as const,
      createdAt: "2026-01-01T00:00:00.000Z",
    };
    assert.deepEqual(await store.users.create(user, key), { ok: true });
    assert.deepEqual(await store.users.create(user, { ...key, id: "k2" }), {
      ok: false,
      code: "exists",
    });
    assert.deepEqual(await store.users.get("alice"), user);
    assert.deepEqual(await store.users.keys("alice"), [key]);
    assert.equal(await store.users.get("bob"), null);
  });

  Deno.test(`${name} store: re-encryption finds cells under old keys and swaps them`, async () => {
    const created = await testKeyfile();
    let keyring = created.keyring;
    await using store = await openStore(() => keyring);
    await store.secrets.put("a", text.encode("1"));
    await store.secrets.put("b", text.encode("2"));
    const rotated = await rotateDataKey(created.keyfile, keyring);
    keyring = rotated.keyring;
    assert.deepEqual([...(await store.reencryption.countByKey())], [[1, 2]]);
    const cells = await store.reencryption.underOtherKeys(
      keyring.activeKeyId,
      10,
    );
    assert.equal(cells.length, 2);
    const cell = cells[0]!;
    const plain = await keyring.open(cell.ciphertext, cell.ref);
    const resealed = await keyring.seal(plain, cell.ref);
    assert.equal(
      await store.reencryption.replace(cell, resealed, keyring.activeKeyId),
      true,
    );
    assert.equal(
      await store.reencryption.replace(cell, resealed, keyring.activeKeyId),
      false,
      "stale swap refused",
    );
    assert.equal(
      (await store.reencryption.underOtherKeys(keyring.activeKeyId, 10)).length,
      1,
    );
    assert.equal(
      new TextDecoder().decode((await store.secrets.get(cell.ref.id))!),
      cell.ref.id === "a" ? "1" : "2",
    );
  });

  Deno.test(`${name} store: creating a user records version 1 by the change's actor`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    const alice = userRecord("alice", { groups: ["ops"] });
    assert.deepEqual(
      await store.users.create(
        alice,
        keyRecord("alice"),
        changeBy("admin", "req-1", "2026-01-02T00:00:00.000Z"),
      ),
      { ok: true },
    );
    assert.deepEqual(await store.users.versions("alice"), [{
      version: 1,
      time: "2026-01-02T00:00:00.000Z",
      actor: "admin",
      requestId: "req-1",
      snapshot: {
        roles: ["publisher"],
        groups: ["ops"],
        emailHash: "hash-alice",
      },
    }]);
  });

  Deno.test(`${name} store: creating a user without a change context records version 1 by system`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    await addUsers(
      store,
      userRecord("bob", { createdAt: "2026-02-01T00:00:00.000Z" }),
    );
    const versions = await store.users.versions("bob");
    assert.equal(versions.length, 1);
    assert.equal(versions[0]!.version, 1);
    assert.equal(versions[0]!.actor, "system");
    assert.equal(versions[0]!.time, "2026-02-01T00:00:00.000Z");
    assert.deepEqual(await store.users.versions("nobody"), []);
  });

  Deno.test(`${name} store: creating a user with a taken e-mail hash is email_taken and writes nothing`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    await addUsers(store, userRecord("alice", { emailHash: "same" }));
    assert.deepEqual(
      await store.users.create(
        userRecord("bob", { emailHash: "same" }),
        keyRecord("bob"),
      ),
      { ok: false, code: "email_taken" },
    );
    assert.equal(await store.users.get("bob"), null);
    assert.deepEqual(await store.users.keys("bob"), []);
    assert.deepEqual(await store.users.versions("bob"), []);
    // Users without an e-mail do not collide with each other.
    await addUsers(
      store,
      userRecord("carol", { emailHash: null }),
      userRecord("dave", { emailHash: null }),
    );
  });

  Deno.test(`${name} store: a user create that fails midway rolls back and leaves the store usable`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    await addUsers(store, userRecord("alice"));
    // The key id is already alice's: the user row is written, then the key fails.
    await assert.rejects(() =>
      store.users.create(userRecord("bob"), keyRecord("bob", "alice-k1"))
    );
    assert.equal(await store.users.get("bob"), null);
    assert.deepEqual(await store.users.versions("bob"), []);
    assert.deepEqual(
      await store.users.create(userRecord("bob"), keyRecord("bob")),
      { ok: true },
    );
  });

  Deno.test(`${name} store: updating a user applies the patch as a new version with its snapshot`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    await addUsers(store, userRecord("alice", { groups: ["ops"] }));
    const result = await store.users.update(
      "alice",
      { roles: ["admin"], emailHash: null },
      changeBy("root", "req-2", "2026-01-03T00:00:00.000Z"),
    );
    const expected = userRecord("alice", {
      roles: ["admin"],
      groups: ["ops"],
      emailHash: null,
      version: 2,
    });
    assert.deepEqual(result, { ok: true, user: expected });
    assert.deepEqual(await store.users.get("alice"), expected);
    const versions = await store.users.versions("alice");
    assert.deepEqual(versions.map((v) => v.version), [1, 2]);
    assert.deepEqual(versions[1], {
      version: 2,
      time: "2026-01-03T00:00:00.000Z",
      actor: "root",
      requestId: "req-2",
      snapshot: { roles: ["admin"], groups: ["ops"], emailHash: null },
    });
    assert.deepEqual(versions[0]!.snapshot, {
      roles: ["publisher"],
      groups: ["ops"],
      emailHash: "hash-alice",
    }, "old versions keep their settings");
    assert.deepEqual(
      await store.users.update("ghost", { roles: [] }, changeBy("root", "r")),
      { ok: false, code: "not_found" },
    );
  });

  Deno.test(`${name} store: updating with a stale expected version is a version_conflict and changes nothing`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    await addUsers(store, userRecord("alice"));
    const first = await store.users.update("alice", { roles: ["a"] }, {
      ...changeBy("x", "r1"),
      expectedVersion: 1,
    });
    assert.equal(first.ok, true);
    assert.deepEqual(
      await store.users.update("alice", { roles: ["b"] }, {
        ...changeBy("y", "r2"),
        expectedVersion: 1,
      }),
      { ok: false, code: "version_conflict" },
    );
    const alice = await store.users.get("alice");
    assert.deepEqual(alice?.roles, ["a"]);
    assert.equal(alice?.version, 2);
    assert.equal((await store.users.versions("alice")).length, 2);
    const third = await store.users.update("alice", { roles: ["c"] }, {
      ...changeBy("y", "r3"),
      expectedVersion: 2,
    });
    assert.equal(third.ok && third.user.version, 3);
  });

  Deno.test(`${name} store: e-mail hashes stay unique across updates and are found by hash`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    await addUsers(store, userRecord("alice"), userRecord("bob"));
    assert.equal((await store.users.findByEmailHash("hash-bob"))?.name, "bob");
    assert.equal(await store.users.findByEmailHash("unknown"), null);
    assert.deepEqual(
      await store.users.update(
        "bob",
        { emailHash: "hash-alice" },
        changeBy("bob", "r"),
      ),
      { ok: false, code: "email_taken" },
    );
    assert.equal((await store.users.get("bob"))?.emailHash, "hash-bob");
    assert.equal((await store.users.get("bob"))?.version, 1);
    const same = await store.users.update(
      "alice",
      { emailHash: "hash-alice" },
      changeBy("alice", "r"),
    );
    assert.equal(same.ok, true, "keeping one's own hash is not a clash");
    const moved = await store.users.update(
      "bob",
      { emailHash: "new-bob" },
      changeBy("bob", "r"),
    );
    assert.equal(moved.ok, true);
    assert.equal(await store.users.findByEmailHash("hash-bob"), null);
    assert.equal((await store.users.findByEmailHash("new-bob"))?.name, "bob");
  });

  Deno.test(`${name} store: users list in name order, paged by the last name seen`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    await addUsers(
      store,
      ...["carol", "alice", "erin", "bob", "dave"].map((n) => userRecord(n)),
    );
    const names = async (page: { after?: string; limit: number }) =>
      (await store.users.list(page)).map((u) => u.name);
    assert.deepEqual(await names({ limit: 2 }), ["alice", "bob"]);
    assert.deepEqual(await names({ after: "bob", limit: 2 }), [
      "carol",
      "dave",
    ]);
    assert.deepEqual(await names({ after: "dave", limit: 2 }), ["erin"]);
    assert.deepEqual(await names({ after: "erin", limit: 2 }), []);
    assert.deepEqual(await names({ after: "b", limit: 10 }), [
      "bob",
      "carol",
      "dave",
      "erin",
    ]);
    assert.deepEqual(await names({ limit: 0 }), []);
    assert.deepEqual(
      (await store.users.list({ limit: 1 }))[0],
      userRecord("alice"),
    );
  });

  Deno.test(`${name} store: deleting a user removes their keys, sessions, agent tokens and versions only`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    await addUsers(store, userRecord("alice"), userRecord("bob"));
    await store.sessions.create(sessionRecord("s-alice", "alice", 10_000));
    await store.sessions.create(sessionRecord("s-bob", "bob", 10_000));
    await store.agentTokens.create(tokenRecord("t-alice", "alice"));
    await store.agentTokens.create(tokenRecord("t-bob", "bob"));
    await store.users.update("alice", { roles: [] }, changeBy("root", "r"));

    assert.equal(await store.users.delete("alice"), true);
    assert.equal(await store.users.get("alice"), null);
    assert.deepEqual(await store.users.keys("alice"), []);
    assert.deepEqual(await store.users.versions("alice"), []);
    assert.equal(await store.sessions.get("s-alice", 0), null);
    assert.equal(await store.agentTokens.getByHash("th-t-alice"), null);
    assert.deepEqual(await store.agentTokens.list("alice"), []);

    assert.deepEqual(await store.users.get("bob"), userRecord("bob"));
    assert.equal((await store.users.keys("bob")).length, 1);
    assert.equal((await store.sessions.get("s-bob", 0))?.userName, "bob");
    assert.equal((await store.agentTokens.getByHash("th-t-bob"))?.id, "t-bob");
    assert.equal(await store.users.delete("alice"), false, "already gone");

    // The name is free again and starts a fresh history.
    await addUsers(store, userRecord("alice"));
    assert.deepEqual(
      (await store.users.versions("alice")).map((v) => v.version),
      [1],
    );
  });

  Deno.test(`${name} store: keys are added to existing users and revoked one by one`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    await addUsers(store, userRecord("alice"), userRecord("bob"));
    const second = {
      ...keyRecord("alice", "alice-k2"),
      algorithm: "RSA" as const,
    };
    assert.equal(await store.users.addKey(second), true);
    assert.deepEqual(await store.users.keys("alice"), [
      keyRecord("alice"),
      second,
    ]);
    assert.equal(await store.users.addKey(keyRecord("ghost")), false);
    assert.deepEqual(await store.users.keys("ghost"), []);

    assert.equal(
      await store.users.revokeKey("bob", "alice-k1"),
      false,
      "a key is revoked only through its owner",
    );
    assert.equal(await store.users.revokeKey("alice", "alice-k1"), true);
    assert.deepEqual(await store.users.keys("alice"), [second]);
    assert.equal(await store.users.revokeKey("alice", "alice-k1"), false);
    assert.deepEqual(await store.users.keys("bob"), [keyRecord("bob")]);
  });

  Deno.test(`${name} store: groups are created once and listed by name`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    const ops = { name: "ops", description: "Operations", createdAt: T0 };
    const dev = { name: "dev", description: "Developers", createdAt: T0 };
    assert.deepEqual(await store.groups.create(ops), { ok: true });
    assert.deepEqual(await store.groups.create(dev), { ok: true });
    assert.deepEqual(
      await store.groups.create({ ...ops, description: "other" }),
      { ok: false, code: "exists" },
    );
    assert.deepEqual(await store.groups.get("ops"), ops, "first create kept");
    assert.equal(await store.groups.get("missing"), null);
    assert.deepEqual(await store.groups.list(), [dev, ops]);
  });

  Deno.test(`${name} store: deleting a group removes it from its members as a new version`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    await store.groups.create({ name: "ops", description: "", createdAt: T0 });
    await addUsers(
      store,
      userRecord("alice", { groups: ["dev", "ops"] }),
      userRecord("bob", { groups: ["ops"] }),
      userRecord("carol", { groups: ["dev", "ops-team"] }),
    );
    assert.equal(
      await store.groups.delete(
        "ops",
        changeBy("root", "req-9", "2026-03-01T00:00:00.000Z"),
      ),
      true,
    );
    assert.equal(await store.groups.get("ops"), null);
    assert.deepEqual(await store.groups.list(), []);
    const alice = await store.users.get("alice");
    assert.deepEqual(alice?.groups, ["dev"]);
    assert.equal(alice?.version, 2);
    assert.deepEqual((await store.users.get("bob"))?.groups, []);
    assert.deepEqual(
      await store.users.get("carol"),
      userRecord("carol", { groups: ["dev", "ops-team"] }),
      "non-members untouched",
    );
    const last = (await store.users.versions("alice"))[1];
    assert.deepEqual(last, {
      version: 2,
      time: "2026-03-01T00:00:00.000Z",
      actor: "root",
      requestId: "req-9",
      snapshot: {
        roles: ["publisher"],
        groups: ["dev"],
        emailHash: "hash-alice",
      },
    });
    assert.equal(await store.groups.delete("ops"), false);
  });

  Deno.test(`${name} store: a session is found until its expiry and not at or after it`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    await addUsers(store, userRecord("alice"));
    const session = sessionRecord("s1", "alice", 1_000);
    await store.sessions.create(session);
    assert.deepEqual(await store.sessions.get("s1", 999), session);
    assert.equal(await store.sessions.get("s1", 1_000), null);
    assert.equal(await store.sessions.get("s1", 5_000), null);
    assert.equal(await store.sessions.get("unknown", 0), null);
  });

  Deno.test(`${name} store: a session for an unknown user is refused`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    await assert.rejects(() =>
      store.sessions.create(sessionRecord("s1", "ghost", 1_000))
    );
    assert.equal(await store.sessions.get("s1", 0), null);
  });

  Deno.test(`${name} store: extending slides a live session's expiry but not an expired one's`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    await addUsers(store, userRecord("alice"));
    await store.sessions.create(sessionRecord("s1", "alice", 1_000));
    assert.equal(await store.sessions.extend("s1", 2_000, 900), true);
    assert.equal((await store.sessions.get("s1", 1_500))?.expiresAt, 2_000);
    assert.equal(await store.sessions.extend("s1", 9_000, 2_000), false);
    assert.equal(
      (await store.sessions.get("s1", 1_999))?.expiresAt,
      2_000,
      "a refused extend leaves the expiry as it was",
    );
    assert.equal(await store.sessions.get("s1", 2_000), null);
    assert.equal(await store.sessions.extend("missing", 9_000, 0), false);
  });

  Deno.test(`${name} store: sweeping deletes exactly the sessions expired at now`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    await addUsers(store, userRecord("alice"));
    await store.sessions.create(sessionRecord("early", "alice", 100));
    await store.sessions.create(sessionRecord("edge", "alice", 200));
    await store.sessions.create(sessionRecord("late", "alice", 300));
    assert.equal(await store.sessions.sweep(200), 2);
    assert.equal(await store.sessions.sweep(200), 0);
    assert.equal((await store.sessions.get("late", 0))?.tokenHash, "late");
    // Swept rows are gone, not merely hidden by the expiry check.
    assert.equal(await store.sessions.delete("early"), false);
    assert.equal(await store.sessions.delete("late"), true);
    assert.equal(await store.sessions.get("late", 0), null);
    assert.equal(await store.sessions.delete("late"), false);
  });

  Deno.test(`${name} store: agent tokens are found by hash, listed per user and revoked`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    await addUsers(store, userRecord("alice"), userRecord("bob"));
    const a1 = tokenRecord("a1", "alice", { expiresAt: 5_000 });
    const a2 = tokenRecord("a2", "alice", {
      createdAt: "2026-01-02T00:00:00.000Z",
      scopes: [],
    });
    const b1 = tokenRecord("b1", "bob", {
      createdAt: "2026-01-01T12:00:00.000Z",
    });
    for (const token of [a2, b1, a1]) await store.agentTokens.create(token);
    assert.deepEqual(await store.agentTokens.getByHash("th-a1"), a1);
    assert.deepEqual(await store.agentTokens.getByHash("th-a2"), a2);
    assert.equal(
      await store.agentTokens.getByHash("a1"),
      null,
      "by hash, not id",
    );
    assert.deepEqual(await store.agentTokens.list("alice"), [a1, a2]);
    assert.deepEqual(await store.agentTokens.list(), [a1, b1, a2]);
    assert.deepEqual(await store.agentTokens.list("nobody"), []);
    assert.equal(await store.agentTokens.revoke("a1"), true);
    assert.equal(await store.agentTokens.revoke("a1"), false);
    assert.equal(await store.agentTokens.getByHash("th-a1"), null);
    assert.deepEqual(await store.agentTokens.list(), [b1, a2]);
  });

  Deno.test(`${name} store: audit records round-trip with increasing sequence numbers`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    const first = auditRecord({ version: 3, detail: { roles: ["admin"] } });
    const second = auditRecord({ result: "denied", actor: "anonymous" });
    const s1 = await store.audit.append(first);
    const s2 = await store.audit.append(second);
    assert.ok(s2 > s1, "sequence increases");
    assert.deepEqual(await store.audit.list({ limit: 10 }), [
      { seq: s1, ...first },
      { seq: s2, ...second },
    ]);
    assert.equal(
      "update" in store.audit || "delete" in store.audit,
      false,
      "append-only",
    );
  });

  Deno.test(`${name} store: audit listing applies each filter, inclusive times and the seq cursor`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    const day = (d: number) => `2026-01-0${d}T00:00:00.000Z`;
    const rows: [string, string, string][] = [
      ["alice", "user:alice", day(1)],
      ["bob", "user:alice", day(2)],
      ["alice", "topic:orders", day(3)],
      ["bob", "user:bob", day(4)],
      ["alice", "user:alice", day(5)],
    ];
    const seqs: number[] = [];
    for (const [actor, resource, time] of rows) {
      seqs.push(
        await store.audit.append(auditRecord({ actor, resource, time })),
      );
    }
    const at = async (query: Parameters<Store["audit"]["list"]>[0]) =>
      (await store.audit.list(query)).map((r) => seqs.indexOf(r.seq));
    assert.deepEqual(await at({ limit: 10 }), [0, 1, 2, 3, 4]);
    assert.deepEqual(await at({ resource: "user:alice", limit: 10 }), [
      0,
      1,
      4,
    ]);
    assert.deepEqual(await at({ actor: "bob", limit: 10 }), [1, 3]);
    assert.deepEqual(await at({ since: day(2), limit: 10 }), [1, 2, 3, 4]);
    assert.deepEqual(await at({ until: day(2), limit: 10 }), [0, 1]);
    assert.deepEqual(await at({ since: day(2), until: day(4), limit: 10 }), [
      1,
      2,
      3,
    ]);
    assert.deepEqual(await at({ afterSeq: seqs[2]!, limit: 10 }), [3, 4]);
    assert.deepEqual(
      await at({
        actor: "alice",
        resource: "user:alice",
        since: day(2),
        limit: 10,
      }),
      [4],
    );
    assert.deepEqual(await at({ actor: "nobody", limit: 10 }), []);
    assert.deepEqual(await at({ limit: 0 }), []);

    // Paging with the cursor visits every matching record once, in order.
    const seen: number[] = [];
    let afterSeq: number | undefined;
    for (;;) {
      const page = await store.audit.list({
        actor: "alice",
        limit: 2,
        ...(afterSeq === undefined ? {} : { afterSeq }),
      });
      if (page.length === 0) break;
      assert.ok(page.length <= 2);
      seen.push(...page.map((r) => seqs.indexOf(r.seq)));
      afterSeq = page.at(-1)!.seq;
    }
    assert.deepEqual(seen, [0, 2, 4]);
  });

  Deno.test(`${name} store: audit pruning drops only older records and never reuses a seq`, async () => {
    const { keyring } = await testKeyfile();
    await using store = await openStore(() => keyring);
    const old = await store.audit.append(
      auditRecord({ time: "2025-12-01T00:00:00.000Z" }),
    );
    await store.audit.append(auditRecord({ time: "2025-12-31T23:59:59.999Z" }));
    const kept = await store.audit.append(auditRecord({ time: T0 }));
    assert.equal(await store.audit.prune(T0), 2);
    assert.equal(await store.audit.prune(T0), 0);
    assert.deepEqual(
      (await store.audit.list({ limit: 10 })).map((r) => r.seq),
      [kept],
    );
    assert.equal(await store.audit.prune("2027-01-01T00:00:00.000Z"), 1);
    const next = await store.audit.append(auditRecord());
    assert.ok(
      next > kept && next > old,
      "a pruned seq is not handed out again",
    );
  });
}
