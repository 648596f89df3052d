/**
 * What sealing one event costs the JavaScript thread: AES-256-GCM of a
 * 300-byte record through WebCrypto (the work runs on a thread pool, the
 * promise comes back to this thread) and through `node:crypto` on the same
 * non-extractable key (`KeyObject.from`, on this thread), 64 at a time as
 * in a group commit. Prints the wall time and this thread's CPU time per
 * seal, and the process's CPU time (every thread) per seal. Then the
 * keyring's `sealMany`: its first batch of 8, which starts the seal worker,
 * then per batch of 1, 8 and 64 records (the worker takes batches of 8 or
 * more once it is ready): what a batch costs this thread there.
 *
 * `deno run -A bench/probes/seal_costs.ts`
 *
 * @module
 */

import { createCipheriv, KeyObject } from "node:crypto";
import { say } from "../log.ts";
import { timePerCall } from "./per_call.ts";
import { createKeyfile } from "../../security/keyfile.ts";

const SEALS = 50_000;
const AT_ONCE = 64;
const key = await crypto.subtle.importKey(
  "raw",
  crypto.getRandomValues(new Uint8Array(32)),
  "AES-GCM",
  false,
  ["encrypt", "decrypt"],
);
const nodeKey = KeyObject.from(key);
const plaintext = crypto.getRandomValues(new Uint8Array(300));
const aad = new TextEncoder().encode("\0\0\0\x05event0190f0c2-aaaa-7bbb-8ccc");

const ways: [string, () => Promise<unknown>][] = [
  ["WebCrypto encrypt", () =>
    crypto.subtle.encrypt(
      {
        name: "AES-GCM",
        iv: crypto.getRandomValues(new Uint8Array(12)),
        additionalData: aad,
      },
      key,
      plaintext,
    )],
  ["node:crypto createCipheriv", () => {
    const cipher = createCipheriv(
      "aes-256-gcm",
      nodeKey,
      crypto.getRandomValues(new Uint8Array(12)),
    );
    cipher.setAAD(aad);
    const body = cipher.update(plaintext);
    cipher.final();
    return Promise.resolve([body, cipher.getAuthTag()]);
  }],
];

await timePerCall(ways, { calls: SEALS, atOnce: AT_ONCE, unit: "seal" });

const { keyring } = await createKeyfile("seal costs probe passphrase", {
  kdf: { memoryKiB: 64, iterations: 1, parallelism: 1 },
});
// The first batch of 8 starts the worker beside it (`new Worker` holds this
// thread up) and is sealed here; the worker takes batches once it is ready.
const first = performance.now();
await keyring.sealMany(
  Array.from({ length: 8 }, (_, i) => ({
    plaintext,
    ref: { kind: "event", id: `warm-${i}` },
  })),
);
const firstMs = performance.now() - first;
const started = performance.now();
while (!keyring.sealWorkerReady) {
  await new Promise((resolve) => setTimeout(resolve, 1));
}
say(
  `Keyring.sealMany: first batch of 8 ${firstMs.toFixed(1)} ms wall (the ` +
    `worker starts); worker ready ${
      (performance.now() - started).toFixed(1)
    } ms later`,
);
for (const size of [1, 8, 64]) {
  const batch = Array.from({ length: size }, (_, i) => ({
    plaintext,
    ref: { kind: "event", id: `0190f0c2-aaaa-7bbb-8ccc-${i}` },
  }));
  await timePerCall([["Keyring.sealMany", () => keyring.sealMany(batch)]], {
    calls: Math.round(SEALS / size),
    atOnce: 1,
    unit: `batch of ${size}`,
  });
}
keyring.wipe();
