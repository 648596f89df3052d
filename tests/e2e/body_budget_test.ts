/**
 * `--max-body-bytes-in-flight` on the real binary: a publish whose body is
 * still arriving holds its declared size, a request that would take the
 * total past the limit is answered 503 `overloaded` (problem+json,
 * `Retry-After`) before its body is read, smaller ones and requests without
 * a body pass, and the budget is given back once the first is answered.
 * `--max-body-bytes-in-flight-per-caller` bounds one user's share of it
 * (429 `rate_limited`), whatever other users hold.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  createTopic,
  grant,
  metrics,
  metricValue,
  pipelineUser,
  publish,
  startPipelineNode,
} from "../support/pipeline_client.ts";
import {
  bodyOf,
  json,
  probeBesideStalled,
  type StalledRequest,
  stalledRequest,
} from "../support/stalled_request.ts";
import { request } from "./harness.ts";

const LIMIT = 100_000;

/** A publish of `bytes` to `topic` whose last byte is held back. */
function stalledPublish(
  url: string,
  bearer: string,
  topic: string,
  bytes: number,
): Promise<StalledRequest> {
  return stalledRequest(url, {
    method: "POST",
    path: `/topics/${topic}`,
    headers: { authorization: `Bearer ${bearer}`, ...json },
    body: new TextEncoder().encode(bodyOf(bytes)),
  });
}

Deno.test("body budget e2e: a body still arriving holds its declared size; a publish past --max-body-bytes-in-flight gets 503 overloaded with Retry-After, smaller ones and bodiless requests pass, and the budget comes back once it is answered", async () => {
  await using node = await startPipelineNode([
    "--max-body-bytes-in-flight",
    String(LIMIT),
  ]);
  await createTopic(node, node.admin, { name: "big" });
  // The stalled publish holds 80,000 bytes once the node has its headers.
  const { refused, stalled } = await probeBesideStalled(
    () => stalledPublish(node.url, node.admin, "big", 80_000),
    () =>
      publish(node, node.admin, "big", { body: bodyOf(40_000), headers: json }),
    503,
    "a publish refused as overloaded",
  );
  try {
    assert.equal(refused.contentType, "application/problem+json");
    assert.equal(refused.body["code"], "overloaded", refused.text);
    assert.equal(refused.headers.get("retry-after"), "1");
    assert.match(String(refused.body["detail"]), /80000 bytes/);

    // What is held shows in /metrics (a scrape has no body).
    assert.equal(
      metricValue(await metrics(node), "miranda_http_body_bytes_in_flight"),
      80_000,
    );

    // 80,000 + 10,000 fit; a request without a body holds nothing.
    const small = await publish(node, node.admin, "big", {
      body: bodyOf(10_000),
      headers: json,
    });
    assert.equal(small.status, 202, small.text);
    const listed = await request(`${node.url}/api/v1/topics`, {
      headers: { authorization: `Bearer ${node.admin}` },
    });
    assert.equal(listed.status, 200, listed.text);

    assert.equal(await stalled.finish(), 202);
    assert.equal(
      metricValue(await metrics(node), "miranda_http_body_bytes_in_flight"),
      0,
    );
    const again = await publish(node, node.admin, "big", {
      body: bodyOf(40_000),
      headers: json,
    });
    assert.equal(again.status, 202, again.text);
  } finally {
    await stalled[Symbol.asyncDispose]();
  }
});

Deno.test("body budget e2e: one caller's bodies hold at most --max-body-bytes-in-flight-per-caller; past it that caller gets 429 rate_limited while another user's publish passes, and the node-wide bound still answers 503", async () => {
  await using node = await startPipelineNode([
    "--max-body-bytes-in-flight",
    String(LIMIT),
    "--max-body-bytes-in-flight-per-caller",
    "60000",
  ]);
  await createTopic(node, node.admin, { name: "shared" });
  const pat = await pipelineUser(node, "pat", ["publisher"]);
  await grant(node, node.admin, "shared", "user:pat", ["publish"]);
  // The admin holds 50,000: 20,000 more of the admin's would pass the
  // node's 100,000 but not the admin's 60,000.
  const { refused, stalled } = await probeBesideStalled(
    () => stalledPublish(node.url, node.admin, "shared", 50_000),
    () =>
      publish(node, node.admin, "shared", {
        body: bodyOf(20_000),
        headers: json,
      }),
    429,
    "the admin's second publish refused past its share",
  );
  try {
    assert.equal(refused.contentType, "application/problem+json");
    assert.equal(refused.body["code"], "rate_limited", refused.text);
    assert.equal(refused.headers.get("retry-after"), "1");
    assert.match(String(refused.body["detail"]), /50000 bytes/);

    // Another user's 20,000 fit in the node's bound; its 60,000 do not.
    const other = await publish(node, pat.bearer, "shared", {
      body: bodyOf(20_000),
      headers: json,
    });
    assert.equal(other.status, 202, other.text);
    const tooMuch = await publish(node, pat.bearer, "shared", {
      body: bodyOf(60_000),
      headers: json,
    });
    assert.equal(tooMuch.status, 503, tooMuch.text);
    assert.equal(tooMuch.body["code"], "overloaded");

    assert.equal(await stalled.finish(), 202);
    const again = await publish(node, node.admin, "shared", {
      body: bodyOf(20_000),
      headers: json,
    });
    assert.equal(again.status, 202, again.text);
  } finally {
    await stalled[Symbol.asyncDispose]();
  }
});
