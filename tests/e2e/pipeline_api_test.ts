import assert from "node:assert/strict";
import { numbered, numberOf, Subscriber } from "../delivery/harness.ts";
import {
  type Answer,
  assertProblem,
  call,
} from "../support/identity_client.ts";
import {
  createTopic,
  eventually,
  grant,
  metrics,
  metricValue,
  pipelineUser,
  publish,
  publishOk,
  rawRequest,
  scopedToken,
  startPipelineNode,
  subscribe,
} from "../support/pipeline_client.ts";

const ok = () => new Response(null, { status: 204 });

/** Asserts a problem+json answer with `status` whose `detail` matches `detail`. */
function assertDetail(
  answer: Answer,
  status: number,
  detail: RegExp,
  what: string,
): void {
  assertProblem(answer, status, what);
  assert.match(
    String(answer.body["detail"]),
    detail,
    `${what}: ${answer.text}`,
  );
}

Deno.test("pipeline e2e: idempotency keys, SSRF deny-list, bad input, deletion counts", async (t) => {
  await using node = await startPipelineNode(["--max-body-bytes", "65536"]);
  const { url, admin } = node;
  const pat = await pipelineUser(node, "pat", ["publisher", "subscriber"]);
  const sue = await pipelineUser(node, "sue", ["subscriber"]);

  await t.step(
    "the same idempotency key twice answers 200 with the first id and stores and delivers one event; another topic with the same key gets a new event",
    async () => {
      await using sink = new Subscriber(ok);
      await createTopic(node, admin, { name: "idem-a" });
      await createTopic(node, admin, { name: "idem-b" });
      await subscribe(node, admin, {
        topic: "idem-a",
        url: `${sink.url}/in`,
        livenessUrl: `${sink.url}/live`,
      });
      const key = { "idempotency-key": "order-7" };
      const first = await publish(node, admin, "idem-a", {
        body: numbered(1),
        headers: key,
      });
      assert.equal(first.status, 202, first.text);
      const id = String(first.body["id"]);
      const repeat = await publish(node, admin, "idem-a", {
        body: numbered(99),
        headers: key,
      });
      assert.equal(repeat.status, 200, repeat.text);
      assert.deepEqual(repeat.body, { id });
      assert.equal(repeat.headers.get("location"), `/api/v1/events/${id}`);

      // Two at once (the same write batch, or not): one stores, one repeats.
      const racing = await Promise.all(
        [2, 98].map((n) =>
          publish(node, admin, "idem-a", {
            body: numbered(n),
            headers: { "idempotency-key": "order-8" },
          })
        ),
      );
      assert.deepEqual(racing.map((a) => a.status).sort(), [200, 202]);
      assert.equal(racing[0]!.body["id"], racing[1]!.body["id"]);

      const other = await publish(node, admin, "idem-b", {
        body: numbered(1),
        headers: key,
      });
      assert.equal(other.status, 202, other.text);
      assert.notEqual(other.body["id"], id);

      // A last event without a key: once it arrives, everything before it has.
      await publishOk(node, admin, "idem-a", { body: numbered(3) });
      await sink.until(() => sink.deliveries.some((r) => numberOf(r) === 3));
      const numbers = sink.deliveries.map(numberOf);
      assert.equal(numbers.length, 3, `delivered ${numbers}`);
      assert.equal(numbers[0], 1);
      assert.ok([2, 98].includes(numbers[1]!), `delivered ${numbers}`);
      assert.equal(numbers[2], 3);
      const listed = await call(url, "GET", "/api/v1/topics/idem-a/events", {
        bearer: admin,
      });
      assert.equal((listed.body["items"] as unknown[]).length, 3, listed.text);
    },
  );

  await t.step(
    "SSRF: a non-admin is refused loopback, private, link-local and metadata addresses and non-http schemes (400 naming why); an admin is refused link-local and metadata but may use loopback",
    async () => {
      await using sink = new Subscriber(ok);
      await createTopic(node, admin, { name: "ssrf" });
      await grant(node, admin, "ssrf", "user:sue", ["subscribe"]);
      const attempt = (bearer: string, body: Record<string, unknown>) =>
        call(url, "POST", "/api/v1/subscriptions", {
          bearer,
          json: { topic: "ssrf", ...body },
        });
      const loopback = /loopback address; only admins or operator-allowed/;
      const metadata = /cloud metadata address; deliveries there are never/;
      const refusedForSue: [string, RegExp][] = [
        ["http://127.0.0.1:9/hook", loopback],
        ["http://localhost:9/hook", loopback],
        ["http://[::1]:9/hook", loopback],
        ["http://[::ffff:127.0.0.1]:9/hook", loopback],
        ["http://169.254.169.254/latest/meta-data/", metadata],
        ["http://10.0.0.1/", /"10\.0\.0\.1" is a private address/],
        ["http://192.168.1.10/", /private address/],
        ["http://169.254.10.10/", /link-local address; deliveries there/],
        ["ftp://example.com/hook", /Invalid field "url"/],
        ["file:///etc/passwd", /Invalid field "url"/],
      ];
      for (const [target, why] of refusedForSue) {
        assertDetail(
          await attempt(sue.bearer, { url: target }),
          400,
          why,
          target,
        );
      }
      // The liveness URL is checked too.
      assertDetail(
        await attempt(sue.bearer, {
          url: "http://93.184.215.14/hook",
          livenessUrl: "http://169.254.169.254/",
        }),
        400,
        metadata,
        "liveness URL",
      );
      // A public address is fine; changing it to a private one is refused.
      const publicSub = await subscribe(node, sue.bearer, {
        topic: "ssrf",
        url: "http://93.184.215.14/hook",
      });
      // Held to it at every connection too (a name may be rebound later),
      // and no caller sets it: it follows from who checked the URLs.
      assert.equal(publicSub.body["privateAllowed"], false);
      assertDetail(
        await call(url, "PATCH", `/api/v1/subscriptions/${publicSub.id}`, {
          bearer: sue.bearer,
          json: { privateAllowed: true },
        }),
        400,
        /privateAllowed/,
        "PATCH privateAllowed",
      );
      assertDetail(
        await call(url, "PATCH", `/api/v1/subscriptions/${publicSub.id}`, {
          bearer: sue.bearer,
          json: { url: "http://10.0.0.1/hook" },
        }),
        400,
        /private address/,
        "PATCH to a private address",
      );
      assert.equal(
        (await call(url, "DELETE", `/api/v1/subscriptions/${publicSub.id}`, {
          bearer: sue.bearer,
        })).status,
        200,
      );

      for (
        const [target, why] of [
          ["http://169.254.169.254/latest/meta-data/", metadata],
          ["http://[fd00:ec2::254]/", metadata],
          ["http://169.254.10.10/", /link-local address/],
          ["http://[fe80::1]/", /link-local address/],
          ["http://0.0.0.0:9/", /unspecified address/],
        ] as [string, RegExp][]
      ) {
        assertDetail(await attempt(admin, { url: target }), 400, why, target);
      }
      const adminSub = await subscribe(node, admin, {
        topic: "ssrf",
        url: `${sink.url}/in`,
        livenessUrl: `${sink.url}/live`,
      });
      assert.equal(adminSub.body["privateAllowed"], true);
      await publishOk(node, admin, "ssrf", { body: numbered(1) });
      await sink.until(() => sink.deliveries.length === 1);
    },
  );

  await t.step(
    "bad input answers problem+json with a useful detail: 413, 400, 404, 409",
    async () => {
      // 413: a topic's cap, the node's cap, and a topic cap above the node's.
      await createTopic(node, admin, { name: "small", maxBodyBytes: 16 });
      await createTopic(node, admin, { name: "big", maxBodyBytes: 1_000_000 });
      await publishOk(node, admin, "small", { body: "x".repeat(16) });
      assertDetail(
        await publish(node, admin, "small", { body: "x".repeat(17) }),
        413,
        /topic "small" accepts \(16 bytes\)/,
        "over the topic's maxBodyBytes",
      );
      await publishOk(node, admin, "big", { body: new Uint8Array(65_536) });
      assertDetail(
        await publish(node, admin, "big", { body: new Uint8Array(65_537) }),
        413,
        /limit of 65536 bytes/,
        "over --max-body-bytes",
      );

      // 400: topic bodies.
      const topicBodies: [unknown, RegExp][] = [
        [{ name: "Bad Name" }, /"name"/],
        [{ name: "a/b" }, /"name"/],
        [{ name: "r1", retention: "30s" }, /Retention must be from 1m/],
        [{ name: "r2", retention: "seven days" }, /"retention"/],
        [{ name: "r3", ack: "sometimes" }, /"ack"/],
        [{ name: "r4", maxBodyBytes: 0 }, /"maxBodyBytes"/],
        [{ name: "r5", colour: "blue" }, /"colour"/],
        [{}, /"name"/],
      ];
      for (const [body, why] of topicBodies) {
        assertDetail(
          await call(url, "POST", "/api/v1/topics", {
            bearer: admin,
            json: body,
          }),
          400,
          why,
          JSON.stringify(body),
        );
      }
      assertProblem(
        await call(url, "POST", "/api/v1/topics", { bearer: admin, raw: "{" }),
        400,
        "malformed JSON",
      );
      assertDetail(
        await call(url, "POST", "/api/v1/topics", {
          bearer: admin,
          json: { name: "mirrored", ack: "replicated" },
        }),
        400,
        /"replicated" needs a store with synchronous replicas .*embedded store has none/,
        "replicated ack on create",
      );
      assertDetail(
        await call(url, "PATCH", "/api/v1/topics/small", {
          bearer: admin,
          json: { ack: "replicated" },
        }),
        400,
        /synchronous replicas/,
        "replicated ack on update",
      );

      // 400: subscription bodies.
      await using sink = new Subscriber(ok);
      const subscriptionBodies: [Record<string, unknown>, RegExp][] = [
        [{ ordered: true, maxInFlight: 4 }, /maxInFlight must be 1/],
        [{ url: "not a url" }, /"url"/],
        [
          { headers: { "webhook-id": "x" } },
          /"headers\.webhook-id": This header is set by Miranda/,
        ],
        [{ headers: { "Miranda-Topic": "x" } }, /set by Miranda/],
        [{ headers: { host: "evil" } }, /set by Miranda/],
        [{ headers: { "x-ok": "a\r\nb" } }, /line breaks/],
        [{ timeoutMs: 5 }, /"timeoutMs"/],
        [{ failurePolicy: { mode: "never" } }, /"failurePolicy/],
      ];
      for (const [body, why] of subscriptionBodies) {
        assertDetail(
          await call(url, "POST", "/api/v1/subscriptions", {
            bearer: admin,
            json: { topic: "small", url: `${sink.url}/in`, ...body },
          }),
          400,
          why,
          JSON.stringify(body),
        );
      }

      // 400: "." and ".." in the path suffix, sent raw (fetch would resolve them).
      for (
        const path of [
          "/topics/small/a/../b",
          "/topics/small/../big",
          "/topics/small/a/%2e%2e/b",
          "/topics/small/./b",
        ]
      ) {
        const answer = await rawRequest(
          url,
          `POST ${path} HTTP/1.1\r\nAuthorization: Bearer ${admin}`,
          "x",
        );
        assert.equal(answer.status, 400, `${path}: ${answer.text}`);
        assert.match(
          JSON.parse(answer.text).detail,
          /may not have "\." or "\.\." segments/,
        );
      }
      assertDetail(
        await publish(node, admin, "small", { suffix: `/${"p".repeat(2049)}` }),
        400,
        /path suffix is longer than 2048/,
        "long path suffix",
      );

      // 404s.
      const nowhere = crypto.randomUUID();
      for (
        const [answer, why, what] of [
          [await publish(node, admin, "nope"), /No topic "nope"/, "publish"],
          [
            await call(url, "GET", "/api/v1/topics/nope", { bearer: admin }),
            /No topic "nope"/,
            "topic",
          ],
          [
            await call(url, "POST", "/api/v1/subscriptions", {
              bearer: admin,
              json: { topic: "nope", url: `${sink.url}/in` },
            }),
            /No topic "nope"/,
            "subscribe",
          ],
          [
            await call(url, "GET", `/api/v1/subscriptions/${nowhere}`, {
              bearer: admin,
            }),
            /No subscription/,
            "subscription",
          ],
          [
            await call(url, "DELETE", `/api/v1/subscriptions/${nowhere}`, {
              bearer: admin,
            }),
            /No subscription/,
            "subscription delete",
          ],
          [
            await call(url, "GET", `/api/v1/events/${nowhere}`, {
              bearer: admin,
            }),
            /No event/,
            "event",
          ],
          [
            await call(url, "GET", "/api/v1/events/not-an-id", {
              bearer: admin,
            }),
            /No event "not-an-id"/,
            "event with a malformed id",
          ],
        ] as [Answer, RegExp, string][]
      ) assertDetail(answer, 404, why, what);

      // 409s: a duplicate topic; a topic with subscriptions deleted by its non-admin owner.
      assertDetail(
        await call(url, "POST", "/api/v1/topics", {
          bearer: admin,
          json: { name: "small" },
        }),
        409,
        /Topic "small" already exists/,
        "duplicate topic",
      );
      await createTopic(node, pat.bearer, { name: "pats" });
      await subscribe(node, admin, {
        topic: "pats",
        url: `${sink.url}/in`,
        livenessUrl: `${sink.url}/live`,
      });
      assertDetail(
        await call(url, "DELETE", "/api/v1/topics/pats", {
          bearer: pat.bearer,
        }),
        409,
        /has 1 subscriptions; only an admin may delete it/,
        "owner deletes a subscribed topic",
      );
      assert.equal(
        (await call(url, "GET", "/api/v1/topics/pats", { bearer: pat.bearer }))
          .status,
        200,
      );
    },
  );

  await t.step(
    "deleting a subscription answers its undelivered count; an admin deleting a topic answers how many subscriptions and undelivered events went with it",
    async () => {
      await using sink = new Subscriber(ok);
      await createTopic(node, admin, { name: "doomed" });
      const make = () =>
        subscribe(node, admin, {
          topic: "doomed",
          url: `${sink.url}/in`,
          livenessUrl: `${sink.url}/live`,
        });
      const active = await make();
      const paused = [await make(), await make()];
      for (const sub of paused) {
        const answer = await call(
          url,
          "POST",
          `/api/v1/subscriptions/${sub.id}/pause`,
          { bearer: admin },
        );
        assert.equal(answer.body["paused"], "manual", answer.text);
      }
      const ids: string[] = [];
      for (let n = 1; n <= 3; n++) {
        ids.push(await publishOk(node, admin, "doomed", { body: numbered(n) }));
      }
      await sink.until(() => sink.deliveries.length === 3);
      await eventually(
        "the active subscription's deliveries are recorded",
        async () => {
          const answer = await call(
            url,
            "GET",
            `/api/v1/subscriptions/${active.id}/deliveries`,
            { bearer: admin },
          );
          return (answer.body["items"] as unknown[]).length === 3
            ? true
            : undefined;
        },
      );
      const dropped = await call(
        url,
        "DELETE",
        `/api/v1/subscriptions/${paused[0]!.id}`,
        { bearer: admin },
      );
      assert.equal(dropped.status, 200, dropped.text);
      assert.deepEqual(dropped.body, {
        deleted: paused[0]!.id,
        undelivered: 3,
      });

      const removed = await call(url, "DELETE", "/api/v1/topics/doomed", {
        bearer: admin,
      });
      assert.equal(removed.status, 200, removed.text);
      assert.deepEqual(removed.body, {
        deleted: "doomed",
        subscriptions: 2,
        undelivered: 3,
      });
      await eventually(
        "the couriers of the topic's subscriptions are stopped",
        async () => {
          const text = await metrics(node);
          return [active.id, paused[1]!.id].every((id) =>
              metricValue(text, "miranda_subscription_live", {
                subscription: id,
              }) ===
                undefined
            )
            ? true
            : undefined;
        },
      );
      for (const id of [active.id, paused[1]!.id]) {
        assertProblem(
          await call(url, "GET", `/api/v1/subscriptions/${id}`, {
            bearer: admin,
          }),
          404,
        );
      }
      assertProblem(
        await call(url, "GET", `/api/v1/events/${ids[0]}`, { bearer: admin }),
        404,
      );
      const audit = await call(
        url,
        "GET",
        "/api/v1/audit?resource=topic:doomed",
        {
          bearer: admin,
        },
      );
      const deletion = (audit.body["items"] as Record<string, unknown>[]).find(
        (a) => a["action"] === "topic.delete",
      );
      assert.deepEqual(deletion?.["detail"], {
        subscriptions: 2,
        undelivered: 3,
      });
      assert.equal(deletion?.["requestId"], removed.requestId);
    },
  );
  await t.step(
    "a deleted subscription's courier stops: later events on its topic reach the others, with no panic, and the node stays up",
    async () => {
      await using gone = new Subscriber(ok);
      await using kept = new Subscriber(ok);
      await createTopic(node, admin, { name: "after-delete" });
      const make = (sink: Subscriber) =>
        subscribe(node, admin, {
          topic: "after-delete",
          url: `${sink.url}/in`,
          livenessUrl: `${sink.url}/live`,
        });
      const doomed = await make(gone);
      await make(kept);
      await publishOk(node, admin, "after-delete", { body: numbered(1) });
      await gone.until(() => gone.deliveries.length === 1);
      assert.equal(
        (await call(url, "DELETE", `/api/v1/subscriptions/${doomed.id}`, {
          bearer: admin,
        })).status,
        200,
      );
      for (let n = 2; n <= 4; n++) {
        await publishOk(node, admin, "after-delete", { body: numbered(n) });
      }
      await kept.until(() => kept.deliveries.length === 4);
      assert.equal(gone.deliveries.length, 1);
      await eventually(
        "the deleted subscription's courier is stopped",
        async () =>
          metricValue(await metrics(node), "miranda_subscription_live", {
              subscription: doomed.id,
            }) === undefined
            ? true
            : undefined,
      );
      assert.ok(
        !(await metrics(node)).split("\n").some((line) =>
          line.startsWith("miranda_actor_panics_total{") &&
          line.includes(`courier:${doomed.id}`)
        ),
        "the deleted subscription's courier panicked",
      );
      const ready = await call(url, "GET", "/readyz");
      assert.equal(ready.status, 200, ready.text);
    },
  );
});

Deno.test("pipeline e2e: with --allowed-private-cidrs 127.0.0.0/8 a non-admin may deliver to loopback, and nothing else private", async () => {
  await using node = await startPipelineNode([
    "--allowed-private-cidrs",
    "127.0.0.0/8",
  ]);
  const { url, admin } = node;
  const sue = await pipelineUser(node, "sue", ["subscriber"]);
  await createTopic(node, admin, { name: "local" });
  await grant(node, admin, "local", "user:sue", ["subscribe"]);
  await using sink = new Subscriber(ok);
  const attempt = (target: string) =>
    call(url, "POST", "/api/v1/subscriptions", {
      bearer: sue.bearer,
      json: { topic: "local", url: target },
    });
  assertDetail(
    await attempt("http://10.0.0.1/"),
    400,
    /private address/,
    "10/8",
  );
  assertDetail(
    await attempt("http://169.254.169.254/"),
    400,
    /cloud metadata/,
    "metadata",
  );
  // ::1 is loopback but outside 127.0.0.0/8; localhost names both.
  assertDetail(await attempt("http://[::1]:9/"), 400, /loopback/, "::1");
  assertDetail(await attempt("http://localhost:9/"), 400, /"::1"/, "localhost");
  const sub = await subscribe(node, sue.bearer, {
    topic: "local",
    url: `${sink.url}/in`,
    livenessUrl: `${sink.url}/live`,
  });
  assert.equal(sub.body["owner"], "sue");
  const id = await publishOk(node, admin, "local", { body: numbered(1) });
  await sink.until(() => sink.deliveries.length === 1);
  assert.equal(sink.deliveries[0]!.headers.get("webhook-id"), id);
});

/** Who calls. */
type Caller =
  | "anon"
  | "stranger"
  | "owner"
  | "publisher"
  | "subscriber"
  | "admin"
  | "scoped";
const CALLERS: readonly Caller[] = [
  "anon",
  "stranger",
  "owner",
  "publisher",
  "subscriber",
  "admin",
  "scoped",
];

interface Row {
  method: string;
  /** A path, or one per caller (resources made per caller). */
  path: string | ((caller: Caller) => string);
  body?: (caller: Caller) => unknown;
  expect: Record<Caller, number>;
}

Deno.test("pipeline e2e: permission matrix of topic, event and subscription endpoints × (anonymous, unrelated user, owner, publish grantee, subscribe grantee, admin, owner's token lacking the scope)", async () => {
  await using node = await startPipelineNode([
    "--allowed-private-cidrs",
    "127.0.0.0/8",
  ]);
  const { url, admin } = node;
  await using sink = new Subscriber(ok);
  const pat = await pipelineUser(node, "pat", ["publisher", "subscriber"]);
  const una = await pipelineUser(node, "una", ["publisher", "subscriber"]);
  const pia = await pipelineUser(node, "pia", []);
  const sid = await pipelineUser(node, "sid", ["subscriber"]);
  const bearers: Record<Caller, string | undefined> = {
    anon: undefined,
    stranger: una.bearer,
    owner: pat.bearer,
    publisher: pia.bearer,
    subscriber: sid.bearer,
    admin,
    scoped: await scopedToken(node, pat, "topics:read"),
  };

  // The topic and subscription under test belong to pat; per-caller
  // copies for deletes, so one caller's success changes nothing for the next.
  const owned = async (name: string) => {
    await createTopic(node, pat.bearer, { name });
    await grant(node, pat.bearer, name, "user:pia", ["publish"]);
    await grant(node, pat.bearer, name, "user:sid", ["subscribe"]);
  };
  const target = {
    topic: "matrix",
    url: `${sink.url}/in`,
    livenessUrl: `${sink.url}/live`,
  };
  await owned("matrix");
  const sub = await subscribe(node, pat.bearer, target);
  const eventId = await publishOk(node, pat.bearer, "matrix", { body: "m" });
  const doomedSubs: Partial<Record<Caller, string>> = {};
  for (const caller of CALLERS) {
    await owned(`doomed-${caller}`);
    doomedSubs[caller] = (await subscribe(node, pat.bearer, target)).id;
  }

  const S = `/api/v1/subscriptions/${sub.id}`;
  const row = (
    method: string,
    path: Row["path"],
    statuses: [number, number, number, number, number, number, number],
    body?: Row["body"],
  ): Row => {
    const [anon, stranger, owner, publisher, subscriber, admin, scoped] =
      statuses;
    return {
      method,
      path,
      ...(body ? { body } : {}),
      expect: { anon, stranger, owner, publisher, subscriber, admin, scoped },
    };
  };
  const SUB_OWNER = [401, 404, 200, 404, 404, 200, 403] as const;
  const grantPath = (c: Caller) => `/api/v1/topics/matrix/grants/user:g-${c}`;
  // deno-fmt-ignore
  const MATRIX: Row[] = [
    //   method    path                                     anon strgr owner  pub   sub admin scoped
    row("POST",   "/api/v1/topics",                         [401, 201, 201, 403, 403, 201, 403], (c) => ({ name: `made-by-${c}` })),
    row("GET",    "/api/v1/topics",                         [401, 200, 200, 200, 200, 200, 200]),
    row("GET",    "/api/v1/topics/matrix",                  [401, 404, 200, 200, 200, 200, 200]),
    row("GET",    "/api/v1/topics/matrix/versions",         [401, 404, 200, 200, 200, 200, 200]),
    row("PATCH",  "/api/v1/topics/matrix",                  [401, 404, 200, 403, 403, 200, 403], () => ({ retention: "8d" })),
    row("PUT",    grantPath,                                [401, 404, 200, 403, 403, 200, 403], () => ({ rights: ["publish"] })),
    row("DELETE", grantPath,                                [401, 404, 200, 403, 403, 200, 403]),
    row("GET",    "/api/v1/topics/matrix/events",           [401, 404, 200, 404, 200, 200, 404]),
    row("POST",   "/topics/matrix/x?y=1",                   [401, 404, 202, 202, 403, 202, 403], () => ({ n: 1 })),
    row("PUT",    "/topics/matrix",                         [401, 404, 202, 202, 403, 202, 403], () => ({ n: 2 })),
    row("GET",    `/api/v1/events/${eventId}`,              [401, 404, 200, 404, 404, 200, 403]),
    row("POST",   "/api/v1/subscriptions",                  [401, 404, 201, 403, 201, 201, 403], () => target),
    row("GET",    "/api/v1/subscriptions",                  [401, 200, 200, 200, 200, 200, 200]),
    row("GET",    S,                                        [...SUB_OWNER]),
    row("GET",    `${S}/versions`,                          [...SUB_OWNER]),
    row("PATCH",  S,                                        [...SUB_OWNER], () => ({ timeoutMs: 5_000 })),
    row("POST",   `${S}/pause`,                             [...SUB_OWNER]),
    row("POST",   `${S}/resume`,                            [...SUB_OWNER]),
    row("GET",    `${S}/secret`,                            [...SUB_OWNER]),
    row("POST",   `${S}/secret/rotate`,                     [...SUB_OWNER], () => ({ graceSeconds: 0 })),
    row("GET",    `${S}/deliveries`,                        [...SUB_OWNER]),
    row("GET",    `${S}/failed`,                            [...SUB_OWNER]),
    row("POST",   `${S}/failed/replay`,                     [...SUB_OWNER]),
    row("DELETE", (c) => `/api/v1/subscriptions/${doomedSubs[c]}`, [...SUB_OWNER]),
    row("DELETE", (c) => `/api/v1/topics/doomed-${c}`,      [401, 404, 200, 403, 403, 200, 403]),
  ];

  const surprises: string[] = [];
  for (const entry of MATRIX) {
    for (const caller of CALLERS) {
      const path = typeof entry.path === "string"
        ? entry.path
        : entry.path(caller);
      const body = entry.body?.(caller);
      const bearer = bearers[caller];
      const answer = await call(url, entry.method, path, {
        ...(bearer !== undefined ? { bearer } : {}),
        ...(body !== undefined ? { json: body } : {}),
      });
      const expected = entry.expect[caller];
      if (answer.status !== expected) {
        surprises.push(
          `${entry.method} ${path} as ${caller}: ${answer.status}, expected ${expected} ${
            answer.text.slice(0, 200)
          }`,
        );
      } else if (answer.status >= 400) {
        assertProblem(answer, expected, `${entry.method} ${path} as ${caller}`);
      }
    }
  }
  assert.deepEqual(surprises, []);
});
