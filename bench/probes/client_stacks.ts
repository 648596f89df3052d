/**
 * What the client stack costs a delivery: a loopback sink in its own process
 * (204 to every POST) and 64 concurrent loops posting a 256-byte body with
 * the seven headers of a delivery — through `fetch` with the headers as a
 * `Headers` object and as name/value pairs, and through the couriers'
 * delivery client (undici, `delivery/client.ts`) — 5 s each after 1 s of
 * warm-up, in three rounds so this machine's swings show.
 *
 * `deno run -A bench/probes/client_stacks.ts`
 *
 * @module
 */

import { attempt } from "../../delivery/attempt.ts";
import { createDeliveryClient } from "../../delivery/client.ts";
import { say } from "../log.ts";

const PORT = 18_000 + Math.floor(Math.random() * 2_000);
const sink = new Deno.Command(Deno.execPath(), {
  args: [
    "eval",
    `Deno.serve({ port: ${PORT}, hostname: "127.0.0.1", onListen() {} },` +
    ` async (r) => { await r.arrayBuffer(); return new Response(null, { status: 204 }); });`,
  ],
  stdout: "null",
  stderr: "inherit",
}).spawn();

const url = `http://127.0.0.1:${PORT}/hook`;
const body = new Uint8Array(256).fill(0x61);
const pairs: [string, string][] = [
  ["content-type", "application/json"],
  ["x-trace", "abc"],
  ["webhook-id", "01JABCDEFGHJKMNPQRSTVWXYZ0"],
  ["webhook-timestamp", "1795389302"],
  ["webhook-signature", `v1,${"A".repeat(44)}`],
  ["miranda-topic", "bench"],
  ["miranda-attempt", "1"],
];
const client = createDeliveryClient();
const stacks: Record<string, () => Promise<unknown>> = {
  "fetch, Headers object": async () => {
    const headers = new Headers();
    for (const [name, value] of pairs) headers.set(name, value);
    const response = await fetch(url, {
      method: "POST",
      headers,
      body,
      redirect: "manual",
    });
    await response.body?.cancel();
  },
  "fetch, pairs": async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: pairs,
      body,
      redirect: "manual",
    });
    await response.body?.cancel();
  },
  "delivery client (undici)": () =>
    attempt({
      url,
      method: "POST",
      headers: pairs,
      body,
      timeoutMs: 30_000,
      client,
      privateAllowed: true,
    }),
};

async function rate(send: () => Promise<unknown>): Promise<number> {
  const warmUntil = performance.now() + 1_000;
  const end = warmUntil + 5_000;
  let counted = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (performance.now() < end) {
      await send();
      if (performance.now() > warmUntil) counted++;
    }
  }));
  return counted / 5;
}

try {
  for (let up = 0; up < 50; up++) {
    try {
      await (await fetch(url, { method: "POST" })).body?.cancel();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  for (const round of [1, 2, 3]) {
    for (const [label, send] of Object.entries(stacks)) {
      say(`round ${round}, ${label}: ${Math.round(await rate(send))} req/s`);
    }
  }
} finally {
  await client.close();
  sink.kill();
  await sink.status;
}
