import assert from "node:assert/strict";
import { Registry } from "prom-client";
import {
  ActorStoppedError,
  AskTimeoutError,
  MailboxFullError,
} from "../../actors/errors.ts";
import { ActorSystem, ask, tell } from "../../actors/system.ts";
import type { Behavior } from "../../actors/types.ts";
import { silentLogger } from "../../observability/logger.ts";
import { fakeClock, flush, probe, type ProbeMsg } from "./helpers.ts";
import type { ActorRef } from "../../actors/types.ts";

function newSystem(options: { clock?: ReturnType<typeof fakeClock> } = {}) {
  return new ActorSystem({
    log: silentLogger,
    registry: new Registry(),
    ...options,
    exit: () => {
      throw new Error("exit must not be called");
    },
  });
}

function getLog(ref: ActorRef<ProbeMsg>): Promise<number[]> {
  return ask(ref, (reply) => ({ type: "get", reply }), { timeoutMs: 1000 });
}

Deno.test("system: messages are handled one at a time in the order sent, sync and async mixed", async () => {
  await using system = newSystem();
  const { behavior } = probe("p");
  const ref = await system.spawn(behavior);
  for (let n = 0; n < 100; n++) {
    tell(ref, n % 3 === 0 ? { type: "pushAsync", n } : { type: "push", n });
  }
  assert.deepEqual(await getLog(ref), Array.from({ length: 100 }, (_, i) => i));
});

Deno.test("system: more messages than one batch are all handled in order", async () => {
  await using system = newSystem();
  const { behavior } = probe("p");
  const ref = await system.spawn(behavior, { mailboxCapacity: 5000 });
  for (let n = 0; n < 3000; n++) tell(ref, { type: "push", n });
  const log = await getLog(ref);
  assert.equal(log.length, 3000);
  assert.equal(log[2999], 2999);
});

Deno.test("system: ask resolves with the value the handler replied", async () => {
  await using system = newSystem();
  const { behavior } = probe("p");
  const ref = await system.spawn(behavior);
  tell(ref, { type: "push", n: 7 });
  assert.deepEqual(await getLog(ref), [7]);
});

Deno.test("system: an unanswered ask rejects with AskTimeoutError at its deadline", async () => {
  const clock = fakeClock();
  await using system = newSystem({ clock });
  const { behavior } = probe("p");
  const ref = await system.spawn(behavior);
  const answer = ask<ProbeMsg, string>(
    ref,
    (reply) => ({ type: "ignore", reply }),
    { timeoutMs: 500 },
  );
  await flush();
  clock.tick(499);
  clock.tick(1);
  await assert.rejects(answer, (error: unknown) => {
    assert.ok(error instanceof AskTimeoutError);
    assert.equal(error.name, "AskTimeoutError");
    assert.equal(error.actor, "p");
    assert.equal(error.messageType, "ignore");
    assert.equal(error.timeoutMs, 500);
    return true;
  });
});

Deno.test("system: a full mailbox refuses tell and ask with MailboxFullError", async () => {
  await using system = newSystem();
  const { behavior } = probe("p");
  const ref = await system.spawn(behavior, { mailboxCapacity: 2 });
  const { promise: gate, resolve: open } = Promise.withResolvers<void>();
  tell(ref, { type: "wait", until: gate });
  await flush(); // the wait is being handled, the mailbox is empty
  tell(ref, { type: "push", n: 1 });
  tell(ref, { type: "push", n: 2 });
  assert.equal(ref.depth, 2);
  assert.throws(() => tell(ref, { type: "push", n: 3 }), (error: unknown) => {
    assert.ok(error instanceof MailboxFullError);
    assert.equal(error.actor, "p");
    assert.equal(error.capacity, 2);
    return true;
  });
  await assert.rejects(getLog(ref), MailboxFullError);
  open();
  await flush();
  assert.deepEqual(await getLog(ref), [1, 2]);
});

