/**
 * Test key material: a real keyring from a real keyfile, with a cheap KDF
 * so tests stay fast (production defaults are tested in tests/security/).
 *
 * @module
 */

import { createKeyfile } from "../../security/keyfile.ts";

/** Argon2id cost for tests only. */
export const TEST_KDF = { memoryKiB: 256, iterations: 1, parallelism: 1 };

/** A fresh keyfile, its shares and its unsealed keyring. */
export function testKeyfile(passphrase = "correct horse battery staple") {
  return createKeyfile(passphrase, {
    kdf: TEST_KDF,
    shares: { threshold: 2, count: 3 },
  });
}
