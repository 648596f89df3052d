import assert from "node:assert/strict";
import { ChaosNode, metricSum } from "../../chaos/lib/miranda.ts";
import { account, startPublisher, waitFor } from "../../chaos/lib/publisher.ts";
import { report } from "../../chaos/lib/report.ts";
import { startSink } from "../../chaos/lib/sink.ts";
import { runCommand, tempDir } from "./harness.ts";

Deno.test("crash e2e: a panic rate without MIRANDA_FAULT_INJECTION=1 is refused before anything is created", async () => {
  const root = await tempDir();
  try {
    const result = await runCommand("start", [
      "--insecure-http",
      "--listen",
      "127.0.0.1:0",
      "--data-dir",
      `${root}/data`,
    ], { env: { MIRANDA_FAULT_PANIC_RATE: "0.05" } });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /MIRANDA_FAULT_INJECTION=1 is not/);
    const left = await Array.fromAsync(Deno.readDir(root));
    assert.deepEqual(left.map((e) => e.name), [], "nothing was initialised");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("crash e2e: actors panicking at random (fault injection, panic mode continue) lose nothing accepted, restarts are counted, the process stays up", async () => {
  await using sink = startSink();
  await using node = await ChaosNode.start({
    args: ["--panic-mode", "continue"],
    env: {
      MIRANDA_FAULT_INJECTION: "1",
      MIRANDA_FAULT_PANIC_RATE: "0.02",
    },
  });
  await node.createTopic("faults");
  for (const path of ["a", "b"]) {
    await node.subscribe({
      topic: "faults",
      url: `${sink.url}/hook/${path}`,
      livenessUrl: `${sink.url}/live/${path}`,
      ordered: path === "a",
      maxInFlight: path === "a" ? 1 : 8,
      timeoutMs: 2_000,
    });
  }
  const publisher = startPublisher(
    () => ({ url: node.lastUrl, bearer: node.bearer, topic: "faults" }),
    { concurrency: 8, total: 600 },
  );
  await publisher.done;
  const { accepted } = publisher.tally;
  const logs = ["/hook/a", "/hook/b"].map((p) => sink.hook(p));
  const drained = await waitFor(
    () => logs.every((log) => accepted.every((id) => log.accepted.has(id))),
    { deadlineMs: 40_000 },
  );
  const metrics = await node.metrics();
  const restarts = metricSum(metrics, "miranda_actor_restarts_total");
  const panics = metricSum(metrics, "miranda_actor_panics_total");
  const poison = metricSum(metrics, "miranda_actor_poison_messages_total");
  const escalations = metricSum(
    metrics,
    "miranda_supervisor_escalations_total",
  );
  const results = logs.map((log) => account(accepted, log.accepted));
  report(
    `panics at 2%: accepted ${accepted.length} of 600, other answers ${
      JSON.stringify(Object.fromEntries(publisher.tally.others))
    }; panics ${panics}, restarts ${restarts}, poison ${poison}, escalations ${escalations}; ` +
      results.map((r, i) =>
        `${
          i === 0 ? "ordered" : "unordered"
        }: delivered ${r.delivered}, duplicates ${r.duplicated}`
      ).join(", "),
  );
  assert.ok(node.running, "the process never exited");
  assert.ok(restarts > 0, "restarts were counted");
  assert.ok(accepted.length > 0, "publishes were accepted");
  for (const [i, result] of results.entries()) {
    assert.deepEqual(
      result.lost,
      [],
      `subscription ${i}: accepted but never delivered (drained: ${drained})`,
    );
  }
});
