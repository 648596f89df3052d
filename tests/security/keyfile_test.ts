import assert from "node:assert/strict";
import { keyIdOf } from "../../security/envelope.ts";
import {
  createKeyfile,
  DEFAULT_KDF,
  ForeignShareError,
  InvalidSharesError,
  KeyfileCorruptError,
  KeyfileFormatError,
  KeyfileMismatchError,
  MalformedShareError,
  NotEnoughSharesError,
  parseKeyfile,
  readKeyfile,
  rekey,
  rotateDataKey,
  ShareError,
  unlockWithPassphrase,
  unlockWithShares,
  UnsealProgress,
  unwrapSecret,
  WeakPassphraseError,
  wrapSecret,
  writeKeyfile,
  WrongPassphraseError,
} from "../../security/keyfile.ts";

const CHEAP_KDF = { memoryKiB: 64, iterations: 1, parallelism: 1 };
const PASSPHRASE = "correct horse battery staple";
const EVENT = { kind: "event", id: "evt_1" };
const body = new TextEncoder().encode("payload");

function create(threshold = 3, count = 5) {
  return createKeyfile(PASSPHRASE, {
    kdf: CHEAP_KDF,
    shares: { threshold, count },
  });
}

/** Changes one character in the middle of the share's data (all six bits count there). */
function corruptShare(share: string): string {
  const i = share.length - 10;
  return share.slice(0, i) + (share[i] === "A" ? "B" : "A") +
    share.slice(i + 1);
}

/** The Shamir bytes of a share (without its checksum). */
function shareBytes(share: string, fingerprint: string): Uint8Array {
  const prefix = share.slice(
    0,
    share.indexOf(fingerprint) + fingerprint.length + 1,
  );
  return Uint8Array.fromBase64(share.slice(prefix.length), {
    alphabet: "base64url",
  })
    .slice(0, 33);
}

Deno.test("keyfile: default KDF parameters and salt are recorded in the file", async () => {
  const { keyfile } = await createKeyfile(PASSPHRASE);
  assert.equal(keyfile.kdf.algorithm, "argon2id");
  assert.equal(keyfile.kdf.version, 19);
  assert.equal(keyfile.kdf.memoryKiB, 19 * 1024);
  assert.equal(keyfile.kdf.memoryKiB, DEFAULT_KDF.memoryKiB);
  assert.equal(keyfile.kdf.iterations, 2);
  assert.equal(keyfile.kdf.parallelism, 1);
  assert.equal(
    Uint8Array.fromBase64(keyfile.kdf.salt, { alphabet: "base64url" }).length,
    16,
  );
  assert.deepEqual(keyfile.shares, { threshold: 3, count: 5 });
  assert.equal(
    await unlockWithPassphrase(keyfile, PASSPHRASE).then(() => true),
    true,
  );
});

Deno.test("keyfile: the keyfile is plain JSON that survives a round trip and validation", async () => {
  const { keyfile, keyring } = await create();
  const reparsed = parseKeyfile(JSON.parse(JSON.stringify(keyfile)));
  assert.deepEqual(reparsed, keyfile);
  const sealed = await keyring.seal(body, EVENT);
  assert.deepEqual(
    await (await unlockWithPassphrase(reparsed, PASSPHRASE)).open(
      sealed,
      EVENT,
    ),
    body,
  );
  assert.throws(
    () => parseKeyfile({ ...keyfile, kdf: { ...keyfile.kdf, memoryKiB: 2 } }),
    (error: unknown) =>
      error instanceof KeyfileFormatError &&
      error.issues[0]!.startsWith("kdf.memoryKiB"),
  );
  assert.throws(
    () =>
      parseKeyfile({
        ...keyfile,
        dataKeys: { ...keyfile.dataKeys, active: 9 },
      }),
    KeyfileFormatError,
  );
});

