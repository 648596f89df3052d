import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { ActorPanicError, ActorStoppedError } from "../../actors/errors.ts";
import { ActorSystem, ask, tell } from "../../actors/system.ts";
import type {
  ActorRef,
  PanicMode,
  RestartIntensity,
} from "../../actors/types.ts";
import { silentLogger } from "../../observability/logger.ts";
import {
  type FakeClock,
  fakeClock,
  flush,
  probe,
  type ProbeMsg,
} from "./helpers.ts";

interface Harness {
  system: ActorSystem;
  registry: Registry;
  clock: FakeClock;
  exits: { code: number; reason: string }[];
}

function harness(
  options: { panicMode?: PanicMode; intensity?: RestartIntensity } = {},
): Harness {
  const registry = new Registry();
  const clock = fakeClock(1_000_000);
  const exits: { code: number; reason: string }[] = [];
  const system = new ActorSystem({
    log: silentLogger,
    registry,
    clock,
    ...options,
    exit: (code, reason) => {
      exits.push({ code, reason });
    },
  });
  return { system, registry, clock, exits };
}

function getLog(ref: ActorRef<ProbeMsg>): Promise<number[]> {
  return ask(ref, (reply) => ({ type: "get", reply }), { timeoutMs: 1000 });
}

function flaky(ref: ActorRef<ProbeMsg>, timeoutMs = 1000): Promise<string> {
  return ask(ref, (reply) => ({ type: "flaky", reply }), { timeoutMs });
}

