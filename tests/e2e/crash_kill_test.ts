import assert from "node:assert/strict";
import { ChaosNode } from "../../chaos/lib/miranda.ts";
import { account, startPublisher, waitFor } from "../../chaos/lib/publisher.ts";
import { report } from "../../chaos/lib/report.ts";
import { startSink } from "../../chaos/lib/sink.ts";
import { call } from "../support/identity_client.ts";

Deno.test("crash e2e: kill -9 a third into a load of 3,000 persisted events, restart on the same data, keep publishing: every 202 is delivered at least once", async () => {
  await using sink = startSink();
  await using node = await ChaosNode.start();
  await node.createTopic("orders");
  await node.subscribe({
    topic: "orders",
    url: `${sink.url}/hook/orders`,
    livenessUrl: `${sink.url}/live/orders`,
    ordered: false,
    maxInFlight: 16,
    timeoutMs: 2_000,
  });
  const total = 3_000;
  const publisher = startPublisher(
    () => ({ url: node.lastUrl, bearer: node.bearer, topic: "orders" }),
    { concurrency: 8, total },
  );
  await publisher.acceptedAtLeast(total / 3);
  const killedAfter = publisher.tally.accepted.length;
  await node.kill();
  const deliveredAtKill = sink.hook("/hook/orders").accepted.size;
  await node.launch();
  await publisher.done;

  const log = sink.hook("/hook/orders");
  const { accepted } = publisher.tally;
  const drained = await waitFor(
    () => accepted.every((id) => log.accepted.has(id)),
    { deadlineMs: 30_000 },
  );
  const result = account(accepted, log.accepted);
  report(
    `kill -9 after ${killedAfter} accepted (${deliveredAtKill} delivered then): ` +
      `accepted ${result.accepted}, delivered ${result.delivered}, ` +
      `duplicates ${result.duplicated}, delivered without a 202 ${result.unacknowledged}, ` +
      `other answers ${
        JSON.stringify(Object.fromEntries(publisher.tally.others))
      }`,
  );
  assert.ok(killedAfter < total, "the kill came before the run ended");
  assert.ok(
    accepted.length > killedAfter,
    "publishes were accepted after the restart",
  );
  assert.deepEqual(
    result.lost,
    [],
    `accepted but never delivered (drained: ${drained})`,
  );
});

Deno.test("crash e2e: kill -9 right after a burst of 202s: every one of them is stored after the restart", async () => {
  await using node = await ChaosNode.start();
  await node.createTopic("burst");
  const publisher = startPublisher(
    () => ({ url: node.lastUrl, bearer: node.bearer, topic: "burst" }),
    { concurrency: 16, total: 400 },
  );
  await publisher.done;
  await node.kill();
  await node.launch();
  const { accepted } = publisher.tally;
  assert.equal(
    accepted.length,
    400,
    `every publish was accepted before the kill: ${
      JSON.stringify(Object.fromEntries(publisher.tally.others))
    }`,
  );
  const missing: string[] = [];
  for (const id of accepted) {
    const answer = await call(node.url, "GET", `/api/v1/events/${id}`, {
      bearer: node.bearer,
    });
    if (answer.status !== 200) missing.push(`${id}: ${answer.status}`);
  }
  assert.deepEqual(missing, [], "a 202'd event is missing after kill -9");
});
