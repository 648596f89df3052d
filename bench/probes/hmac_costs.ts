/**
 * What signing one delivery costs the JavaScript thread: HMAC-SHA-256 over
 * `id.timestamp.` and a 300-byte body with a 24-byte key, 64 at a time —
 * through a fresh `createHmac`, through the key's precomputed inner and
 * outer SHA-256 states copied per message (what `delivery/signature.ts`
 * does), and through WebCrypto's `sign` with an imported key. Checks that
 * all three agree, then prints wall, main-thread and whole-process CPU time
 * per signature.
 *
 * `deno run -A bench/probes/hmac_costs.ts`
 *
 * @module
 */

import { createHash, createHmac, createSecretKey } from "node:crypto";
import { timePerCall } from "./per_call.ts";

const SIGNATURES = 50_000;
const AT_ONCE = 64;
const secret = crypto.getRandomValues(new Uint8Array(24));
const nodeKey = createSecretKey(secret);
const webKey = await crypto.subtle.importKey(
  "raw",
  secret,
  { name: "HMAC", hash: "SHA-256" },
  false,
  ["sign"],
);
const body = crypto.getRandomValues(new Uint8Array(300));
const head = "0190f0c2-aaaa-7bbb-8ccc-0123456789ab.1790000000.";
const padded = (pad: number) => {
  const block = new Uint8Array(64).fill(pad);
  secret.forEach((byte, i) => (block[i] = byte ^ pad));
  return block;
};
const inner = createHash("sha256").update(padded(0x36));
const outer = createHash("sha256").update(padded(0x5c));
const headBytes = new TextEncoder().encode(head);

const ways: [string, () => Promise<string>][] = [
  ["createHmac per message", () =>
    Promise.resolve(
      createHmac("sha256", nodeKey).update(head).update(body).digest("base64"),
    )],
  ["precomputed states, copied", () => {
    const mac = inner.copy().update(head).update(body).digest();
    return Promise.resolve(outer.copy().update(mac).digest("base64"));
  }],
  ["WebCrypto sign", async () => {
    const data = new Uint8Array(headBytes.length + body.length);
    data.set(headBytes);
    data.set(body, headBytes.length);
    return new Uint8Array(await crypto.subtle.sign("HMAC", webKey, data))
      .toBase64();
  }],
];

const expected = await ways[0]![1]();
for (const [label, sign] of ways) {
  if (await sign() !== expected) throw new Error(`${label} disagrees`);
}
await timePerCall(ways, {
  calls: SIGNATURES,
  atOnce: AT_ONCE,
  unit: "signature",
});