Deno.test("keyfile: writeKeyfile writes mode 0600 atomically and readKeyfile reads it back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { keyfile } = await create();
    const path = `${dir}/keyring.json`;
    await writeKeyfile(path, keyfile);
    await writeKeyfile(path, keyfile);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.deepEqual(await readKeyfile(path), keyfile);
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name),
      ["keyring.json"],
    );
    await Deno.writeTextFile(path, "{not json");
    await assert.rejects(readKeyfile(path), KeyfileFormatError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("keyfile: unlock with the passphrase opens what the created keyring sealed", async () => {
  const { keyfile, keyring } = await create();
  const sealed = await keyring.seal(body, EVENT);
  const unlocked = await unlockWithPassphrase(keyfile, PASSPHRASE);
  assert.deepEqual(await unlocked.open(sealed, EVENT), body);
  assert.equal(
    await unlocked.lookupHash("email", "a@b.c"),
    await keyring.lookupHash("email", "a@b.c"),
  );
});

Deno.test("keyfile: a wrong passphrase fails with WrongPassphraseError", async () => {
  const { keyfile } = await create();
  await assert.rejects(
    unlockWithPassphrase(keyfile, "correct horse battery stapler"),
    (error: unknown) => {
      assert.ok(error instanceof WrongPassphraseError);
      assert.equal(error.name, "WrongPassphraseError");
      assert.equal(error.fingerprint, keyfile.fingerprint);
      return true;
    },
  );
});

Deno.test("keyfile: a tampered wrapped root key or salt fails as a wrong passphrase", async () => {
  const { keyfile } = await create();
  const root = keyfile.root.slice(0, 20) +
    (keyfile.root[20] === "A" ? "B" : "A") +
    keyfile.root.slice(21);
  await assert.rejects(
    unlockWithPassphrase({ ...keyfile, root }, PASSPHRASE),
    WrongPassphraseError,
  );
  const salt = "AAAAAAAAAAAAAAAAAAAAAA";
  await assert.rejects(
    unlockWithPassphrase(
      { ...keyfile, kdf: { ...keyfile.kdf, salt } },
      PASSPHRASE,
    ),
    WrongPassphraseError,
  );
});

Deno.test("keyfile: a swapped or damaged data key entry fails with KeyfileCorruptError", async () => {
  const { keyfile } = await create();
  const rotated = await rotateDataKey(
    keyfile,
    await unlockWithPassphrase(keyfile, PASSPHRASE),
  );
  const [k1, k2] = rotated.keyfile.dataKeys.keys;
  const swapped = {
    ...rotated.keyfile,
    dataKeys: { active: 2, keys: [{ ...k1!, wrapped: k2!.wrapped }, k2!] },
  };
  await assert.rejects(
    unlockWithPassphrase(swapped, PASSPHRASE),
    (error: unknown) => {
      assert.ok(error instanceof KeyfileCorruptError);
      assert.equal(error.entry, "data-key/1");
      return true;
    },
  );
});

Deno.test("keyfile: a weak new passphrase is refused", async () => {
  await assert.rejects(
    createKeyfile("short", { kdf: CHEAP_KDF }),
    WeakPassphraseError,
  );
  const { keyfile } = await create();
  await assert.rejects(
    rekey(keyfile, { current: PASSPHRASE, newPassphrase: "", kdf: CHEAP_KDF }),
    WeakPassphraseError,
  );
});

Deno.test("keyfile: shares are printable and carry the keyfile fingerprint", async () => {
  const { keyfile, shares } = await create();
  assert.equal(shares.length, 5);
  shares.forEach((share, i) => {
    assert.match(
      share,
      new RegExp(
        `^miranda-share-${i + 1}-${keyfile.fingerprint}-[A-Za-z0-9_-]+$`,
      ),
    );
  });
  assert.equal(new Set(shares).size, 5);
});

Deno.test("keyfile: any k shares unlock and open existing ciphertexts", async () => {
  const { keyfile, shares, keyring } = await create();
  const sealed = await keyring.seal(body, EVENT);
  for (const subset of [[0, 1, 2], [2, 3, 4], [4, 0, 3], [0, 1, 2, 3, 4]]) {
    const unlocked = await unlockWithShares(
      keyfile,
      subset.map((i) => shares[i]!),
    );
    assert.deepEqual(await unlocked.open(sealed, EVENT), body);
  }
});

Deno.test("keyfile: k-1 shares are refused with NotEnoughSharesError", async () => {
  const { keyfile, shares } = await create();
  await assert.rejects(
    unlockWithShares(keyfile, shares.slice(0, 2)),
    (error: unknown) => {
      assert.ok(error instanceof NotEnoughSharesError);
      assert.ok(error instanceof ShareError);
      assert.equal(error.given, 2);
      assert.equal(error.threshold, 3);
      return true;
    },
  );
});

Deno.test("keyfile: a duplicated share counts once", async () => {
  const { keyfile, shares } = await create();
  await assert.rejects(
    unlockWithShares(keyfile, [shares[0]!, shares[0]!, ` ${shares[1]!}\n`]),
    NotEnoughSharesError,
  );
});

Deno.test("keyfile: a mistyped share is refused as malformed (checksum)", async () => {
  const { keyfile, shares } = await create();
  await assert.rejects(
    unlockWithShares(keyfile, [
      shares[0]!,
      shares[1]!,
      corruptShare(shares[2]!),
    ]),
    (error: unknown) =>
      error instanceof MalformedShareError && error.reason === "checksum",
  );
  await assert.rejects(
    unlockWithShares(keyfile, [shares[0]!, shares[1]!, "hello"]),
    (error: unknown) =>
      error instanceof MalformedShareError && error.reason === "syntax",
  );
});

Deno.test("keyfile: shares of another keyfile are refused with ForeignShareError", async () => {
  const mine = await create();
  const other = await create();
  await assert.rejects(
    unlockWithShares(mine.keyfile, [
      mine.shares[0]!,
      mine.shares[1]!,
      other.shares[2]!,
    ]),
    (error: unknown) => {
      assert.ok(error instanceof ForeignShareError);
      assert.equal(error.expected, mine.keyfile.fingerprint);
      assert.equal(error.actual, other.keyfile.fingerprint);
      return true;
    },
  );
});

Deno.test("keyfile: a forged share with a valid checksum is refused with InvalidSharesError", async () => {
  const { keyfile, shares } = await create();
  // A forger who knows the format: random share bytes, correct fingerprint and checksum.
  const forgedBytes = crypto.getRandomValues(new Uint8Array(33));
  const label = new TextEncoder().encode(
    `miranda-share/${keyfile.fingerprint}/3/`,
  );
  const digest = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-256",
      new Uint8Array([...label, ...forgedBytes]),
    ),
  );
  const payload = new Uint8Array([...forgedBytes, ...digest.subarray(0, 4)]);
  const forged = `miranda-share-3-${keyfile.fingerprint}-${
    payload.toBase64({ alphabet: "base64url", omitPadding: true })
  }`;
  await assert.rejects(
    unlockWithShares(keyfile, [shares[0]!, shares[1]!, forged]),
    (error: unknown) => {
      assert.ok(error instanceof InvalidSharesError);
      assert.equal(error.name, "InvalidSharesError");
      return true;
    },
  );
});

