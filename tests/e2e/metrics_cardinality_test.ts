/**
 * `/metrics` stays bounded whatever clients send: a label value never comes
 * straight from a request, so a client cycling through made-up HTTP methods
 * or names of topics that do not exist adds no series (each series is kept
 * in memory for the life of the process and printed on every scrape); and a
 * deleted topic or subscription takes its series with it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { request } from "./harness.ts";
import { Subscriber } from "../delivery/harness.ts";
import { call } from "../support/identity_client.ts";
import {
  createTopic,
  eventually,
  metrics,
  publish,
  publishOk,
  startPipelineNode,
  subscribe,
} from "../support/pipeline_client.ts";

const COUNT = 40;

/** The number of series (sample lines) of `name` in a `/metrics` text. */
function seriesOf(text: string, name: string): number {
  return text.split("\n").filter((line) => line.startsWith(`${name}{`))
    .length;
}

Deno.test("metrics: requests with made-up HTTP methods are answered with a problem and counted under one method label, not one series each", async () => {
  await using node = await startPipelineNode();
  const before = await metrics(node);
  for (let i = 0; i < COUNT; i++) {
    const answer = await request(`${node.url}/healthz`, {
      method: `XMETHOD${i}`,
    });
    assert.ok(
      answer.status >= 400 && answer.status < 500,
      `XMETHOD${i}: ${answer.status}`,
    );
    assert.match(
      answer.headers.get("content-type") ?? "",
      /application\/problem\+json/,
    );
  }
  const after = await metrics(node);
  assert.doesNotMatch(after, /XMETHOD/);
  assert.match(after, /miranda_http_requests_total\{method="other"/);
  for (
    const name of [
      "miranda_http_requests_total",
      "miranda_http_request_seconds_count",
    ]
  ) {
    const added = seriesOf(after, name) - seriesOf(before, name);
    assert.ok(added < 5, `${name}: ${added} series added by ${COUNT} methods`);
  }
});

Deno.test("metrics: publishes to topics that do not exist are counted under one topic label, not one series per name", async () => {
  await using node = await startPipelineNode();
  await createTopic(node, node.admin, { name: "real" });
  for (let i = 0; i < COUNT; i++) {
    const answer = await publish(node, node.admin, `ghost-${i}`, {
      body: "{}",
      headers: { "content-type": "application/json" },
    });
    assert.equal(answer.status, 404, answer.text);
  }
  const text = await metrics(node);
  assert.doesNotMatch(text, /ghost-/);
  const notFound = text.split("\n").filter((line) =>
    line.startsWith("miranda_events_rejected_total{") &&
    line.includes('reason="not_found"')
  );
  assert.equal(notFound.length, 1, notFound.join("\n"));
  assert.match(notFound[0]!, /topic=""/);
  assert.match(notFound[0]!, / 40$/);
});

/** The `/metrics` lines of series labelled `label="value"`. */
function labelled(text: string, label: string, value: string): string[] {
  return text.split("\n").filter((line) =>
    line.startsWith("miranda_") && line.includes(`${label}="${value}"`)
  );
}

Deno.test("metrics: a deleted subscription's and a deleted topic's series leave /metrics, while a kept topic's stay", async () => {
  await using node = await startPipelineNode();
  await using good = new Subscriber(() => new Response(null, { status: 204 }));
  await using bad = new Subscriber(() => new Response(null, { status: 500 }));
  const json = { "content-type": "application/json" };
  for (const name of ["doomed", "kept"]) {
    await createTopic(node, node.admin, { name, maxBodyBytes: 64 });
  }
  const taker = await subscribe(node, node.admin, {
    topic: "doomed",
    url: `${good.url}/hook`,
  });
  const refuser = await subscribe(node, node.admin, {
    topic: "doomed",
    url: `${bad.url}/hook`,
  });
  for (const name of ["doomed", "kept"]) {
    await publishOk(node, node.admin, name, { body: "{}", headers: json });
    const tooLarge = await publish(node, node.admin, name, {
      body: JSON.stringify({ pad: "x".repeat(100) }),
      headers: json,
    });
    assert.equal(tooLarge.status, 413, tooLarge.text);
  }
  const before = await eventually(
    "a delivery and a failure counted",
    async () => {
      const text = await metrics(node);
      const ok = labelled(text, "subscription", taker.id).some((line) =>
        line.startsWith("miranda_deliveries_total{")
      );
      const failed = labelled(text, "subscription", refuser.id).some((line) =>
        line.startsWith("miranda_delivery_failures_total{")
      );
      return ok && failed ? text : undefined;
    },
  );
  for (const name of ["doomed", "kept"]) {
    const series = labelled(before, "topic", name).map((line) =>
      line.slice(0, line.indexOf("{"))
    );
    assert.deepEqual(
      [...new Set(series)].sort(),
      ["miranda_events_accepted_total", "miranda_events_rejected_total"],
      `${name}: ${series}`,
    );
  }

  const unsubscribed = await call(
    node.url,
    "DELETE",
    `/api/v1/subscriptions/${refuser.id}`,
    { bearer: node.admin },
  );
  assert.equal(unsubscribed.status, 200, unsubscribed.text);
  await eventually(
    "the deleted subscription's series gone",
    async () =>
      labelled(await metrics(node), "subscription", refuser.id).length === 0
        ? true
        : undefined,
  );

  const deleted = await call(node.url, "DELETE", "/api/v1/topics/doomed", {
    bearer: node.admin,
  });
  assert.equal(deleted.status, 200, deleted.text);
  const after = await eventually(
    "the deleted topic's series gone",
    async () => {
      const text = await metrics(node);
      return labelled(text, "topic", "doomed").length === 0 &&
          labelled(text, "subscription", taker.id).length === 0
        ? text
        : undefined;
    },
  );
  assert.deepEqual(
    labelled(after, "topic", "kept"),
    labelled(before, "topic", "kept"),
  );
});
