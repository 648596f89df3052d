/**
 * Where a publish's time goes, route by route: wrk (8 s, 64 connections)
 * against one Miranda started as the bench starts it — `/healthz` (the app
 * and its middleware), `GET /api/v1/session` (plus authentication), `POST`
 * to a missing topic (plus the body and the event actor's ask, answered
 * 404), and `POST` to a `received` topic (plus storing). Each line is
 * requests per second; the gaps between lines are the cost of each layer.
 *
 * `deno run -A bench/probes/route_costs.ts` (needs wrk)
 *
 * @module
 */

import { say } from "../log.ts";
import { createTopic, startMiranda } from "../miranda/server.ts";

await using m = await startMiranda();
await createTopic(m, "route-costs", "received");
const dir = await Deno.makeTempDir({ prefix: "route-costs-" });
try {
  const post = `${dir}/post.lua`;
  const get = `${dir}/get.lua`;
  await Deno.writeTextFile(
    post,
    `wrk.method = "POST"\nwrk.body = string.rep("x", 256)\n` +
      `wrk.headers["Content-Type"] = "application/json"\n` +
      `wrk.headers["Authorization"] = "${m.bearer}"\n`,
  );
  await Deno.writeTextFile(
    get,
    `wrk.headers["Authorization"] = "${m.bearer}"\n`,
  );
  const routes: [string, string[]][] = [
    ["GET /healthz (no auth)", [`${m.url}/healthz`]],
    ["GET /api/v1/session", ["-s", get, `${m.url}/api/v1/session`]],
    ["POST /topics/missing (404)", ["-s", post, `${m.url}/topics/missing`]],
    ["POST /topics/route-costs (received)", [
      "-s",
      post,
      `${m.url}/topics/route-costs`,
    ]],
  ];
  for (const [label, args] of routes) {
    const out = await new Deno.Command("wrk", {
      args: ["-t1", "-c64", "-d8s", ...args],
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const rate = /Requests\/sec:\s+(\S+)/.exec(text)?.[1] ?? "?";
    say(`${label}: ${rate} req/s`);
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
