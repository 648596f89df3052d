import assert from "node:assert/strict";
import fc from "fast-check";
import { deliveryHeaders } from "../../delivery/request.ts";

const OPTIONS = {
  extra: {},
  topicName: "orders",
  attempt: 2,
  timestamp: 1_700_000_000,
  signature: "v1,abc=",
};

const HOP_BY_HOP = [
  "connection",
  "content-length",
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
 * hop-by-hop names and what it refuses, without Miranda's own headers.
 */
function throughHeaders(
  event: { headers: Record<string, string>; contentType: string | null },
  extra: Record<string, string>,
): Map<string, string> {
  const headers = new Headers();
  const put = (name: string, value: string) => {
    if (HOP_BY_HOP.includes(name.toLowerCase())) return;
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

Deno.test("delivery headers: hop-by-hop headers and names or values fetch refuses are dropped", () => {
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
    },
  }, OPTIONS));
  for (const name of ["connection", "transfer-encoding", "host", "bad name"]) {
    assert.equal(pairs.has(name), false, name);
  }
  assert.equal(pairs.has("x-newline"), false);
  assert.equal(pairs.has("x-wide"), false);
  assert.equal(pairs.get("x-padded"), "kept");
});

Deno.test("delivery headers: for any input, fetch accepts them and they equal what Headers.set keeps", () => {
  const name = fc.oneof(
    fc.constantFrom("Content-Type", "x-a", "X-A", "Connection", "webhook-id"),
    fc.string({ minLength: 0, maxLength: 8 }),
  );
  const value = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.string({ maxLength: 12, unit: "binary" }),
    fc.constantFrom(" a ", "\tb\n", "c\0d", "é", "\u0100"),
  );
  fc.assert(
    fc.property(
      fc.dictionary(name, value, { maxKeys: 6 }),
      fc.dictionary(name, value, { maxKeys: 4 }),
      fc.option(value, { nil: null }),
      (headers, extra, contentType) => {
        const pairs = deliveryHeaders({ id: "e", contentType, headers }, {
          ...OPTIONS,
          extra,
        });
        const got = new Headers(pairs);
        for (const own of OWN) got.delete(own);
        assert.deepEqual(
          new Map(got),
          throughHeaders({ headers, contentType }, extra),
        );
      },
    ),
    { numRuns: 2_000 },
  );
});
