/**
 * Retention expiry on a real node. The API's shortest retention is one
 * minute, too long to wait for in a test, and the node runs on the real
 * clock. So the events are made old instead: with the node stopped
 * (SIGTERM), the test moves the plaintext `received_at` column of the
 * stored events two minutes into the past, then starts the node again on
 * the same data directory. Nothing is added to the product; the real
 * retention sweeper (every 200 ms here) does the rest, and everything is
 * checked through the HTTP API and `/metrics`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { numbered, Subscriber } from "../delivery/harness.ts";
import { assertProblem, call } from "../support/identity_client.ts";
import {
  createTopic,
  eventually,
  metrics,
  metricValue,
  type PipelineNode,
  publish,
  publishOk,
  startPipelineNode,
  subscribe,
} from "../support/pipeline_client.ts";
import { SQLITE_FILE } from "../../store/sqlite/open.ts";

/** Moves every stored event `ms` into the past (node stopped). */
function backdateEvents(dataDir: string, ms: number): number {
  const db = new DatabaseSync(`${dataDir}/${SQLITE_FILE}`);
  try {
    return Number(
      db.prepare("UPDATE events SET received_at = received_at - ?").run(ms)
        .changes,
    );
  } finally {
    db.close();
  }
}

async function listOf(node: PipelineNode, path: string) {
  const answer = await call(node.url, "GET", path, { bearer: node.admin });
  assert.equal(answer.status, 200, answer.text);
  return answer.body["items"] as Record<string, unknown>[];
}

Deno.test("pipeline e2e: events past their topic's retention are removed; each subscription that had not delivered one gets it in its failed list as expired, counted in miranda_events_expired_total until the topic is deleted", async () => {
  await using node = await startPipelineNode();
  await using sink = new Subscriber(() => new Response(null, { status: 204 }));
  const { admin } = node;
  await createTopic(node, admin, { name: "short", retention: "1m" });
  await createTopic(node, admin, { name: "long", retention: "7d" });
  const settings = { url: `${sink.url}/in`, livenessUrl: `${sink.url}/live` };
  const delivering = await subscribe(node, admin, {
    topic: "short",
    ...settings,
  });
  const idle = await subscribe(node, admin, { topic: "short", ...settings });
  const idleLong = await subscribe(node, admin, { topic: "long", ...settings });
  for (const sub of [idle, idleLong]) {
    const paused = await call(
      node.url,
      "POST",
      `/api/v1/subscriptions/${sub.id}/pause`,
      { bearer: admin },
    );
    assert.equal(paused.status, 200, paused.text);
  }
  const key = { "idempotency-key": "once" };
  const old = [
    await publishOk(node, admin, "short", { body: numbered(1), headers: key }),
    await publishOk(node, admin, "short", { body: numbered(2) }),
  ];
  const kept = await publishOk(node, admin, "long", { body: numbered(3) });
  await sink.until(() => sink.deliveries.length === 2);
  await eventually(
    "the delivering subscription recorded both",
    async () =>
      (await listOf(
          node,
          `/api/v1/subscriptions/${delivering.id}/deliveries`,
        )).length === 2
        ? true
        : undefined,
  );
  // Within retention the key still names the first event.
  const repeat = await publish(node, admin, "short", { headers: key });
  assert.equal(repeat.status, 200, repeat.text);
  assert.equal(repeat.body["id"], old[0]);

  await node.restart(() => {
    assert.equal(backdateEvents(node.dataDir, 2 * 60_000), 3);
  });

  // The sweeper runs every 200 ms: the two old "short" events expire; the
  // subscription that had delivered them loses nothing, the paused one gets
  // both as expired; "long" keeps its (equally old) event.
  const expired = await eventually(
    "the paused subscription lists both events as expired",
    async () => {
      const items = await listOf(
        node,
        `/api/v1/subscriptions/${idle.id}/failed`,
      );
      return items.length === 2 ? items : undefined;
    },
  );
  assert.deepEqual(
    expired.map((f) => [f["eventId"], f["reason"], f["attempts"]]),
    [[old[0], "expired", 0], [old[1], "expired", 0]],
  );
  assert.equal(
    metricValue(await metrics(node), "miranda_events_expired_total", {
      topic: "short",
    }),
    2,
  );
  assert.equal(
    metricValue(await metrics(node), "miranda_events_expired_total", {
      topic: "long",
    }),
    undefined,
  );
  assert.deepEqual(
    await listOf(node, `/api/v1/subscriptions/${delivering.id}/failed`),
    [],
  );
  assert.deepEqual(
    await listOf(node, `/api/v1/subscriptions/${idleLong.id}/failed`),
    [],
  );
  assert.deepEqual(await listOf(node, "/api/v1/topics/short/events"), []);
  assert.deepEqual(
    (await listOf(node, "/api/v1/topics/long/events")).map((e) => e["id"]),
    [kept],
  );
  for (const id of old) {
    assertProblem(
      await call(node.url, "GET", `/api/v1/events/${id}`, {
        bearer: node.admin,
      }),
      404,
    );
  }
  const stored = await call(node.url, "GET", `/api/v1/events/${kept}`, {
    bearer: node.admin,
  });
  assert.equal(stored.status, 200, stored.text);

  // An expired event cannot be replayed; "replay all" finds nothing to replay.
  const one = await call(
    node.url,
    "POST",
    `/api/v1/subscriptions/${idle.id}/failed/${old[0]}/replay`,
    { bearer: node.admin },
  );
  assertProblem(one, 404);
  assert.match(String(one.body["detail"]), /expired and cannot be replayed/);
  const all = await call(
    node.url,
    "POST",
    `/api/v1/subscriptions/${idle.id}/failed/replay`,
    { bearer: node.admin },
  );
  assert.deepEqual(all.body, { replaying: 0 });

  // The idempotency key left retention with its event: it makes a new one.
  const again = await publish(node, node.admin, "short", { headers: key });
  assert.equal(again.status, 202, again.text);
  assert.notEqual(again.body["id"], old[0]);

  // Deleting the topic takes its expired count out of /metrics.
  const deleted = await call(node.url, "DELETE", "/api/v1/topics/short", {
    bearer: node.admin,
  });
  assert.equal(deleted.status, 200, deleted.text);
  await eventually(
    "the deleted topic's expired count gone",
    async () =>
      metricValue(await metrics(node), "miranda_events_expired_total", {
          topic: "short",
        }) === undefined
        ? true
        : undefined,
  );
});
