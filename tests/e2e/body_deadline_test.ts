/**
 * `--body-read-timeout-ms` on the real binary: a publish or a JSON API call
 * whose body stops arriving is answered 408 `request_timeout`
 * (problem+json, not the JSON reader's 400), nothing of it is stored, and
 * the share of `--max-body-bytes-in-flight` it held is given back — so a
 * slow uploader cannot keep other publishers out for longer than the
 * deadline. A client that leaves mid-body is counted as a 400, not logged as
 * a server error.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  createTopic,
  eventually,
  metrics,
  metricValue,
  publish,
  startPipelineNode,
} from "../support/pipeline_client.ts";
import {
  bodyOf,
  json,
  probeBesideStalled,
  type RawAnswer,
  stalledRequest,
} from "../support/stalled_request.ts";
import { request } from "./harness.ts";

const TIMEOUT_MS = 1_000;

function assertTimedOut(answer: RawAnswer): void {
  assert.equal(answer.status, 408, answer.text);
  assert.equal(answer.headers.get("content-type"), "application/problem+json");
  const body = JSON.parse(answer.text);
  assert.equal(body.code, "request_timeout", answer.text);
  assert.equal(body.status, 408);
}

Deno.test("body deadline e2e: a body that stops arriving is answered 408 request_timeout on a publish and on a JSON API call, nothing is stored, and its share of the body budget comes back", async () => {
  await using node = await startPipelineNode([
    "--body-read-timeout-ms",
    String(TIMEOUT_MS),
    "--max-body-bytes-in-flight",
    "100000",
  ]);
  await createTopic(node, node.admin, { name: "slow" });
  const auth = { authorization: `Bearer ${node.admin}` };

  await using stalled = await stalledRequest(node.url, {
    method: "POST",
    path: "/topics/slow",
    headers: { ...auth, ...json },
    body: new TextEncoder().encode(bodyOf(80_000)),
  });
  // While it holds 80,000 bytes a 40,000-byte publish is refused; once it
  // has been answered 408 the same publish is accepted.
  const answer = await eventually(
    "the stalled publish answered",
    () => Promise.resolve(stalled.answer() ?? undefined),
    TIMEOUT_MS + 9_000,
  );
  assertTimedOut(answer);
  const after = await publish(node, node.admin, "slow", {
    body: bodyOf(40_000),
    headers: json,
  });
  assert.equal(after.status, 202, after.text);

  await using stalledTopic = await stalledRequest(node.url, {
    method: "POST",
    path: "/api/v1/topics",
    headers: { ...auth, ...json },
    body: new TextEncoder().encode(JSON.stringify({ name: "never" })),
  });
  assertTimedOut(
    await eventually(
      "the stalled topic creation answered",
      () => Promise.resolve(stalledTopic.answer() ?? undefined),
      TIMEOUT_MS + 9_000,
    ),
  );
  const topics = await request(`${node.url}/api/v1/topics`, { headers: auth });
  assert.equal(topics.status, 200, topics.text);
  assert.doesNotMatch(topics.text, /"never"/);
  assert.match(topics.text, /"slow"/);

  // Only the publish sent whole was accepted.
  assert.equal(
    metricValue(await metrics(node), "miranda_events_accepted_total", {
      topic: "slow",
    }),
    1,
  );
});

Deno.test("body deadline e2e: a client that leaves mid-body gets its request counted as a 400, not logged as a server error", async () => {
  // With a budget of 6,000 bytes, a probe of 2,000 is refused while the
  // publish of 5,000 is being read: then the client leaves.
  await using node = await startPipelineNode([
    "--max-body-bytes-in-flight",
    "6000",
  ]);
  await createTopic(node, node.admin, { name: "left" });
  const { stalled } = await probeBesideStalled(
    () =>
      stalledRequest(node.url, {
        method: "POST",
        path: "/topics/left",
        headers: { authorization: `Bearer ${node.admin}`, ...json },
        body: new TextEncoder().encode(bodyOf(5_000)),
      }),
    () =>
      publish(node, node.admin, "left", { body: bodyOf(2_000), headers: json }),
    503,
    "the publish being read",
  );
  const route = { method: "POST", route: "/topics/:name/*" };
  await stalled[Symbol.asyncDispose]();
  const answered = await eventually(
    "the request counted",
    async () =>
      metricValue(await metrics(node), "miranda_http_requests_total", {
        ...route,
        status: "400",
      }),
  );
  assert.equal(answered, 1);
  assert.equal(
    metricValue(await metrics(node), "miranda_http_requests_total", {
      ...route,
      status: "500",
    }),
    undefined,
  );
  assert.doesNotMatch(node.server.stderr(), /unhandled error in request/);
});
