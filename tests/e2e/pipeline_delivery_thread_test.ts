import assert from "node:assert/strict";
import { Subscriber } from "../delivery/harness.ts";
import {
  createTopic,
  publishOk,
  startPipelineNode,
  subscribe,
  verifySignatures,
} from "../support/pipeline_client.ts";

const ok = () => new Response(null, { status: 204 });

for (const thread of ["worker", "main"] as const) {
  Deno.test(`pipeline e2e: with --delivery-thread ${thread}, an unordered and an ordered subscription each get every event, signed, the ordered one in order`, async () => {
    await using node = await startPipelineNode(["--delivery-thread", thread]);
    const { admin } = node;
    await using sink = new Subscriber(ok);
    await createTopic(node, admin, { name: "threads" });
    const wide = await subscribe(node, admin, {
      topic: "threads",
      url: `${sink.url}/wide`,
      ordered: false,
      maxInFlight: 16,
    });
    const ordered = await subscribe(node, admin, {
      topic: "threads",
      url: `${sink.url}/ordered`,
      ordered: true,
    });
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      ids.push(await publishOk(node, admin, "threads", { body: `{"n":${i}}` }));
    }
    await sink.until(() => sink.deliveries.length >= 60, 15_000);
    const to = (path: string) => sink.deliveries.filter((d) => d.path === path);
    const idsOf = (path: string) =>
      to(path).map((d) => d.headers.get("webhook-id"));
    assert.deepEqual([...idsOf("/wide")].sort(), [...ids].sort());
    assert.deepEqual(idsOf("/ordered"), ids);
    for (
      const [path, secret] of [["/wide", wide.secret], [
        "/ordered",
        ordered.secret,
      ]] as const
    ) {
      for (const d of to(path)) {
        assert.deepEqual(
          verifySignatures(d.headers.get("webhook-signature") ?? "", [secret], {
            id: d.headers.get("webhook-id") ?? "",
            timestamp: d.headers.get("webhook-timestamp") ?? "",
            body: d.body,
          }),
          [true],
        );
      }
    }
  });
}
