import assert from "node:assert/strict";
import {
  freePort,
  numbered,
  numberOf,
  type Received,
  Subscriber,
} from "../delivery/harness.ts";
import { call } from "../support/identity_client.ts";
import {
  createTopic,
  eventually,
  metrics,
  metricValue,
  type PipelineNode,
  publishOk,
  startPipelineNode,
  subscribe,
  verifySignatures,
} from "../support/pipeline_client.ts";
import { START_DELAY_MS } from "../../delivery/worker_sender.ts";

const ok = () => new Response(null, { status: 204 });

/** Asserts `received` is signed for `id` by exactly the secrets marked true. */
function assertSigned(
  received: Received,
  id: string,
  secrets: Record<string, boolean>,
): void {
  const header = received.headers.get("webhook-signature") ?? "";
  const timestamp = received.headers.get("webhook-timestamp") ?? "";
  assert.match(timestamp, /^\d+$/);
  assert.ok(
    Math.abs(Number(timestamp) - Date.now() / 1000) < 60,
    `webhook-timestamp ${timestamp} is not now`,
  );
  assert.equal(received.headers.get("webhook-id"), id);
  assert.deepEqual(
    verifySignatures(header, Object.keys(secrets), {
      id,
      timestamp,
      body: received.body,
    }),
    Object.values(secrets),
    `signature header "${header}"`,
  );
  assert.equal(
    header.split(" ").length,
    Object.values(secrets).filter(Boolean).length,
  );
}

async function failedList(node: PipelineNode, subscriptionId: string) {
  const answer = await call(
    node.url,
    "GET",
    `/api/v1/subscriptions/${subscriptionId}/failed`,
    { bearer: node.admin },
  );
  assert.equal(answer.status, 200, answer.text);
  return answer.body["items"] as Record<string, unknown>[];
}

