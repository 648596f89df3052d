import assert from "node:assert/strict";
import {
  DecryptError,
  encodeRecordRef,
  keyIdOf,
  Keyring,
  SEALED_FORMAT_VERSION,
  SealedError,
} from "../../security/envelope.ts";
import { createKeyfile, rotateDataKey } from "../../security/keyfile.ts";

const CHEAP_KDF = { memoryKiB: 64, iterations: 1, parallelism: 1 };
const PASSPHRASE = "correct horse battery staple";
const EVENT = { kind: "event", id: "evt_1" };
const body = new TextEncoder().encode('{"hello":"world"}');

async function newKeyring(): Promise<Keyring> {
  return (await createKeyfile(PASSPHRASE, { kdf: CHEAP_KDF })).keyring;
}

async function assertDecryptError(
  promise: Promise<unknown>,
  expected: Partial<DecryptError>,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DecryptError, `not a DecryptError: ${error}`);
    assert.equal(error.name, "DecryptError");
    for (const [field, value] of Object.entries(expected)) {
      assert.equal(error[field as keyof DecryptError], value, field);
    }
    return true;
  });
}

Deno.test("envelope: seal then open returns the plaintext", async () => {
  const keyring = await newKeyring();
  const sealed = await keyring.seal(body, EVENT);
  assert.deepEqual(await keyring.open(sealed, EVENT), body);
  assert.equal(
    await keyring.openString(
      await keyring.sealString("whsec_abc", { kind: "secret", id: "s1" }),
      { kind: "secret", id: "s1" },
    ),
    "whsec_abc",
  );
  assert.deepEqual(
    await keyring.open(await keyring.seal(new Uint8Array(), EVENT), EVENT),
    new Uint8Array(),
  );
});

Deno.test("envelope: the sealed layout is version, u32 key id, 12-byte nonce, ciphertext and tag", async () => {
  const keyring = await newKeyring();
  const sealed = await keyring.seal(body, EVENT);
  assert.equal(sealed.length, 1 + 4 + 12 + body.length + 16);
  assert.equal(sealed[0], SEALED_FORMAT_VERSION);
  assert.equal(new DataView(sealed.buffer).getUint32(1), 1);
  assert.equal(keyIdOf(sealed), 1);
  assert.equal(keyIdOf(new Uint8Array(10)), null);
});

Deno.test("envelope: two seals of the same plaintext differ (fresh nonce)", async () => {
  const keyring = await newKeyring();
  const a = await keyring.seal(body, EVENT);
  const b = await keyring.seal(body, EVENT);
  assert.notDeepEqual(a.subarray(5, 17), b.subarray(5, 17));
  assert.notDeepEqual(a, b);
});

Deno.test("envelope: a flipped byte anywhere in a ciphertext fails with DecryptError", async () => {
  const keyring = await newKeyring();
  const sealed = await keyring.seal(body, EVENT);
  for (let i = 5; i < sealed.length; i++) {
    const tampered = sealed.slice();
    tampered[i]! ^= 0x01;
    await assertDecryptError(keyring.open(tampered, EVENT), {
      reason: "authentication_failed",
      keyId: 1,
      kind: "event",
      id: "evt_1",
    });
  }
});

Deno.test("envelope: a ciphertext opened as another record id or kind fails", async () => {
  const keyring = await newKeyring();
  const sealed = await keyring.seal(body, EVENT);
  await assertDecryptError(
    keyring.open(sealed, { kind: "event", id: "evt_2" }),
    {
      reason: "authentication_failed",
      id: "evt_2",
    },
  );
  await assertDecryptError(
    keyring.open(sealed, { kind: "event-headers", id: "evt_1" }),
    { reason: "authentication_failed", kind: "event-headers" },
  );
  // Length-prefixed kind: shifting characters between kind and id does not help.
  await assertDecryptError(
    keyring.open(sealed, { kind: "even", id: "tevt_1" }),
    { reason: "authentication_failed" },
  );
});

Deno.test("envelope: the aad encoding separates kind from id", () => {
  assert.notDeepEqual(encodeRecordRef("ab", "c"), encodeRecordRef("a", "bc"));
  assert.deepEqual(
    encodeRecordRef("é", "x"),
    new Uint8Array([0, 0, 0, 2, 0xc3, 0xa9, 0x78]),
  );
});

Deno.test("envelope: truncated, unknown-version and unknown-key ciphertexts fail with their reason", async () => {
  const keyring = await newKeyring();
  const sealed = await keyring.seal(body, EVENT);
  await assertDecryptError(keyring.open(sealed.subarray(0, 20), EVENT), {
    reason: "malformed",
    keyId: null,
  });
  const version = sealed.slice();
  version[0] = 2;
  await assertDecryptError(keyring.open(version, EVENT), {
    reason: "unsupported_version",
  });
  const unknownKey = sealed.slice();
  new DataView(unknownKey.buffer).setUint32(1, 77);
  await assertDecryptError(keyring.open(unknownKey, EVENT), {
    reason: "unknown_key",
    keyId: 77,
  });
});

