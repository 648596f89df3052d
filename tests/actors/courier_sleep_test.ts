import assert from "node:assert/strict";
import { ask, tell } from "../../actors/system.ts";
import type { DeliveryMsg } from "../../actors/delivery.ts";
import {
  type Harness,
  harness,
  numberOf,
  STORE_KINDS,
  Subscriber,
  subscriptionRecord,
} from "../delivery/harness.ts";

const ok = () => new Response(null, { status: 204 });

/** Whether the courier of `id` runs: live actors have a mailbox depth series. */
async function courierRuns(h: Harness, id: string): Promise<boolean> {
  const depth = await h.registry.getSingleMetric("miranda_actor_mailbox_depth")
    ?.get();
  return depth?.values.some((v) => v.labels.actor === `courier:${id}`) ??
    false;
}

async function liveSeries(h: Harness, id: string): Promise<number | null> {
  const live = await h.registry.getSingleMetric("miranda_subscription_live")
    ?.get();
  return live?.values.find((v) => v.labels.subscription === id)?.value ?? null;
}

function sleeps(h: Harness, id: string): number {
  return h.logs.filter((l) =>
    l.msg === "Courier asleep until its next wake" && l.subscription === id
  ).length;
}

async function eventually(
  what: string,
  check: () => Promise<boolean> | boolean,
): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Not within 5 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

for (const kind of STORE_KINDS) {
  Deno.test(`courier [${kind}]: an idle courier sleeps, stays live in the metrics, and the next publish wakes it`, async () => {
    await using subscriber = new Subscriber(ok);
    await using h = await harness({ store: kind, sleepAfterMs: 20 });
    const a = subscriptionRecord({ url: subscriber.url, maxInFlight: 4 });
    await h.start(a);
    await h.publishNumbered(a.topicId, 1, 3);
    await h.store.until(() => h.store.delivered.length === 3);
    await eventually(
      "the courier sleeps",
      async () => !(await courierRuns(h, a.id)),
    );
    assert.equal(await liveSeries(h, a.id), 1);
    await h.publishNumbered(a.topicId, 4, 2);
    await h.store.until(() => h.store.delivered.length === 5);
    await eventually("it sleeps again", () => sleeps(h, a.id) >= 2);
    assert.deepEqual(subscriber.deliveries.map(numberOf), [1, 2, 3, 4, 5]);
  });

  Deno.test(`courier [${kind}]: a steady trickle of events never puts the courier to sleep; it sleeps once the trickle stops`, async () => {
    await using subscriber = new Subscriber(ok);
    await using h = await harness({ store: kind, sleepAfterMs: 300 });
    const a = subscriptionRecord({ url: subscriber.url });
    await h.start(a);
    for (let n = 1; n <= 20; n++) {
      await h.publishNumbered(a.topicId, n, 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await h.store.until(() => h.store.delivered.length === 20);
    assert.equal(sleeps(h, a.id), 0, "no sleep between events 20 ms apart");
    assert.ok(await courierRuns(h, a.id));
    await eventually(
      "it sleeps after 300 ms of quiet",
      () => sleeps(h, a.id) === 1,
    );
  });

  Deno.test(`courier [${kind}]: a courier stopped behind the delivery actor's back is replaced at the next wake and delivers what follows`, async () => {
    await using subscriber = new Subscriber(ok);
    await using h = await harness({ store: kind });
    const a = subscriptionRecord({ url: subscriber.url, maxInFlight: 4 });
    await h.start(a);
    await h.publishNumbered(a.topicId, 1, 2);
    await h.store.until(() => h.store.delivered.length === 2);
    const first = h.couriers.get(a.id);
    assert.ok(first, "the harness saw the courier spawned");
    // As a sleep whose stop failed half-way would leave it: the actor
    // stopped, the delivery actor still holding its ref.
    await h.system.stopActor(first);
    assert.equal(await courierRuns(h, a.id), false);
    await h.publishNumbered(a.topicId, 3, 3);
    await h.store.until(() => h.store.delivered.length === 5);
    const second = h.couriers.get(a.id);
    assert.ok(second !== undefined && second !== first, "a new courier");
    assert.ok(await courierRuns(h, a.id));
    assert.deepEqual(
      [...new Set(subscriber.deliveries.map(numberOf))].sort((x, y) => x - y),
      [1, 2, 3, 4, 5],
    );
  });

  Deno.test(`courier [${kind}]: wakes racing sleeps lose nothing — 200 events published one by one with random pauses all arrive`, async () => {
    await using subscriber = new Subscriber(ok);
    await using h = await harness({
      store: kind,
      recordFlushMs: 1,
      sleepAfterMs: 2,
    });
    const a = subscriptionRecord({ url: subscriber.url, maxInFlight: 8 });
    const b = subscriptionRecord({ url: subscriber.url + "/b", ordered: true });
    await h.start(a);
    await h.start(b);
    for (let n = 1; n <= 200; n++) {
      await h.publishNumbered(a.topicId, n, 1);
      // Mostly racing pauses; every 20th long enough to sleep even when
      // a loaded machine stretches every step.
      const pause = n % 20 === 0 ? 40 : Math.floor(Math.random() * 4);
      if (pause > 0) await new Promise((r) => setTimeout(r, pause));
    }
    await h.store.until(() => h.store.delivered.length === 400, 20_000);
    for (const path of ["/", "/b"]) {
      const got = subscriber.deliveries.filter((r) => r.path === path).map(
        numberOf,
      );
      assert.deepEqual(
        [...new Set(got)].sort((x, y) => x - y),
        Array.from({ length: 200 }, (_, i) => i + 1),
        `every event reached ${path}`,
      );
    }
    const ordered = subscriber.deliveries.filter((r) => r.path === "/b").map(
      numberOf,
    );
    assert.deepEqual(ordered, [...ordered].sort((x, y) => x - y));
    // The race was real: the couriers slept between events.
    assert.ok(sleeps(h, a.id) + sleeps(h, b.id) > 2);
  });

  Deno.test(`courier [${kind}]: stopping a sleeping subscription removes its series; a replay wakes a sleeping courier`, async () => {
    let failing = true;
    await using subscriber = new Subscriber(() =>
      new Response(null, { status: failing ? 500 : 204 })
    );
    await using h = await harness({ store: kind, sleepAfterMs: 20 });
    const a = subscriptionRecord({
      url: subscriber.url,
      failurePolicy: { mode: "deadLetter", maxAttempts: 1 },
    });
    await h.start(a);
    await h.publishNumbered(a.topicId, 1, 1);
    await eventually(
      "the event is dead-lettered",
      async () =>
        (await h.store.deliveries.listFailed(a.id, 0, 10)).length === 1,
    );
    await eventually(
      "the courier sleeps",
      async () => !(await courierRuns(h, a.id)),
    );
    failing = false;
    assert.equal(await h.store.deliveries.markReplay(a.id, null), 1);
    tell(h.delivery, { type: "replay", subscriptionId: a.id });
    await h.store.until(() => h.store.delivered.length === 1);
    await eventually(
      "asleep after the replay",
      async () => !(await courierRuns(h, a.id)),
    );
    const stopped = await ask<DeliveryMsg, boolean>(h.delivery, (reply) => ({
      type: "stop",
      subscriptionId: a.id,
      reply,
    }), { timeoutMs: 2_000 });
    assert.equal(stopped, true);
    assert.equal(await liveSeries(h, a.id), null);
  });
}
