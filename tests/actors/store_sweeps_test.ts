/**
 * The periodic sweeps (retention, sessions) on a store that cannot write:
 * the sweep fails and the next one tries again; the actor never panics (a
 * retention panic per sweep used to restart the actor until the root
 * supervisor escalated and the node stopped — found with a file system
 * turned read-only under a node).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { retentionBehavior } from "../../actors/retention.ts";
import { sessionBehavior } from "../../actors/session.ts";
import { TokenKeys } from "../../node/token_keys.ts";
import { ActorSystem } from "../../actors/system.ts";
import { silentLogger } from "../../observability/logger.ts";
import { openSqliteStore } from "../../store/sqlite/store.ts";
import type { Store } from "../../store/mod.ts";
import { testKeyfile } from "../support/keys.ts";
import { topicRecord } from "../store/pipeline_contract.ts";
import { eventually } from "../support/pipeline_client.ts";

/** A store step that fails while `failing` is set, counting its calls and successes. */
class FailingStep {
  failing = true;
  calls = 0;
  succeeded = 0;

  /** `step`, failing like a full disk while `failing` is set. */
  wrap<A extends unknown[], R>(
    step: (...args: A) => Promise<R>,
  ): (...args: A) => Promise<R> {
    return async (...args) => {
      this.calls++;
      if (this.failing) throw new Error("database or disk is full");
      const result = await step(...args);
      this.succeeded++;
      return result;
    };
  }
}

/**
 * Opens a store, lets `spawn` start the actor on it (wrapped by `wrap`),
 * and checks that five failed sweeps cause no panic and that a sweep gets
 * through once the store writes again.
 */
async function sweepsSurvive(
  wrap: (inner: Store, step: FailingStep) => Promise<Store>,
  spawn: (
    system: ActorSystem,
    store: Store,
    registry: Registry,
  ) => Promise<unknown>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "miranda-sweeps-" });
  try {
    const { keyring } = await testKeyfile();
    await using inner = openSqliteStore(`${dir}/miranda.db`, () => keyring);
    const step = new FailingStep();
    const store = await wrap(inner, step);
    const registry = new Registry();
    const system = new ActorSystem({ log: silentLogger, registry });
    try {
      await spawn(system, store, registry);
      await eventually(
        "five failed sweeps",
        () => Promise.resolve(step.calls >= 5 ? true : undefined),
      );
      const metrics = await registry.metrics();
      assert.doesNotMatch(metrics, /miranda_actor_panics_total\{/);
      assert.equal(system.healthy, true);
      step.failing = false;
      await eventually(
        "a sweep once the store writes again",
        () => Promise.resolve(step.succeeded >= 1 ? true : undefined),
      );
    } finally {
      await system.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("retention: a sweep the store fails is tried again at the next one, and the actor never panics", async () => {
  await sweepsSurvive(
    async (inner, step) => {
      await inner.topics.create(
        topicRecord("orders", { id: "t1", owner: "root", retentionMs: 1 }),
        { actor: "root", requestId: "r1", time: "2026-01-01T00:00:00.000Z" },
      );
      return {
        ...inner,
        events: { ...inner.events, expire: step.wrap(inner.events.expire) },
      };
    },
    (system, store, registry) =>
      system.spawn(retentionBehavior({
        store,
        sweepMs: 10,
        auditRetentionMs: 86_400_000,
        registry,
      })),
  );
});

Deno.test("sessions: a sweep the store fails is tried again at the next one, and the actor never panics", async () => {
  await sweepsSurvive(
    (inner, step) =>
      Promise.resolve({
        ...inner,
        sessions: { ...inner.sessions, sweep: step.wrap(inner.sessions.sweep) },
      }),
    (system, store) =>
      system.spawn(sessionBehavior({
        store,
        // Loaded only when a token is issued or checked: never here.
        tokenKeys: new TokenKeys(store.secrets, {
          issuer: "miranda",
          audience: "miranda",
        }),
        sessionTtlMs: 60_000,
        sweepMs: 10,
        accessTokenTtlSeconds: 300,
      })),
  );
});