Deno.test("keyfile: a share relabelled with another fingerprint fails its checksum", async () => {
  const a = await create(2, 3);
  const b = await create(2, 3);
  const relabelled = b.shares[0]!.replace(
    b.keyfile.fingerprint,
    a.keyfile.fingerprint,
  );
  await assert.rejects(
    unlockWithShares(a.keyfile, [a.shares[0]!, relabelled]),
    MalformedShareError,
  );
});

Deno.test("keyfile: UnsealProgress collects shares one by one, dedupes, validates each at once", async () => {
  const { keyfile, shares, keyring } = await create();
  const other = await create();
  const sealed = await keyring.seal(body, EVENT);
  const progress = new UnsealProgress(keyfile);
  assert.deepEqual(await progress.add(shares[4]!), {
    progress: 1,
    threshold: 3,
    complete: false,
    duplicate: false,
  });
  assert.deepEqual(await progress.add(shares[4]!), {
    progress: 1,
    threshold: 3,
    complete: false,
    duplicate: true,
  });
  await assert.rejects(progress.add(other.shares[0]!), ForeignShareError);
  await assert.rejects(progress.add("miranda-share-1-zz"), MalformedShareError);
  await assert.rejects(progress.unlock(), NotEnoughSharesError);
  assert.equal((await progress.add(shares[1]!)).complete, false);
  assert.deepEqual(await progress.add(shares[2]!), {
    progress: 3,
    threshold: 3,
    complete: true,
    duplicate: false,
  });
  assert.deepEqual(await (await progress.unlock()).open(sealed, EVENT), body);
  progress.reset();
  assert.deepEqual(progress.status(), {
    progress: 0,
    threshold: 3,
    complete: false,
  });
});

Deno.test("keyfile: UnsealProgress starts over after shares fail to rebuild the root", async () => {
  const { keyfile, shares } = await create(2, 3);
  const progress = new UnsealProgress(keyfile);
  await progress.add(shares[0]!);
  // Same x coordinate as share 1 but different bytes: inconsistent.
  const bytes = shareBytes(shares[0]!, keyfile.fingerprint);
  bytes[0]! ^= 0xff;
  const label = new TextEncoder().encode(
    `miranda-share/${keyfile.fingerprint}/9/`,
  );
  const sum = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new Uint8Array([...label, ...bytes])),
  );
  await progress.add(
    `miranda-share-9-${keyfile.fingerprint}-${
      new Uint8Array([...bytes, ...sum.subarray(0, 4)]).toBase64({
        alphabet: "base64url",
        omitPadding: true,
      })
    }`,
  );
  await assert.rejects(progress.unlock(), InvalidSharesError);
  assert.equal(progress.status().progress, 0);
  await progress.add(shares[1]!);
  await progress.add(shares[2]!);
  assert.equal((await progress.unlock()).sealed, false);
});