Deno.test("pipeline e2e: delivery on a real node to real loopback subscribers", async (t) => {
  await using node = await startPipelineNode();
  const { url, admin } = node;

  await t.step(
    "POST/PUT/DELETE with path suffix and query reach the subscriber exactly as sent, signed (checked by an independent HMAC), and both secrets sign during a rotation",
    async () => {
      await using sink = new Subscriber(ok);
      await createTopic(node, admin, { name: "orders" });
      const sub = await subscribe(node, admin, {
        topic: "orders",
        url: `${sink.url}/hook/base?sub=1`,
        livenessUrl: `${sink.url}/live`,
        headers: { "x-tenant": "acme" },
      });
      const json = JSON.stringify({ order: 42, note: "naïve café" });
      const binary = Uint8Array.from({ length: 256 }, (_, i) => 255 - i);
      const sent = [
        {
          method: "POST" as const,
          suffix: "/orders/42?x=1&y=two%20words",
          body: json,
          headers: {
            "content-type": "application/json; charset=utf-8",
            "x-event-type": "order.created",
            "traceparent":
              "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "idempotency-key": "order-42-created",
            "x-not-kept": "dropped",
          },
          path: "/hook/base/orders/42",
          search: "?sub=1&x=1&y=two%20words",
          bytes: new TextEncoder().encode(json),
        },
        {
          method: "PUT" as const,
          suffix: "/blobs/7",
          body: binary,
          headers: {
            "content-type": "application/octet-stream",
            "x-event-type": "blob.replaced",
          },
          path: "/hook/base/blobs/7",
          search: "?sub=1",
          bytes: binary,
        },
        {
          method: "DELETE" as const,
          suffix: "/orders/42?hard=true",
          headers: {} as Record<string, string>,
          path: "/hook/base/orders/42",
          search: "?sub=1&hard=true",
          bytes: new Uint8Array(),
        },
      ];
      const ids: string[] = [];
      for (const event of sent) {
        ids.push(await publishOk(node, admin, "orders", event));
      }
      await sink.until(() => sink.deliveries.length >= 3);
      assert.equal(sink.deliveries.length, 3);
      for (const [i, event] of sent.entries()) {
        const got = sink.deliveries[i]!;
        const what = `${event.method} ${event.suffix}`;
        assert.equal(got.method, event.method, what);
        assert.equal(got.path, event.path, what);
        assert.equal(got.search, event.search, what);
        assert.deepEqual(got.body, event.bytes, what);
        assert.equal(
          got.headers.get("content-type"),
          event.headers["content-type"] ?? null,
          what,
        );
        assert.equal(
          got.headers.get("x-event-type"),
          event.headers["x-event-type"] ?? null,
          what,
        );
        assert.equal(
          got.headers.get("traceparent"),
          event.headers["traceparent"] ?? null,
        );
        assert.equal(got.headers.get("x-tenant"), "acme", what);
        assert.equal(got.headers.get("miranda-topic"), "orders", what);
        assert.equal(got.headers.get("miranda-attempt"), "1", what);
        // Never passed on: the publisher's credentials, headers not kept.
        assert.equal(got.headers.get("authorization"), null, what);
        assert.equal(got.headers.get("x-not-kept"), null, what);
        assertSigned(got, ids[i]!, { [sub.secret]: true });
      }

      // The stored event shows the same bytes and its delivery.
      const stored = await eventually(
        "the PUT event shows delivered",
        async () => {
          const answer = await call(url, "GET", `/api/v1/events/${ids[1]}`, {
            bearer: admin,
          });
          const deliveries = answer.body["deliveries"] as { state: string }[];
          return deliveries?.[0]?.state === "delivered"
            ? answer.body
            : undefined;
        },
      );
      assert.equal(stored["method"], "PUT");
      assert.equal(stored["path"], "/blobs/7");
      assert.equal(stored["query"], "");
      assert.equal(stored["contentType"], "application/octet-stream");
      assert.deepEqual(stored["headers"], { "x-event-type": "blob.replaced" });
      assert.deepEqual(
        Uint8Array.fromBase64(String(stored["body"])),
        binary,
      );
      assert.equal(stored["sender"], "admin");
      assert.deepEqual(stored["deliveries"], [{
        subscriptionId: sub.id,
        state: "delivered",
        attempts: 1,
        at: (stored["deliveries"] as { at: string }[])[0]!.at,
      }]);

      // Rotation with a grace period: the new and the old secret both sign.
      const rotated = await call(
        url,
        "POST",
        `/api/v1/subscriptions/${sub.id}/secret/rotate`,
        { bearer: admin, json: { graceSeconds: 60 } },
      );
      assert.equal(rotated.status, 200, rotated.text);
      const secret2 = String(rotated.body["secret"]);
      assert.notEqual(secret2, sub.secret);
      assert.ok(rotated.body["previousUntil"] !== null, rotated.text);
      const shown = await call(
        url,
        "GET",
        `/api/v1/subscriptions/${sub.id}/secret`,
        { bearer: admin },
      );
      assert.equal(shown.body["secret"], secret2);
      const during = await publishOk(node, admin, "orders", { body: "r1" });
      await sink.until(() => sink.deliveries.length >= 4);
      assertSigned(sink.deliveries[3]!, during, {
        [secret2]: true,
        [sub.secret]: true,
      });

      // Without a grace period only the newest secret signs.
      const again = await call(
        url,
        "POST",
        `/api/v1/subscriptions/${sub.id}/secret/rotate`,
        { bearer: admin, json: { graceSeconds: 0 } },
      );
      assert.equal(again.status, 200, again.text);
      assert.equal(again.body["previousUntil"], null);
      const secret3 = String(again.body["secret"]);
      const after = await publishOk(node, admin, "orders", { body: "r2" });
      await sink.until(() => sink.deliveries.length >= 5);
      assertSigned(sink.deliveries[4]!, after, {
        [secret3]: true,
        [secret2]: false,
        [sub.secret]: false,
      });
    },
  );

  await t.step(
    "ordered: a subscriber that fails event 3 twice (500) still sees 1,2,3,4,5 in order, 3 repeated",
    async () => {
      let threes = 0;
      await using sink = new Subscriber((r) => {
        if (numberOf(r) === 3 && ++threes <= 2) {
          return new Response("no", { status: 500 });
        }
        return ok();
      });
      await createTopic(node, admin, { name: "ordered" });
      await subscribe(node, admin, {
        topic: "ordered",
        url: `${sink.url}/in`,
        livenessUrl: `${sink.url}/live`,
        ordered: true,
      });
      const ids: string[] = [];
      for (let n = 1; n <= 5; n++) {
        ids.push(
          await publishOk(node, admin, "ordered", { body: numbered(n) }),
        );
      }
      await sink.until(() => sink.deliveries.some((r) => numberOf(r) === 5));
      assert.deepEqual(sink.deliveries.map(numberOf), [1, 2, 3, 3, 3, 4, 5]);
      const threesSeen = sink.deliveries.filter((r) => numberOf(r) === 3);
      assert.deepEqual(
        threesSeen.map((r) => r.headers.get("miranda-attempt")),
        ["1", "2", "3"],
      );
      for (const r of threesSeen) {
        assert.equal(r.headers.get("webhook-id"), ids[2]);
      }
      assert.equal(sink.maxInFlight, 1);
    },
  );

  await t.step(
    "subscriber down (connection refused), then up on the same port: every event arrives; liveness probes come at doubling gaps up to the cap",
    async () => {
      const port = freePort();
      let up = false;
      const probes: number[] = [];
      // The liveness URL lives on its own port so its probes are seen while the subscriber is down.
      await using liveness = new Subscriber((r) => {
        probes.push(r.at);
        return new Response(null, { status: up ? 200 : 503 });
      });
      await createTopic(node, admin, { name: "flaky" });
      await subscribe(node, admin, {
        topic: "flaky",
        url: `http://127.0.0.1:${port}/in`,
        livenessUrl: `${liveness.url}/live`,
      });
      for (let n = 1; n <= 3; n++) {
        await publishOk(node, admin, "flaky", { body: numbered(n) });
      }
      await liveness.until(() => probes.length >= 3);
      // Published while the subscriber is down.
      for (let n = 4; n <= 5; n++) {
        await publishOk(node, admin, "flaky", { body: numbered(n) });
      }
      await liveness.until(() => probes.length >= 5);
      await using sink = new Subscriber(ok, port);
      up = true;
      await sink.until(() => sink.deliveries.length >= 5);
      assert.deepEqual(sink.deliveries.map(numberOf), [1, 2, 3, 4, 5]);
      const gaps = probes.slice(1, 5).map((at, i) => at - probes[i]!);
      // --probe-initial-ms 50, cap 400: waits 50, 100, 200, 400, 400.
      // Timers never fire early, so each gap is at least its wait; the
      // upper bounds leave 100+ ms for scheduling and the probe itself.
      const [g1, g2, g3, g4] = gaps as [number, number, number, number];
      const shown = `probe gaps ${gaps.map(Math.round).join(", ")} ms`;
      assert.ok(g1 >= 95 && g1 < 200, `${shown}: first wait doubled to 100`);
      assert.ok(g2 >= 195 && g2 > g1, `${shown}: doubled to 200`);
      assert.ok(g3 >= 395 && g3 > g2, `${shown}: doubled to 400`);
      assert.ok(g4 >= 395 && g4 < 800, `${shown}: capped at 400, not 800`);
    },
  );

  await t.step(
    "dead-lettering after maxAttempts: listed in …/failed; replay of one and of all after the subscriber recovers delivers them, audited",
    async () => {
      let recovered = false;
      const answered: { n: number; status: number }[] = [];
      await using sink = new Subscriber((r) => {
        const n = numberOf(r);
        const status = !recovered && [2, 3, 4].includes(n) ? 500 : 200;
        answered.push({ n, status });
        return new Response(null, { status });
      });
      const delivered = (n: number) =>
        answered.filter((a) => a.n === n && a.status === 200).length;
      await createTopic(node, admin, { name: "dlq" });
      const sub = await subscribe(node, admin, {
        topic: "dlq",
        url: `${sink.url}/in`,
        livenessUrl: `${sink.url}/live`,
        failurePolicy: { mode: "deadLetter", maxAttempts: 3 },
      });
      const ids: string[] = [];
      for (let n = 1; n <= 5; n++) {
        ids.push(await publishOk(node, admin, "dlq", { body: numbered(n) }));
      }
      await sink.until(() => delivered(5) === 1);
      assert.deepEqual(
        sink.deliveries.map(numberOf),
        [1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5],
      );
      // Each dead letter is stored before the next event is sent.
      const failed = await failedList(node, sub.id);
      assert.deepEqual(
        failed.map((
          f,
        ) => [f["eventId"], f["reason"], f["attempts"], f["lastStatus"]]),
        [
          [ids[1], "dead_letter", 3, 500],
          [ids[2], "dead_letter", 3, 500],
          [ids[3], "dead_letter", 3, 500],
        ],
      );

      recovered = true;
      const notFailed = await call(
        url,
        "POST",
        `/api/v1/subscriptions/${sub.id}/failed/${ids[0]}/replay`,
        { bearer: admin },
      );
      assert.equal(notFailed.status, 404, notFailed.text);
      assert.equal(notFailed.contentType, "application/problem+json");

      const one = await call(
        url,
        "POST",
        `/api/v1/subscriptions/${sub.id}/failed/${ids[1]}/replay`,
        { bearer: admin },
      );
      assert.equal(one.status, 200, one.text);
      assert.deepEqual(one.body, { replaying: 1 });
      await sink.until(() => delivered(2) === 1);
      await eventually("event 2 leaves the failed list", async () => {
        const items = await failedList(node, sub.id);
        return items.length === 2 ? items : undefined;
      });

      const all = await call(
        url,
        "POST",
        `/api/v1/subscriptions/${sub.id}/failed/replay`,
        { bearer: admin },
      );
      assert.equal(all.status, 200, all.text);
      assert.deepEqual(all.body, { replaying: 2 });
      await sink.until(() => delivered(3) === 1 && delivered(4) === 1);
      await eventually("the failed list empties", async () => {
        const items = await failedList(node, sub.id);
        return items.length === 0 ? items : undefined;
      });
      assert.equal(delivered(1), 1);
      assert.equal(delivered(5), 1);
      const deliveries = await call(
        url,
        "GET",
        `/api/v1/subscriptions/${sub.id}/deliveries`,
        { bearer: admin },
      );
      assert.deepEqual(
        new Set(
          (deliveries.body["items"] as { eventId: string }[]).map((d) =>
            d.eventId
          ),
        ),
        new Set(ids),
      );

      const audit = await call(
        url,
        "GET",
        `/api/v1/audit?resource=subscription:${sub.id}`,
        { bearer: admin },
      );
      assert.equal(audit.status, 200, audit.text);
      const replays = (audit.body["items"] as Record<string, unknown>[])
        .filter((a) => a["action"] === "subscription.replay");
      assert.deepEqual(
        replays.map((a) => [a["actor"], a["requestId"], a["detail"]]),
        [
          ["admin", one.requestId, { eventId: ids[1], count: 1 }],
          ["admin", all.requestId, { eventId: null, count: 2 }],
        ],
      );
    },
  );

  await t.step(
    "410 Gone pauses the subscription as gone (audited, counted), with no retry; resume delivers again",
    async () => {
      let gone = true;
      await using sink = new Subscriber(() =>
        new Response(null, { status: gone ? 410 : 200 })
      );
      await createTopic(node, admin, { name: "leaving" });
      const sub = await subscribe(node, admin, {
        topic: "leaving",
        url: `${sink.url}/in`,
        livenessUrl: `${sink.url}/live`,
      });
      const first = await publishOk(node, admin, "leaving", {
        body: numbered(1),
      });
      await sink.until(() => sink.deliveries.length >= 1);
      const paused = await eventually("GET shows paused: gone", async () => {
        const answer = await call(
          url,
          "GET",
          `/api/v1/subscriptions/${sub.id}`,
          { bearer: admin },
        );
        return answer.body["paused"] === "gone" ? answer.body : undefined;
      });
      assert.equal(paused["id"], sub.id);
      await publishOk(node, admin, "leaving", { body: numbered(2) });
      const audit = await call(
        url,
        "GET",
        `/api/v1/audit?resource=subscription:${sub.id}`,
        { bearer: admin },
      );
      const goneAudit = (audit.body["items"] as Record<string, unknown>[])
        .filter((a) => a["action"] === "subscription.gone");
      assert.equal(goneAudit.length, 1, audit.text);
      assert.equal(goneAudit[0]!["actor"], "system");
      assert.equal(
        metricValue(await metrics(node), "miranda_delivery_failures_total", {
          subscription: sub.id,
          reason: "gone",
        }),
        1,
      );
      // Not retried while gone (the retry wait is 20 ms; the checks above took longer).
      assert.equal(sink.deliveries.length, 1);

      gone = false;
      const resumed = await call(
        url,
        "POST",
        `/api/v1/subscriptions/${sub.id}/resume`,
        { bearer: admin },
      );
      assert.equal(resumed.status, 200, resumed.text);
      assert.equal(resumed.body["paused"], null);
      await sink.until(() => sink.deliveries.length >= 3);
      assert.deepEqual(sink.deliveries.map(numberOf), [1, 1, 2]);
      assert.equal(sink.deliveries[1]!.headers.get("webhook-id"), first);
      assert.equal(sink.deliveries[1]!.headers.get("miranda-attempt"), "2");
    },
  );
});