Deno.test("system: stop drains queued messages, runs terminate, then refuses tells", async () => {
  const system = newSystem();
  const { behavior, stats } = probe("p");
  const ref = await system.spawn(behavior);
  const seen: number[] = [];
  for (let n = 0; n < 5; n++) tell(ref, { type: "pushAsync", n });
  const answer = getLog(ref);
  await system.stop();
  assert.deepEqual(await answer, [0, 1, 2, 3, 4]);
  seen.push(stats.terminates);
  assert.deepEqual(seen, [1]);
  assert.throws(() => tell(ref, { type: "push", n: 9 }), ActorStoppedError);
  await assert.rejects(getLog(ref), ActorStoppedError);
  await assert.rejects(system.spawn(probe("q").behavior), ActorStoppedError);
});

Deno.test("system: stop terminates actors in reverse start order", async () => {
  const order: string[] = [];
  const named = (name: string): Behavior<null, { type: "noop" }> => ({
    name,
    init: () => null,
    handle: (state) => state,
    terminate: () => {
      order.push(name);
    },
  });
  const system = newSystem();
  await system.spawn(named("a"));
  const sub = system.supervisor("sub");
  await system.spawn(named("b"), { supervisor: sub });
  await system.spawn(named("c"));
  await system.stop();
  assert.deepEqual(order, ["c", "b", "a"]);
});

Deno.test("system: stop gives up draining after timeoutMs and rejects what is left with ActorStoppedError", async () => {
  const clock = fakeClock();
  const system = newSystem({ clock });
  const { behavior } = probe("p");
  const ref = await system.spawn(behavior);
  tell(ref, { type: "wait", until: new Promise<void>(() => {}) });
  const left = getLog(ref);
  await flush();
  const stopped = system.stop({ timeoutMs: 100 });
  clock.tick(100);
  await stopped;
  await assert.rejects(left, ActorStoppedError);
});

Deno.test("system: stopActor stops one actor for good while the others keep answering", async () => {
  await using system = newSystem();
  const a = probe("a");
  const b = probe("b");
  const refA = await system.spawn(a.behavior);
  const refB = await system.spawn(b.behavior);
  tell(refA, { type: "push", n: 1 });
  await system.stopActor(refA);
  assert.equal(a.stats.terminates, 1);
  assert.equal(a.stats.handled.includes("push"), true);
  assert.throws(() => tell(refA, { type: "push", n: 2 }), ActorStoppedError);
  assert.deepEqual(await getLog(refB), []);
  // the name is free again
  await system.spawn(probe("a").behavior);
});

Deno.test("system: a second live actor with the same name is refused", async () => {
  await using system = newSystem();
  await system.spawn(probe("p").behavior);
  await assert.rejects(system.spawn(probe("p").behavior), /already in use/);
});

Deno.test("system: spawn rejects when the first init throws, and the name stays free", async () => {
  await using system = newSystem();
  const { behavior, stats } = probe("p");
  stats.failInit = true;
  await assert.rejects(system.spawn(behavior), /init of "p" failed/);
  stats.failInit = false;
  await system.spawn(behavior);
});

Deno.test("system: metrics are registered on the given registry", async () => {
  const registry = new Registry();
  await using system = new ActorSystem({ log: silentLogger, registry });
  const { behavior } = probe("p");
  const ref = await system.spawn(behavior);
  tell(ref, { type: "push", n: 1 });
  await getLog(ref);
  const text = await registry.metrics();
  for (
    const name of [
      "miranda_actor_restarts_total",
      "miranda_actor_panics_total",
      "miranda_actor_poison_messages_total",
      "miranda_supervisor_escalations_total",
    ]
  ) {
    assert.match(text, new RegExp(`# TYPE ${name} counter`));
  }
  assert.match(text, /miranda_actor_mailbox_depth\{actor="p"\} 0/);
  assert.match(text, /miranda_actor_message_seconds_count\{actor="p"\} 2/);
});

Deno.test("system: tell to a ref of another message type does not compile", () => {
  const check = (ref: ActorRef<ProbeMsg>) => {
    // @ts-expect-error "nope" is not a ProbeMsg
    tell(ref, { type: "nope" });
  };
  assert.equal(typeof check, "function");
});
