import assert from "node:assert/strict";
import { OpenedEvents } from "../../store/sqlite/opened_events.ts";
import type { Cipher, EventRecord } from "../../store/mod.ts";

const cipher = (): Cipher => ({
  seal: () => Promise.reject(new Error("not used")),
  sealMany: () => Promise.reject(new Error("not used")),
  open: () => Promise.reject(new Error("not used")),
  activeKeyId: 1,
  sealed: false,
});

function event(seq: number, bodyBytes = 10): EventRecord {
  return {
    seq,
    id: `e${seq}`,
    topicId: "t1",
    method: "POST",
    path: "",
    query: "",
    contentType: null,
    headers: {},
    body: new Uint8Array(bodyBytes),
    sender: "root",
    receivedAt: 0,
    idempotencyKey: null,
  };
}

Deno.test("opened events: kept by seq for the cipher that opened them, the oldest dropped past the count", () => {
  const c = cipher();
  const kept = new OpenedEvents(3, 1 << 20);
  for (const seq of [1, 2, 3, 4]) kept.set(c, event(seq));
  assert.equal(kept.size, 3);
  assert.equal(kept.get(c, 1), undefined, "the oldest went first");
  assert.equal(kept.get(c, 4)?.id, "e4");
  assert.equal(kept.get(cipher(), 4), undefined, "another cipher sees none");
});

Deno.test("opened events: bounded by bytes, a new cipher starts empty, and clear drops everything", () => {
  const c = cipher();
  const kept = new OpenedEvents(100, 3 * (1000 + 256));
  for (const seq of [1, 2, 3, 4]) kept.set(c, event(seq, 1000));
  assert.deepEqual(
    [1, 2, 3, 4].map((seq) => kept.get(c, seq) !== undefined),
    [false, true, true, true],
  );
  const next = cipher();
  kept.set(next, event(5));
  assert.equal(kept.size, 1, "a new keyring's first event empties the rest");
  assert.equal(kept.get(c, 4), undefined);
  kept.clear();
  assert.equal(kept.size, 0);
  assert.equal(kept.get(next, 5), undefined);
});

Deno.test("opened events: over many turnovers (out of seq order, with repeats) exactly the newest kept remain, in the order they were kept", () => {
  const c = cipher();
  const kept = new OpenedEvents(100, 1 << 30);
  // Couriers open older events too: seqs arrive out of order, some twice.
  const order: number[] = [];
  for (let i = 0; i < 10_000; i++) {
    const seq = i % 7 === 0 ? i - 50 : i;
    kept.set(c, event(seq));
    if (!order.includes(seq) || seq === i) order.push(seq);
  }
  const distinct = [...new Set(order)];
  const newest = new Set(distinct.slice(-100));
  assert.equal(kept.size, 100);
  for (const seq of distinct) {
    assert.equal(kept.get(c, seq) !== undefined, newest.has(seq), `seq ${seq}`);
  }
});
