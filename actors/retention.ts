/**
 * The `retention` actor: on a timer, removes each topic's events older than
 * its retention, and audit records older than the audit retention. An event that leaves retention undelivered for some
 * subscription is recorded in that subscription's failed list as expired
 * (by the store) and counted in `miranda_events_expired_total{topic}`.
 *
 * Who may ask it: nobody; it runs on its own timer. The topic actor tells it
 * `topicDeleted`.
 *
 * @module
 */

import client from "prom-client";
import { tell } from "./system.ts";
import type { ActorContext, Behavior } from "./types.ts";
import { SealedError } from "../security/envelope.ts";
import type { Store } from "../store/mod.ts";
import { forgetSeries } from "../observability/forget_series.ts";
import { errorFields } from "../observability/logger.ts";

/** Messages of the retention actor. */
export type RetentionMsg =
  | { type: "sweep" }
  /** A topic was deleted: drop its series. */
  | { type: "topicDeleted"; name: string };

/** What the retention actor needs. */
export interface RetentionDeps {
  store: Store;
  sweepMs: number;
  /** Audit records older than this are pruned. */
  auditRetentionMs: number;
  registry: client.Registry;
}

/** The retention actor's behavior. */
export function retentionBehavior(
  deps: RetentionDeps,
): Behavior<null, RetentionMsg> {
  const expired = new client.Counter({
    name: "miranda_events_expired_total",
    help:
      "Events that left their topic's retention undelivered, per topic (one per subscription that missed it)",
    labelNames: ["topic"],
    registers: [deps.registry],
  });
  const arm = (ctx: ActorContext<RetentionMsg>) =>
    ctx.setTimeout(() => tell(ctx.self, { type: "sweep" }), deps.sweepMs);
  return {
    name: "retention",
    init(ctx) {
      arm(ctx);
      return null;
    },
    async handle(state, msg, ctx) {
      switch (msg.type) {
        case "sweep": {
          // A store that cannot write (a full disk, a read-only file
          // system) fails the sweep: the next one tries again. Panicking
          // instead would restart the actor on every sweep and, with a
          // short sweep interval, escalate and stop the node.
          try {
            await sweep(ctx);
          } catch (error) {
            ctx.log.warn(
              "retention sweep failed; trying again at the next one",
              errorFields(error),
            );
          }
          arm(ctx);
          return state;
        }
        case "topicDeleted":
          await forgetSeries(expired, "topic", msg.name);
          return state;
        default: {
          const _exhaustive: never = msg;
          return state;
        }
      }
    },
  };

  async function sweep(ctx: ActorContext<RetentionMsg>): Promise<void> {
    const now = ctx.clock.now();
    for (const topic of await deps.store.topics.list()) {
      try {
        const result = await deps.store.events.expire(
          topic.id,
          now - topic.retentionMs,
        );
        if (result.expiredUndelivered > 0) {
          expired.inc({ topic: topic.name }, result.expiredUndelivered);
          ctx.log.warn("events expired undelivered", {
            topic: topic.name,
            ...result,
          });
        }
      } catch (error) {
        if (!(error instanceof SealedError)) throw error;
      }
    }
    const pruned = await deps.store.audit.prune(
      new Date(now - deps.auditRetentionMs).toISOString(),
    );
    if (pruned > 0) {
      ctx.log.info("pruned audit records past retention", {
        count: pruned,
      });
    }
  }
}