Deno.test("keyfile: rekey refuses the old passphrase, accepts the new, keeps ciphertexts and shares", async () => {
  const { keyfile, keyring, shares } = await create();
  const sealed = await keyring.seal(body, EVENT);
  const newPassphrase = "a much longer passphrase";
  const rekeyed = await rekey(keyfile, {
    current: PASSPHRASE,
    newPassphrase,
    kdf: CHEAP_KDF,
  });
  assert.notEqual(rekeyed.kdf.salt, keyfile.kdf.salt);
  assert.deepEqual(rekeyed.dataKeys, keyfile.dataKeys);
  await assert.rejects(
    unlockWithPassphrase(rekeyed, PASSPHRASE),
    WrongPassphraseError,
  );
  const unlocked = await unlockWithPassphrase(rekeyed, newPassphrase);
  assert.deepEqual(await unlocked.open(sealed, EVENT), body);
  const byShares = await unlockWithShares(rekeyed, shares.slice(2));
  assert.deepEqual(await byShares.open(sealed, EVENT), body);
});

Deno.test("keyfile: rekey from an unsealed keyring may raise the KDF cost", async () => {
  const { keyfile, keyring } = await create();
  const kdf = { memoryKiB: 128, iterations: 2, parallelism: 1 };
  const rekeyed = await rekey(keyfile, {
    current: keyring,
    newPassphrase: "another fine passphrase",
    kdf,
  });
  assert.equal(rekeyed.kdf.memoryKiB, 128);
  assert.equal(rekeyed.kdf.iterations, 2);
  assert.equal(
    (await unlockWithPassphrase(rekeyed, "another fine passphrase")).sealed,
    false,
  );
});

Deno.test("keyfile: rekey with a wrong current passphrase or a foreign keyring is refused", async () => {
  const { keyfile } = await create();
  const other = await create();
  await assert.rejects(
    rekey(keyfile, {
      current: "not the passphrase",
      newPassphrase: "whatever-long",
      kdf: CHEAP_KDF,
    }),
    WrongPassphraseError,
  );
  await assert.rejects(
    rekey(keyfile, {
      current: other.keyring,
      newPassphrase: "whatever-long",
      kdf: CHEAP_KDF,
    }),
    KeyfileMismatchError,
  );
});

Deno.test("keyfile: rotateDataKey seals new records under the new key and still opens old ones", async () => {
  const { keyfile, keyring } = await create();
  const old = await keyring.seal(body, EVENT);
  const rotated = await rotateDataKey(keyfile, keyring);
  assert.equal(rotated.keyfile.dataKeys.active, 2);
  assert.deepEqual(rotated.keyfile.dataKeys.keys.map((k) => k.id), [1, 2]);
  assert.equal(keyfile.dataKeys.active, 1, "input keyfile untouched");
  const fresh = await rotated.keyring.seal(body, EVENT);
  assert.equal(keyIdOf(old), 1);
  assert.equal(keyIdOf(fresh), 2);
  assert.deepEqual(await rotated.keyring.open(old, EVENT), body);
  assert.equal(
    keyIdOf(await keyring.seal(body, EVENT)),
    1,
    "old view keeps its key until swapped",
  );
  const reopened = await unlockWithPassphrase(rotated.keyfile, PASSPHRASE);
  assert.deepEqual(reopened.keyIds, [1, 2]);
  assert.equal(reopened.activeKeyId, 2);
  assert.deepEqual(await reopened.open(old, EVENT), body);
  assert.deepEqual(await reopened.open(fresh, EVENT), body);
  await assert.rejects(
    rotateDataKey(keyfile, (await create()).keyring),
    KeyfileMismatchError,
  );
});

Deno.test("keyfile: named secrets round-trip, survive rekey and are bound to their name", async () => {
  const { keyfile, keyring } = await create();
  const pem = new TextEncoder().encode("-----BEGIN PRIVATE KEY-----\n...");
  const withCa = await wrapSecret(keyfile, keyring, {
    name: "ca-key",
    bytes: pem,
  });
  assert.deepEqual(
    await unwrapSecret(withCa, keyring, { name: "ca-key" }),
    pem,
  );
  assert.equal(await unwrapSecret(withCa, keyring, { name: "jwt-key" }), null);
  const rekeyed = await rekey(withCa, {
    current: keyring,
    newPassphrase: "fresh passphrase!",
    kdf: CHEAP_KDF,
  });
  const unlocked = await unlockWithPassphrase(rekeyed, "fresh passphrase!");
  assert.deepEqual(
    await unwrapSecret(rekeyed, unlocked, { name: "ca-key" }),
    pem,
  );
  const moved = {
    ...withCa,
    secrets: { ...withCa.secrets, "jwt-key": withCa.secrets["ca-key"]! },
  };
  await assert.rejects(
    unwrapSecret(moved, keyring, { name: "jwt-key" }),
    KeyfileCorruptError,
  );
  await assert.rejects(
    wrapSecret(keyfile, keyring, { name: "__proto__", bytes: pem }),
    RangeError,
  );
});
