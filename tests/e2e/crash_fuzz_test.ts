import assert from "node:assert/strict";
import { fuzz, rssMiB } from "../../chaos/lib/fuzz.ts";
import { ChaosNode } from "../../chaos/lib/miranda.ts";
import { report } from "../../chaos/lib/report.ts";
import { request } from "./harness.ts";

Deno.test("crash e2e: 2,000 fuzzed requests across every route (malformed, huge, deep, bad UTF-8, odd methods, header floods, traversal, SQL-looking, forged tokens): no 5xx, every refusal problem+json, the node stays up", async () => {
  await using node = await ChaosNode.start();
  await node.createTopic("fuzz");
  const pid = node.server!.child.pid;
  const seed = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 2 ** 31);
  const rssBefore = await rssMiB(pid);
  const started = performance.now();
  const tally = await fuzz(node.url, node.bearer, {
    count: 2_000,
    concurrency: 8,
    seed,
  });
  const seconds = (performance.now() - started) / 1000;
  const rssAfter = await rssMiB(pid);
  const health = await request(`${node.url}/healthz`);
  report(
    `fuzz (seed ${seed}): ${tally.sent} requests in ${
      seconds.toFixed(1)
    } s, statuses ${
      JSON.stringify(Object.fromEntries(tally.statuses))
    }, bare answers of the HTTP server ${tally.bareAnswers}, transport errors ${tally.transportErrors}, ` +
      `RSS ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MiB`,
  );
  assert.deepEqual(tally.failures.slice(0, 20), [], `seed ${seed}`);
  assert.equal(health.status, 200);
  assert.ok(node.running, "the process stayed up");
  assert.ok(tally.sent >= 2_000);
});
