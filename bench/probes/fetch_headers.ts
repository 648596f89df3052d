/**
 * What the form of the headers handed to `fetch` costs: a loopback sink in
 * its own process (204 to every POST) and 64 concurrent loops posting a
 * 256-byte body with the seven headers of a delivery, given as a `Headers`
 * object, as a record, and as name/value pairs, 5 s each after 1 s of warm-up,
 * in three rounds so this machine's swings show.
 *
 * `deno run -A bench/probes/fetch_headers.ts`
 *
 * @module
 */

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
const forms: Record<string, () => HeadersInit> = {
  "Headers object": () => {
    const headers = new Headers();
    for (const [name, value] of pairs) headers.set(name, value);
    return headers;
  },
  record: () => Object.fromEntries(pairs),
  pairs: () => pairs.map(([name, value]) => [name, value]),
};

async function rate(headers: () => HeadersInit): Promise<number> {
  const warmUntil = performance.now() + 1_000;
  const end = warmUntil + 5_000;
  let counted = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (performance.now() < end) {
      const response = await fetch(url, {
        method: "POST",
        headers: headers(),
        body,
        redirect: "manual",
      });
      await response.body?.cancel();
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
    for (const [label, make] of Object.entries(forms)) {
      say(`round ${round}, ${label}: ${Math.round(await rate(make))} req/s`);
    }
  }
} finally {
  sink.kill();
  await sink.status;
}
