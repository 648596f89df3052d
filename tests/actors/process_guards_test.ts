import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { installProcessGuards } from "../../actors/process_guards.ts";
import { ActorSystem, ask, tell } from "../../actors/system.ts";
import { silentLogger } from "../../observability/logger.ts";
import { eventually } from "../support/pipeline_client.ts";
import { flush, probe } from "./helpers.ts";

Deno.test("process guards: a rejection a handler never awaits is counted and does not kill the process", async () => {
  const registry = new Registry();
  const uninstall = installProcessGuards(silentLogger, registry);
  try {
    await using system = new ActorSystem({ log: silentLogger, registry });
    const a = probe("a");
    const ref = await system.spawn(a.behavior);
    tell(ref, { type: "leakRejection" });
    // Deno reports an unhandled rejection on a later turn of its event
    // loop, not always the next one: wait for it before removing the guard.
    await eventually(
      "the rejection is counted",
      async () =>
        /miranda_unhandled_errors_total\{kind="rejection"\} 1/.test(
            await registry.metrics(),
          )
          ? true
          : undefined,
    );
    tell(ref, { type: "push", n: 1 });
    const log = await ask(ref, (reply) => ({ type: "get", reply }), {
      timeoutMs: 1000,
    });
    assert.deepEqual(log, [1]);
    assert.equal(a.stats.inits, 1);
  } finally {
    uninstall();
  }
});

Deno.test("process guards: an error thrown by a plain timer is counted and does not kill the process", async () => {
  const registry = new Registry();
  const uninstall = installProcessGuards(silentLogger, registry);
  try {
    setTimeout(() => {
      throw new Error("stray timer error");
    }, 0);
    await flush();
    assert.match(
      await registry.metrics(),
      /miranda_unhandled_errors_total\{kind="error"\} 1/,
    );
  } finally {
    uninstall();
  }
});

Deno.test("process guards: installing twice on one registry reuses the counter", () => {
  const registry = new Registry();
  const first = installProcessGuards(silentLogger, registry);
  const second = installProcessGuards(silentLogger, registry);
  first();
  second();
  assert.equal(registry.getMetricsAsArray().length, 1);
});
