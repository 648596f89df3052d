/**
 * `--publish-rate-per-second` and `--publish-burst` on the real binary: a
 * user's publishes past the burst are answered 429 `rate_limited`
 * (problem+json with `Retry-After`) and nothing of them is stored, another
 * user is not held back by it, and the first user may publish again once a
 * token has come back.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  createTopic,
  eventually,
  grant,
  metrics,
  metricValue,
  pipelineUser,
  publish,
  startPipelineNode,
} from "../support/pipeline_client.ts";

Deno.test("publish rate e2e: past the burst a user's publishes get 429 rate_limited with Retry-After, other users still publish, and the user publishes again after a token comes back", async () => {
  await using node = await startPipelineNode([
    "--publish-rate-per-second",
    "1",
    "--publish-burst",
    "3",
  ]);
  await createTopic(node, node.admin, { name: "rated" });
  const pat = await pipelineUser(node, "pat", ["publisher"]);
  await grant(node, node.admin, "rated", "user:pat", ["publish"]);

  // One token a second comes back, so a few more than the burst may pass
  // on a slow machine; a refusal must come within a handful.
  const started = performance.now();
  let accepted = 0;
  let refused;
  for (let i = 0; i < 10 && refused === undefined; i++) {
    const answer = await publish(node, pat.bearer, "rated", { body: "{}" });
    if (answer.status === 202) accepted++;
    else refused = answer;
  }
  const seconds = (performance.now() - started) / 1000;
  assert.ok(refused, "no publish was refused");
  assert.ok(
    accepted >= 3 && accepted <= 3 + Math.ceil(seconds),
    `${accepted} accepted in ${seconds} s`,
  );
  assert.equal(refused.status, 429, refused.text);
  assert.equal(refused.contentType, "application/problem+json");
  assert.equal(refused.body["code"], "rate_limited");
  assert.equal(refused.headers.get("retry-after"), "1");
  assert.match(String(refused.body["detail"]), /1 events\/s per user/);

  // Another user has a bucket of its own.
  const admin = await publish(node, node.admin, "rated", { body: "{}" });
  assert.equal(admin.status, 202, admin.text);

  // A token comes back within a second.
  await eventually("pat publishes again", async () => {
    const again = await publish(node, pat.bearer, "rated", { body: "{}" });
    return again.status === 202 ? again : undefined;
  }, 5_000);

  // Only what was answered 202 was stored.
  assert.equal(
    metricValue(await metrics(node), "miranda_events_accepted_total", {
      topic: "rated",
    }),
    accepted + 2,
  );
});