async function metric(registry: Registry, line: string): Promise<number> {
  const text = await registry.metrics();
  const found = text.split("\n").find((l) => l.startsWith(line + " "));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

Deno.test("supervisor: a panicking actor is restarted (init runs again) while its sibling keeps answering", async () => {
  const { system, registry } = harness();
  await using _ = system;
  const a = probe("a");
  const b = probe("b");
  const refA = await system.spawn(a.behavior);
  const refB = await system.spawn(b.behavior);
  tell(refA, { type: "push", n: 1 });
  tell(refB, { type: "push", n: 2 });
  const retried = flaky(refA); // panics once, succeeds when retried
  tell(refA, { type: "push", n: 3 });
  assert.deepEqual(await getLog(refB), [2]);
  assert.equal(await retried, "ok");
  // state rebuilt by init; queued messages survived the restart
  assert.deepEqual(await getLog(refA), [3]);
  assert.equal(a.stats.inits, 2);
  assert.equal(a.stats.terminates, 1);
  assert.equal(b.stats.inits, 1);
  assert.equal(system.healthy, true);
  assert.equal(
    await metric(registry, 'miranda_actor_restarts_total{actor="a"}'),
    1,
  );
  assert.equal(
    await metric(
      registry,
      'miranda_actor_panics_total{actor="a",message="flaky"}',
    ),
    1,
  );
});

Deno.test("supervisor: a rejected async handler is a panic and restarts the actor", async () => {
  const { system } = harness();
  await using _ = system;
  const a = probe("a");
  const ref = await system.spawn(a.behavior);
  tell(ref, { type: "crashAsync" });
  tell(ref, { type: "push", n: 1 });
  assert.deepEqual(await getLog(ref), [1]);
  // retried once after the first restart, poison after the second
  assert.equal(a.stats.inits, 3);
  assert.equal(system.poison().length, 1);
});

Deno.test("supervisor: a message that panics twice is set aside as poison and its asker gets ActorPanicError", async () => {
  const { system, registry } = harness();
  await using _ = system;
  const a = probe("a");
  const ref = await system.spawn(a.behavior);
  const answer = ask<ProbeMsg, string>(
    ref,
    (reply) => ({ type: "crash", reply }),
    { timeoutMs: 1000 },
  );
  tell(ref, { type: "push", n: 1 });
  await assert.rejects(answer, (error: unknown) => {
    assert.ok(error instanceof ActorPanicError);
    assert.equal(error.actor, "a");
    assert.equal(error.messageType, "crash");
    return true;
  });
  assert.deepEqual(await getLog(ref), [1]);
  assert.deepEqual(
    a.stats.handled.filter((type) => type === "crash").length,
    2,
  );
  const [record, ...rest] = system.poison();
  assert.equal(rest.length, 0);
  assert.equal(record?.actor, "a");
  assert.equal(record?.messageType, "crash");
  assert.equal(record?.error, "crash on purpose");
  assert.equal(record?.time, 1_000_000);
  assert.equal((record?.message as ProbeMsg).type, "crash");
  assert.equal(
    await metric(registry, 'miranda_actor_poison_messages_total{actor="a"}'),
    1,
  );
  assert.equal(
    await metric(registry, 'miranda_actor_restarts_total{actor="a"}'),
    2,
  );
});

Deno.test("supervisor: restarts spread wider than the period never escalate", async () => {
  const { system, clock, registry } = harness({
    intensity: { maxRestarts: 2, periodMs: 1000 },
  });
  await using _ = system;
  const a = probe("a");
  const ref = await system.spawn(a.behavior);
  for (let i = 0; i < 5; i++) {
    assert.equal(await flaky(ref), "ok");
    clock.tick(1000);
  }
  assert.equal(a.stats.inits, 6);
  assert.equal(system.healthy, true);
  assert.equal(
    await metric(
      registry,
      'miranda_supervisor_escalations_total{supervisor="root"}',
    ),
    0,
  );
});

Deno.test("supervisor: restart intensity exceeded escalates to the parent, which restarts the whole subtree", async () => {
  const { system, registry, exits } = harness();
  await using _ = system;
  const delivery = system.supervisor("delivery", {
    intensity: { maxRestarts: 2, periodMs: 1000 },
  });
  const c1 = probe("courier-1");
  const c2 = probe("courier-2");
  const ref1 = await system.spawn(c1.behavior, { supervisor: delivery });
  const ref2 = await system.spawn(c2.behavior, { supervisor: delivery });
  tell(ref2, { type: "push", n: 7 });
  assert.equal(await flaky(ref1), "ok");
  assert.equal(await flaky(ref1), "ok");
  assert.equal(c2.stats.inits, 1);
  // third restart within the period: delivery gives up, root restarts it
  assert.equal(await flaky(ref1), "ok");
  await flush();
  assert.equal(c2.stats.inits, 2);
  assert.equal(c2.stats.terminates, 1);
  assert.equal(c1.stats.inits, 4);
  assert.deepEqual(await getLog(ref2), []);
  assert.equal(
    await metric(
      registry,
      'miranda_supervisor_escalations_total{supervisor="delivery"}',
    ),
    1,
  );
  assert.equal(
    await metric(registry, 'miranda_actor_restarts_total{actor="delivery"}'),
    1,
  );
  assert.equal(system.healthy, true);
  assert.deepEqual(exits, []);
});

Deno.test("supervisor: an init that throws during a restart counts as a panic until the intensity escalates", async () => {
  const { system, registry, exits } = harness({
    intensity: { maxRestarts: 3, periodMs: 10_000 },
  });
  await using _ = system;
  const a = probe("a");
  const ref = await system.spawn(a.behavior);
  a.stats.failInit = true;
  tell(ref, { type: "crash" });
  await flush();
  assert.equal(a.stats.inits, 4);
  assert.equal(
    await metric(
      registry,
      'miranda_actor_panics_total{actor="a",message="init"}',
    ),
    3,
  );
  assert.equal(exits.length, 1);
  assert.equal(system.poison().length, 0);
});

Deno.test("supervisor: root escalation under halt calls exit(1) at once and marks the node unhealthy", async () => {
  const { system, exits } = harness({
    panicMode: "halt",
    intensity: { maxRestarts: 0, periodMs: 10_000 },
  });
  await using _ = system;
  const a = probe("a");
  const ref = await system.spawn(a.behavior);
  tell(ref, { type: "crash" });
  await flush();
  assert.equal(exits.length, 1);
  assert.equal(exits[0]?.code, 1);
  assert.match(exits[0]?.reason ?? "", /Supervisor "root" gave up/);
  assert.equal(system.healthy, false);
});

Deno.test("supervisor: root escalation under shutdown stops the system, then calls exit(1)", async () => {
  const { system, exits } = harness({
    panicMode: "shutdown",
    intensity: { maxRestarts: 0, periodMs: 10_000 },
  });
  await using _ = system;
  const a = probe("a");
  const b = probe("b");
  const refA = await system.spawn(a.behavior);
  const refB = await system.spawn(b.behavior);
  tell(refA, { type: "crash" });
  await flush();
  assert.equal(exits.length, 1);
  assert.equal(exits[0]?.code, 1);
  assert.equal(system.healthy, false);
  assert.equal(a.stats.terminates, 1);
  assert.equal(b.stats.terminates, 1);
  assert.throws(() => tell(refB, { type: "push", n: 1 }), ActorStoppedError);
});

Deno.test("supervisor: root escalation under continue marks the node unhealthy and keeps answering", async () => {
  const { system, exits } = harness({
    panicMode: "continue",
    intensity: { maxRestarts: 0, periodMs: 10_000 },
  });
  await using _ = system;
  const a = probe("a");
  const b = probe("b");
  const refA = await system.spawn(a.behavior);
  const refB = await system.spawn(b.behavior);
  assert.equal(await flaky(refA), "ok");
  await flush();
  assert.equal(system.healthy, false);
  assert.deepEqual(exits, []);
  assert.equal(b.stats.inits, 2);
  assert.deepEqual(await getLog(refA), []);
  assert.deepEqual(await getLog(refB), []);
});

Deno.test("supervisor: under continue, a second escalation within the period waits out the rest of it", async () => {
  const { system, clock } = harness({
    panicMode: "continue",
    intensity: { maxRestarts: 0, periodMs: 10_000 },
  });
  await using _ = system;
  const a = probe("a");
  const ref = await system.spawn(a.behavior);
  assert.equal(await flaky(ref), "ok");
  const second = flaky(ref, 60_000);
  await flush();
  assert.equal(a.stats.inits, 2);
  clock.tick(10_000);
  assert.equal(await second, "ok");
  assert.equal(a.stats.inits, 3);
});

Deno.test("supervisor: a permanent actor that stops normally is restarted", async () => {
  const { system } = harness();
  await using _ = system;
  const a = probe("a");
  const ref = await system.spawn(a.behavior, { restart: "permanent" });
  tell(ref, { type: "stop" });
  assert.deepEqual(await getLog(ref), []);
  assert.equal(a.stats.inits, 2);
});

Deno.test("supervisor: a transient actor is restarted after a panic but not after a normal stop", async () => {
  const { system } = harness();
  await using _ = system;
  const a = probe("a");
  const ref = await system.spawn(a.behavior, { restart: "transient" });
  assert.equal(await flaky(ref), "ok");
  assert.equal(a.stats.inits, 2);
  tell(ref, { type: "stop" });
  const left = getLog(ref);
  await assert.rejects(left, ActorStoppedError);
  assert.equal(a.stats.inits, 2);
  assert.equal(a.stats.terminates, 2);
  assert.throws(() => tell(ref, { type: "push", n: 1 }), ActorStoppedError);
});

Deno.test("supervisor: a temporary actor is never restarted; its asker gets ActorPanicError", async () => {
  const { system } = harness();
  await using _ = system;
  const a = probe("a");
  const b = probe("b");
  const ref = await system.spawn(a.behavior, { restart: "temporary" });
  const refB = await system.spawn(b.behavior);
  await assert.rejects(flaky(ref), ActorPanicError);
  await flush();
  assert.equal(a.stats.inits, 1);
  assert.equal(a.stats.terminates, 1);
  assert.throws(() => tell(ref, { type: "push", n: 1 }), ActorStoppedError);
  assert.deepEqual(await getLog(refB), []);
  assert.equal(system.poison().length, 0);
});

Deno.test("supervisor: an error thrown in a ctx.setTimeout callback is a panic that restarts the actor", async () => {
  const { system, clock, registry } = harness();
  await using _ = system;
  const a = probe("a");
  const ref = await system.spawn(a.behavior);
  tell(ref, { type: "failTimer", ms: 100 });
  tell(ref, { type: "push", n: 1 });
  assert.deepEqual(await getLog(ref), [1]);
  clock.tick(100);
  await flush();
  assert.equal(a.stats.inits, 2);
  assert.deepEqual(await getLog(ref), []);
  assert.equal(
    await metric(
      registry,
      'miranda_actor_panics_total{actor="a",message="timer"}',
    ),
    1,
  );
});

Deno.test("supervisor: ctx timers of a restarted actor are cancelled", async () => {
  const { system, clock } = harness();
  await using _ = system;
  const a = probe("a");
  const ref = await system.spawn(a.behavior);
  tell(ref, { type: "failTimer", ms: 100 });
  assert.equal(await flaky(ref), "ok");
  clock.tick(100);
  await flush();
  assert.equal(a.stats.inits, 2);
});

Deno.test("supervisor: a rejected ctx.spawnTask is a panic that restarts the actor", async () => {
  const { system, registry } = harness();
  await using _ = system;
  const a = probe("a");
  const ref = await system.spawn(a.behavior);
  tell(ref, { type: "failTask" });
  await flush();
  assert.equal(a.stats.inits, 2);
  assert.deepEqual(await getLog(ref), []);
  assert.equal(
    await metric(
      registry,
      'miranda_actor_panics_total{actor="a",message="task"}',
    ),
    1,
  );
});
