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

Deno.test("retention: a sweep the store fails is tried again at the next one, and the actor never panics", async () => {
  const dir = await Deno.makeTempDir({ prefix: "miranda-retention-" });
  try {
    const { keyring } = await testKeyfile();
    await using inner = openSqliteStore(`${dir}/miranda.db`, () => keyring);
    await inner.topics.create(
      topicRecord("orders", { id: "t1", owner: "root", retentionMs: 1 }),
      { actor: "root", requestId: "r1", time: "2026-01-01T00:00:00.000Z" },
    );
    let failing = true;
    let expireCalls = 0;
    let swept = 0;
    const store: Store = {
      ...inner,
      events: {
        ...inner.events,
        expire: async (topicId, before) => {
          expireCalls++;
          if (failing) throw new Error("database or disk is full");
          const result = await inner.events.expire(topicId, before);
          swept++;
          return result;
        },
      },
    };
    const registry = new Registry();
    const system = new ActorSystem({ log: silentLogger, registry });
    try {
      await system.spawn(retentionBehavior({
        store,
        sweepMs: 10,
        auditRetentionMs: 86_400_000,
        registry,
      }));
      await eventually(
        "five failed sweeps",
        () => Promise.resolve(expireCalls >= 5 ? true : undefined),
      );
      const metrics = await registry.metrics();
      assert.doesNotMatch(metrics, /miranda_actor_panics_total\{/);
      assert.equal(system.healthy, true);
      failing = false;
      await eventually(
        "a sweep once the store writes again",
        () => Promise.resolve(swept >= 1 ? true : undefined),
      );
    } finally {
      await system.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sessions: a sweep the store fails is tried again at the next one, and the actor never panics", async () => {
  const dir = await Deno.makeTempDir({ prefix: "miranda-sessions-" });
  try {
    const { keyring } = await testKeyfile();
    await using inner = openSqliteStore(`${dir}/miranda.db`, () => keyring);
    let failing = true;
    let sweeps = 0;
    let swept = 0;
    const store: Store = {
      ...inner,
      sessions: {
        ...inner.sessions,
        sweep: async (now) => {
          sweeps++;
          if (failing) throw new Error("database or disk is full");
          const result = await inner.sessions.sweep(now);
          swept++;
          return result;
        },
      },
    };
    const registry = new Registry();
    const system = new ActorSystem({ log: silentLogger, registry });
    try {
      await system.spawn(sessionBehavior({
        store,
        // Loaded only when a token is issued or checked: never here.
        tokenKeys: new TokenKeys(inner.secrets, {
          issuer: "miranda",
          audience: "miranda",
        }),
        sessionTtlMs: 60_000,
        sweepMs: 10,
        accessTokenTtlSeconds: 300,
      }));
      await eventually(
        "five failed sweeps",
        () => Promise.resolve(sweeps >= 5 ? true : undefined),
      );
      const metrics = await registry.metrics();
      assert.doesNotMatch(metrics, /miranda_actor_panics_total\{/);
      assert.equal(system.healthy, true);
      failing = false;
      await eventually(
        "a sweep once the store writes again",
        () => Promise.resolve(swept >= 1 ? true : undefined),
      );
    } finally {
      await system.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