Deno.test("envelope: a ciphertext from another keyring fails with DecryptError", async () => {
  const sealed = await (await newKeyring()).seal(body, EVENT);
  await assertDecryptError((await newKeyring()).open(sealed, EVENT), {
    reason: "authentication_failed",
  });
});

Deno.test("envelope: lookupHash is stable, kind-separated and keyed", async () => {
  const created = await createKeyfile(PASSPHRASE, { kdf: CHEAP_KDF });
  const keyring = created.keyring;
  const a = await keyring.lookupHash("email", "ada@example.org");
  assert.equal(a, await keyring.lookupHash("email", "ada@example.org"));
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, await keyring.lookupHash("username", "ada@example.org"));
  assert.notEqual(a, await keyring.lookupHash("email", "bob@example.org"));
  assert.notEqual(
    await keyring.lookupHash("ab", "c"),
    await keyring.lookupHash("a", "bc"),
  );
  assert.notEqual(
    a,
    await (await newKeyring()).lookupHash("email", "ada@example.org"),
  );
  const rotated = await rotateDataKey(created.keyfile, keyring);
  assert.equal(await rotated.keyring.lookupHash("email", "ada@example.org"), a);
});

Deno.test("envelope: wipe makes seal, open and lookupHash throw SealedError", async () => {
  const keyring = await newKeyring();
  const sealed = await keyring.seal(body, EVENT);
  keyring.wipe();
  assert.equal(keyring.sealed, true);
  for (
    const call of [
      () => keyring.seal(body, EVENT),
      () => keyring.open(sealed, EVENT),
      () => keyring.lookupHash("email", "a@b"),
    ]
  ) {
    await assert.rejects(call, (error: unknown) => {
      assert.ok(error instanceof SealedError);
      assert.equal(error.name, "SealedError");
      return true;
    });
  }
  assert.throws(() => keyring.rootKey(), SealedError);
  keyring.wipe(); // idempotent
  assert.equal(keyIdOf(sealed), 1, "keyIdOf needs no key");
});

Deno.test("envelope: wiping a rotated view seals the keyring it came from", async () => {
  const created = await createKeyfile(PASSPHRASE, { kdf: CHEAP_KDF });
  const rotated = await rotateDataKey(created.keyfile, created.keyring);
  rotated.keyring.wipe();
  assert.equal(created.keyring.sealed, true);
  await assert.rejects(created.keyring.seal(body, EVENT), SealedError);
});

Deno.test("envelope: seals are counted per active key", async () => {
  const keyring = await newKeyring();
  await Promise.all([1, 2, 3].map(() => keyring.seal(body, EVENT)));
  assert.equal(keyring.sealsUnderActiveKey, 3);
});

Deno.test("envelope: records of every size are plain AES-256-GCM under the data key, readable and writable by WebCrypto directly, and refuse tampering", async () => {
  const generate = (
    usages: KeyUsage[],
    algorithm: AesKeyGenParams | HmacKeyGenParams,
  ) => crypto.subtle.generateKey(algorithm, true, usages) as Promise<CryptoKey>;
  const dataKey = await generate(["encrypt", "decrypt"], {
    name: "AES-GCM",
    length: 256,
  });
  const keyring = new Keyring({
    dataKeys: new Map([[7, dataKey]]),
    activeKeyId: 7,
    lookupKey: await generate(["sign"], { name: "HMAC", hash: "SHA-256" }),
    rootKey: await generate(["wrapKey", "unwrapKey"], {
      name: "AES-GCM",
      length: 256,
    }),
  });
  const additionalData = encodeRecordRef(EVENT.kind, EVENT.id);
  for (
    const size of [0, 1, 2_048, 60_000]
  ) {
    const plaintext = crypto.getRandomValues(new Uint8Array(size));
    // Sealed by the keyring, opened by plain WebCrypto.
    const sealed = await keyring.seal(plaintext, EVENT);
    assert.equal(sealed.length, 1 + 4 + 12 + size + 16, `size ${size}`);
    const opened = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: sealed.subarray(5, 17), additionalData },
      dataKey,
      sealed.subarray(17),
    );
    assert.deepEqual(new Uint8Array(opened), plaintext, `size ${size}`);
    // Sealed by plain WebCrypto, opened by the keyring.
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const body = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData },
        dataKey,
        plaintext,
      ),
    );
    const foreign = new Uint8Array(17 + body.length);
    foreign[0] = SEALED_FORMAT_VERSION;
    new DataView(foreign.buffer).setUint32(1, 7);
    foreign.set(iv, 5);
    foreign.set(body, 17);
    assert.deepEqual(await keyring.open(foreign, EVENT), plaintext);
    // Tampering with the nonce, the body or the tag is refused.
    for (const at of [5, 17, foreign.length - 1]) {
      if (at >= foreign.length) continue;
      const tampered = foreign.slice();
      tampered[at]! ^= 0x80;
      await assertDecryptError(keyring.open(tampered, EVENT), {
        reason: "authentication_failed",
        keyId: 7,
      });
    }
    await assertDecryptError(
      keyring.open(sealed, { kind: "event", id: "evt_2" }),
      { reason: "authentication_failed" },
    );
  }
});
