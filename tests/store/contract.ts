/**
 * The store conformance suite: every implementation of `store/mod.ts` runs
 * these tests unchanged.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Store } from "../../store/mod.ts";
import type { Keyring } from "../../security/envelope.ts";
import { rotateDataKey } from "../../security/keyfile.ts";
import { testKeyfile } from "../support/keys.ts";

/** Opens a fresh, empty store of the implementation under test. */
export type OpenStore = (
  cipher: () => Keyring,
) => Promise<Store & { location: string }>;

const text = new TextEncoder();

/** Registers the conformance tests for one implementation. */
export function storeContract(name: string, openStore: OpenStore): void {
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
}
