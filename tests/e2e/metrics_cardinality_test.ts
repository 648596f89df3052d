/**
 * `/metrics` stays bounded whatever clients send: a label value never comes
 * straight from a request, so a client cycling through made-up HTTP methods
 * or names of topics that do not exist adds no series (each series is kept
 * in memory for the life of the process and printed on every scrape).
 *
 * @module
 */

import assert from "node:assert/strict";
import { request } from "./harness.ts";
import {
  createTopic,
  metrics,
  publish,
  startPipelineNode,
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