for (const thread of ["worker", "main"] as const) {
  Deno.test(`pipeline e2e: with --delivery-thread ${thread}, an unordered and an ordered subscription each get every event, signed, the ordered one in order; the worker carries only what a light load leaves`, async () => {
    await using node = await startPipelineNode(["--delivery-thread", thread]);
    const { admin } = node;
    // While held, the unordered subscription's attempts pile up past the
    // light load the node's thread sends by itself, however fast the
    // publishes go (a fixed delay let a slow machine keep up with them).
    let holding = false;
    let arrived = 0;
    const held: (() => void)[] = [];
    const releaseAll = () => {
      holding = false;
      for (const answer of held.splice(0)) answer();
    };
    await using sink = new Subscriber(async (received) => {
      if (holding && received.path === "/wide") {
        arrived++;
        await new Promise<void>((resolve) => held.push(resolve));
      }
      return ok();
    });
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
    const workerMetrics = async () => {
      const text = await metrics(node);
      return {
        running: metricValue(text, "miranda_delivery_worker_running"),
        carried: metricValue(text, "miranda_delivery_worker_attempts_total"),
      };
    };
    // A light load: one event at a time, each delivered before the next.
    for (let i = 0; i < 3; i++) {
      ids.push(await publishOk(node, admin, "threads", { body: `{"n":${i}}` }));
      await sink.until(() => sink.deliveries.length >= 2 * ids.length);
    }
    await new Promise((resolve) => setTimeout(resolve, START_DELAY_MS + 250));
    const light = await workerMetrics();
    holding = true;
    try {
      for (let i = 3; i < 43; i++) {
        ids.push(
          await publishOk(node, admin, "threads", { body: `{"n":${i}}` }),
        );
      }
      if (thread === "worker") {
        // The worker starts once the held attempts pass what the node's
        // thread sends by itself; until it has loaded they still go from
        // the thread. Answering them one at a time makes room for the next
        // attempt each time, which the worker carries once it is ready.
        await eventually(
          "the delivery worker started",
          async () => (await workerMetrics()).running === 1 ? true : undefined,
          10_000,
        );
        while (
          Number((await workerMetrics()).carried) === 0 && held.length > 0
        ) {
          const before = arrived;
          held.shift()!();
          await eventually(
            "the next attempt sent",
            () => Promise.resolve(arrived > before ? true : undefined),
            10_000,
          );
        }
      }
    } finally {
      releaseAll();
    }
    await sink.until(() => sink.deliveries.length >= 2 * ids.length, 15_000);
    const heavy = await workerMetrics();
    if (thread === "worker") {
      assert.deepEqual(light, { running: 0, carried: 0 });
      assert.equal(heavy.running, 1);
      assert.ok(Number(heavy.carried) > 0, `worker carried ${heavy.carried}`);
    } else {
      const none = { running: undefined, carried: undefined };
      assert.deepEqual(light, none, "a delivery worker in main mode");
      assert.deepEqual(heavy, none, "a delivery worker in main mode");
    }
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
