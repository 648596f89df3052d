import assert from "node:assert/strict";
import { Slots } from "../../delivery/slots.ts";
import {
  harness,
  STORE_KINDS,
  Subscriber,
  subscriptionRecord,
} from "./harness.ts";

Deno.test("slots: at most max are held; waiters get freed slots in order of arrival", async () => {
  const slots = new Slots(2);
  assert.equal(await slots.acquire(), true);
  assert.equal(await slots.acquire(), true);
  const order: string[] = [];
  const a = slots.acquire().then((ok) => order.push(`a:${ok}`));
  const b = slots.acquire().then((ok) => order.push(`b:${ok}`));
  await Promise.resolve();
  assert.deepEqual(order, []);
  assert.equal(slots.waiting, 2);
  slots.release();
  await a;
  assert.deepEqual(order, ["a:true"]);
  assert.equal(slots.used, 2, "the freed slot went straight to a");
  slots.release();
  await b;
  assert.deepEqual(order, ["a:true", "b:true"]);
  slots.release();
  slots.release();
  assert.equal(slots.used, 0);
  assert.throws(() => new Slots(0), RangeError);
});

Deno.test("slots: a waiter whose signal aborts leaves the queue holding nothing", async () => {
  const slots = new Slots(1);
  await slots.acquire();
  const abort = new AbortController();
  const waiting = slots.acquire(abort.signal);
  const next = slots.acquire();
  abort.abort();
  assert.equal(await waiting, false);
  assert.equal(slots.waiting, 1);
  slots.release();
  assert.equal(await next, true, "the slot skipped the aborted waiter");
  assert.equal(slots.used, 1);
  assert.equal(await slots.acquire(AbortSignal.abort()), false);
});

for (const kind of STORE_KINDS) {
  Deno.test(`slots [${kind}]: couriers of three subscriptions with 8 in flight each keep at most 3 requests open over all, and deliver everything`, async () => {
    const release = Promise.withResolvers<void>();
    await using subscriber = new Subscriber(async () => {
      await release.promise;
      return new Response(null, { status: 204 });
    });
    const slots = new Slots(3);
    await using h = await harness({ store: kind, slots });
    const subs = ["/a", "/b", "/c"].map((path) =>
      subscriptionRecord({
        url: subscriber.url + path,
        ordered: false,
        maxInFlight: 8,
        record: "async",
      })
    );
    for (const sub of subs) await h.start(sub);
    await h.publishNumbered(subs[0]!.topicId, 1, 20);
    await subscriber.until(() => subscriber.inFlight === 3);
    // Give the couriers time to try for more than their share.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(subscriber.inFlight, 3);
    assert.equal(slots.waiting > 0, true, "the rest wait for a slot");
    release.resolve();
    await h.store.until(() => h.store.delivered.length === 60, 10_000);
    assert.equal(subscriber.maxInFlight, 3);
  });
}
