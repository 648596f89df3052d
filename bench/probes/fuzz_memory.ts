/**
 * Whether fuzzed requests leave anything behind in a node: the chaos fuzz
 * generator against a real node, 2,000 requests a round for ROUNDS rounds
 * (25 by default, 50,000 requests), printing after each round the node's
 * RSS, V8's live heap and heap size, and the number of metric series.
 * RSS that levels off while the live heap and the series stay bounded is
 * V8 sizing its heap, not a leak.
 *
 * `deno run -A bench/probes/fuzz_memory.ts [ROUNDS]`
 *
 * @module
 */

import { say } from "../log.ts";
import { fuzz, rssMiB } from "../../chaos/lib/fuzz.ts";
import { ChaosNode, metricSum } from "../../chaos/lib/miranda.ts";

const ROUNDS = Number(Deno.args[0] ?? 25);
const MIB = 2 ** 20;

await using node = await ChaosNode.start();
await node.createTopic("fuzz");
const pid = node.server!.child.pid;

async function sample(sent: number): Promise<void> {
  const text = await node.metrics();
  const series =
    text.split("\n").filter((line) => line !== "" && !line.startsWith("#"))
      .length;
  say(
    `${sent} requests: RSS ${(await rssMiB(pid)).toFixed(0)} MiB, heap used ${
      (metricSum(text, "nodejs_heap_size_used_bytes") / MIB).toFixed(0)
    } of ${
      (metricSum(text, "nodejs_heap_size_total_bytes") / MIB).toFixed(0)
    } MiB, ${series} metric series`,
  );
}

await sample(0);
for (let round = 1; round <= ROUNDS; round++) {
  await fuzz(node.url, node.bearer, {
    count: 2_000,
    concurrency: 8,
    seed: 1_000 + round,
  });
  await sample(round * 2_000);
}
