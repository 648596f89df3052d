import assert from "node:assert/strict";
import fc from "fast-check";
import { attempt } from "../../delivery/attempt.ts";
import { createDeliveryClient } from "../../delivery/client.ts";
import { deliveryHeaders } from "../../delivery/request.ts";

const OPTIONS = {
  extra: {},
  topicName: "orders",
  attempt: 2,
  timestamp: 1_700_000_000,
  signature: "v1,abc=",
};

const DROPPED = [
  "connection",
  "content-length",
  "expect",
  "host",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];
const OWN = [
  "webhook-id",
  "webhook-timestamp",
  "webhook-signature",
  "miranda-topic",
  "miranda-attempt",
];

/**
 * What a `Headers` object makes of the same inputs set one by one, skipping
 * hop-by-hop names, `expect`, control characters (undici refuses them) and
 * what `Headers` refuses, without Miranda's own headers.
 */
function throughHeaders(
  event: { headers: Record<string, string>; contentType: string | null },
  extra: Record<string, string>,
): Map<string, string> {
  const headers = new Headers();
  const put = (name: string, value: string) => {
    if (
      DROPPED.includes(name.toLowerCase()) ||
      // Bad bytes once HTTP whitespace (not all of `trim`'s, which also
      // takes \v and \f) is off both ends, as the Fetch spec normalizes.
      /[^\t\x20-\x7e\x80-\xff]/.test(
        value.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, ""),
      )
    ) return;
    try {
      headers.set(name, value);
    } catch {
      // dropped
    }
  };
  for (const [name, value] of Object.entries(event.headers)) put(name, value);
  if (event.contentType !== null) put("content-type", event.contentType);
  for (const [name, value] of Object.entries(extra)) put(name, value);
  for (const own of OWN) headers.delete(own);
  return new Map(headers);
}

Deno.test("delivery headers: Miranda's own headers win over the event's and the subscription's", () => {
  const pairs = deliveryHeaders({
    id: "evt_1",
    contentType: "application/json",
    headers: { "Webhook-Id": "forged", "x-trace": "t1" },
  }, {
    ...OPTIONS,
    extra: { "miranda-attempt": "99", "X-Trace": "sub", authorization: "k" },
  });
  assert.deepEqual(
    new Map(pairs),
    new Map([
      ["webhook-id", "evt_1"],
      ["x-trace", "sub"],
      ["content-type", "application/json"],
      ["miranda-attempt", "2"],
      ["authorization", "k"],
      ["webhook-timestamp", "1700000000"],
      ["webhook-signature", "v1,abc="],
      ["miranda-topic", "orders"],
    ]),
  );
  assert.equal(pairs.length, 8, "one pair per name");
});

Deno.test("delivery headers: hop-by-hop headers, expect, and names or values the client refuses are dropped", () => {
  const pairs = new Map(deliveryHeaders({
    id: "e",
    contentType: null,
    headers: {
      Connection: "close",
      "Transfer-Encoding": "chunked",
      host: "evil",
      "bad name": "x",
      "x-newline": "a\r\nInjected: 1",
      "x-wide": "snow☃",
      "x-padded": "  kept  ",
      "x-control": "a\x01b",
      Expect: "100-continue",
    },
  }, OPTIONS));
  for (const name of ["connection", "transfer-encoding", "host", "bad name"]) {
    assert.equal(pairs.has(name), false, name);
  }
  assert.equal(pairs.has("x-newline"), false);
  assert.equal(pairs.has("x-wide"), false);
  assert.equal(pairs.has("x-control"), false);
  assert.equal(pairs.has("expect"), false);
  assert.equal(pairs.get("x-padded"), "kept");
});

Deno.test("delivery headers: for any input, the delivery client sends them and the subscriber sees what Headers.set would keep", async () => {
  let seen = new Headers();
  await using server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (request) => {
      seen = request.headers;
      return new Response(null, { status: 204 });
    },
  );
  await using client = createDeliveryClient();
  const name = fc.oneof(
    fc.constantFrom("Content-Type", "x-a", "X-A", "Connection", "Expect"),
    fc.string({ minLength: 0, maxLength: 8 }),
  );
  const value = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.string({ maxLength: 12, unit: "binary" }),
    fc.constantFrom(
      " a ",
      "\tb\n",
      "c\0d",
      "é",
      "\u0100",
      "e\x01",
      "\v",
      "100-continue",
    ),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.dictionary(name, value, { maxKeys: 6 }),
      fc.dictionary(name, value, { maxKeys: 4 }),
      fc.option(value, { nil: null }),
      async (headers, extra, contentType) => {
        const pairs = deliveryHeaders({ id: "e", contentType, headers }, {
          ...OPTIONS,
          extra,
        });
        const result = await attempt({
          url: `http://127.0.0.1:${server.addr.port}/`,
          method: "POST",
          headers: pairs,
          body: new Uint8Array([1]),
          timeoutMs: 5_000,
          client,
          privateAllowed: true,
        });
        assert.deepEqual(result, { kind: "ok", status: 204 });
        const got = new Map(seen);
        for (const own of [...OWN, "host", "content-length", "connection"]) {
          got.delete(own);
        }
        assert.deepEqual(got, throughHeaders({ headers, contentType }, extra));
      },
    ),
    { numRuns: 400 },
  );
});
