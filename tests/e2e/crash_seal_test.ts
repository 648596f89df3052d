import assert from "node:assert/strict";
import { ChaosNode, metricSum } from "../../chaos/lib/miranda.ts";
import { account, startPublisher, waitFor } from "../../chaos/lib/publisher.ts";
import { report } from "../../chaos/lib/report.ts";
import { startSink } from "../../chaos/lib/sink.ts";
import { TEST_PASSPHRASE } from "./harness.ts";
import { call } from "../support/identity_client.ts";

Deno.test("crash e2e: sealing under load answers publishes 503 sealed, stops deliveries without a courier crash loop; unsealing resumes and every 202 arrives", async () => {
  await using sink = startSink();
  await using node = await ChaosNode.start();
  await node.createTopic("ledger");
  // Two couriers: one with a window of sends in flight, one ordered.
  for (const [path, ordered] of [["wide", false], ["ordered", true]] as const) {
    sink.behave(`/hook/${path}`, { kind: "slow", ms: 5 });
    await node.subscribe({
      topic: "ledger",
      url: `${sink.url}/hook/${path}`,
      livenessUrl: `${sink.url}/live/${path}`,
      ordered,
      maxInFlight: ordered ? 1 : 8,
      timeoutMs: 2_000,
    });
  }
  const publisher = startPublisher(
    () => ({ url: node.lastUrl, bearer: node.bearer, topic: "ledger" }),
    { concurrency: 8, total: 1_000_000 },
  );
  await publisher.acceptedAtLeast(600);
  const before = await node.metrics();

  const sealed = await call(node.url, "POST", "/api/v1/seal", {
    bearer: node.bearer,
  });
  assert.equal(sealed.status, 200, sealed.text);
  const acceptedAtSeal = publisher.tally.accepted.length;
  const wideLog = sink.hook("/hook/wide");
  const deliveredAtSeal = wideLog.accepted.size;
  const others = () =>
    [...publisher.tally.others.values()].reduce((a, b) => a + b, 0);
  // Let the publishers meet the sealed node for a while.
  const refusedBefore = others();
  await waitFor(() => others() - refusedBefore >= 400, { deadlineMs: 15_000 });
  const acceptedWhileSealed = publisher.tally.accepted.length - acceptedAtSeal;
  const whileSealed = await node.metrics();
  const deliveredSealed = wideLog.accepted.size - deliveredAtSeal;

  const unsealed = await call(node.url, "POST", "/api/v1/unseal", {
    json: { passphrase: TEST_PASSPHRASE },
  });
  assert.equal(unsealed.status, 200, unsealed.text);
  assert.equal(unsealed.body["sealed"], false, unsealed.text);
  // Sealing dropped the token keys: log in again, as a client would.
  await node.relogin();
  const acceptedAtUnseal = publisher.tally.accepted.length;
  await publisher.acceptedAtLeast(acceptedAtUnseal + 300);
  await publisher.stop();

  const { accepted } = publisher.tally;
  const logs = ["/hook/wide", "/hook/ordered"].map((p) => sink.hook(p));
  const drained = await waitFor(
    () => logs.every((log) => accepted.every((id) => log.accepted.has(id))),
    { deadlineMs: 40_000 },
  );
  const after = await node.metrics();
  const restarts = (text: string) =>
    metricSum(text, "miranda_actor_restarts_total");
  const escalations = metricSum(after, "miranda_supervisor_escalations_total");
  const results = logs.map((log) => account(accepted, log.accepted));
  report(
    `seal under load: accepted ${accepted.length} (${acceptedAtSeal} before the seal, ` +
      `${acceptedWhileSealed} while the seal call was under way); refused ${
        JSON.stringify(Object.fromEntries(publisher.tally.others))
      }; ` +
      `restarts ${restarts(before)} → ${restarts(whileSealed)} (sealed) → ${
        restarts(after)
      }; ` +
      `escalations ${escalations}; delivered while sealed (in flight at the seal) ${deliveredSealed}; ` +
      results.map((r, i) =>
        `${
          i === 0 ? "wide" : "ordered"
        }: delivered ${r.delivered}, duplicates ${r.duplicated}`
      ).join(", "),
  );

  assert.ok(node.running, "the process stayed up");
  // While sealed, refusals are 503 sealed problems, nothing else.
  const refusals = [...publisher.tally.others.keys()];
  assert.deepEqual(
    refusals.filter((key) => key !== "503 sealed"),
    [],
    "every refused publish was a 503 sealed problem",
  );
  assert.ok(
    (publisher.tally.others.get("503 sealed") ?? 0) >= 400,
    "publishes met the sealed node",
  );
  assert.equal(publisher.tally.nonProblem, 0);
  assert.equal(escalations, 0, "no supervisor escalated");
  assert.ok(
    restarts(after) - restarts(before) <= 10,
    `restarts stayed bounded: ${restarts(before)} → ${restarts(after)}`,
  );
  assert.ok(
    accepted.length > acceptedAtUnseal,
    "publishes were accepted after unsealing",
  );
  for (const [i, result] of results.entries()) {
    assert.deepEqual(
      result.lost,
      [],
      `subscription ${i}: accepted but never delivered (drained: ${drained})`,
    );
  }
});
