/**
 * The `delivery` actor: the front of the delivery supervisor. It keeps one
 * courier per active subscription owned by this node, spawned under a child
 * supervisor (`couriers`) so that a courier's panic restarts that courier
 * only, and routes wake-ups by topic.
 *
 * The map of couriers lives in the behavior's closure, not in the state:
 * it mirrors actors that outlive a restart of this actor, so a restart must
 * not forget them (their names would stay taken).
 *
 * Who may tell it: the `event` actor (`wake`), the `subscription` actor
 * (`start`, `stop`, `update`, `replay`), the `cluster` actor (`start`,
 * `stop` on ownership changes). It asks no one; couriers never ask it.
 *
 * @module
 */

import { type ActorSystem, tell } from "./system.ts";
import type { Supervisor } from "./supervisor.ts";
import type { ActorRef, Behavior, Reply } from "./types.ts";
import {
  courierBehavior,
  type CourierMsg,
  type CourierWaits,
} from "./courier.ts";
import type { Random } from "../delivery/backoff.ts";
import {
  createDeliveryMetrics,
  type DeliveryMetrics,
} from "../delivery/metrics.ts";
import type {
  DeliveryStore,
  EventStore,
  SigningSecrets,
  SubscriptionRecord,
} from "../store/mod.ts";
import type { Registry } from "prom-client";
import { errorFields } from "../observability/logger.ts";

/** Messages of the delivery actor. */
export type DeliveryMsg =
  /** Start (or update) the courier of an active subscription. */
  | {
    type: "start";
    subscription: SubscriptionRecord;
    topicName: string;
    reply?: Reply<boolean>;
  }
  /** Stop a subscription's courier (paused, deleted, owned elsewhere). */
  | { type: "stop"; subscriptionId: string; reply?: Reply<boolean> }
  /** New settings of a subscription. */
  | { type: "update"; subscription: SubscriptionRecord }
  /** Events were committed for a topic: wake its couriers. */
  | { type: "wake"; topicId: string }
  /** Failed events of a subscription were marked for replay. */
  | { type: "replay"; subscriptionId: string }
  /** The node sealed: every courier drops the plaintext events it holds. */
  | { type: "sealed" };

/** What the delivery actor needs. */
export interface DeliveryDeps {
  system: ActorSystem;
  events: EventStore;
  deliveries: DeliveryStore;
  /** A subscription's signing secrets; throws when it has none. */
  secrets: (subscriptionId: string) => Promise<SigningSecrets>;
  /** A subscriber answered 410: mark the subscription paused as gone (tell only). */
  onGone: (subscription: SubscriptionRecord) => void | Promise<void>;
  /** Where delivery metrics go; none when absent. */
  registry?: Registry;
  waits: CourierWaits;
  random?: Random;
  recordFlushMs: number;
  /** One HTTP client for every courier (see `CourierDeps.client`). */
  client?: Deno.HttpClient;
  /** Supervisor of the couriers; a new `couriers` under the root by default. */
  supervisor?: Supervisor;
}

/** State: the topic → subscriptions index, rebuilt from the live couriers. */
export interface DeliveryState {
  byTopic: Map<string, Set<string>>;
}

interface Courier {
  ref: ActorRef<CourierMsg>;
  topicId: string;
}

/** The delivery actor's behavior. */
export function deliveryBehavior(
  deps: DeliveryDeps,
): Behavior<DeliveryState, DeliveryMsg> {
  const supervisor = deps.supervisor ?? deps.system.supervisor("couriers");
  const metrics: DeliveryMetrics | undefined = deps.registry
    ? createDeliveryMetrics(deps.registry)
    : undefined;
  const couriers = new Map<string, Courier>();

  function index(
    state: DeliveryState,
    subscriptionId: string,
    topicId: string,
  ) {
    let ids = state.byTopic.get(topicId);
    if (ids === undefined) {
      ids = new Set();
      state.byTopic.set(topicId, ids);
    }
    ids.add(subscriptionId);
  }

  function unindex(
    state: DeliveryState,
    subscriptionId: string,
    topicId: string,
  ) {
    const ids = state.byTopic.get(topicId);
    ids?.delete(subscriptionId);
    if (ids?.size === 0) state.byTopic.delete(topicId);
  }

  async function stopCourier(
    state: DeliveryState,
    subscriptionId: string,
  ): Promise<boolean> {
    const courier = couriers.get(subscriptionId);
    if (courier === undefined) return false;
    couriers.delete(subscriptionId);
    unindex(state, subscriptionId, courier.topicId);
    await deps.system.stopActor(courier.ref);
    return true;
  }

  function courierTell(
    ctx: { log: { warn(msg: string, fields?: Record<string, unknown>): void } },
    subscriptionId: string,
    msg: CourierMsg,
  ): void {
    const courier = couriers.get(subscriptionId);
    if (courier === undefined) return;
    try {
      tell(courier.ref, msg);
    } catch (error) {
      // A full courier mailbox already holds a wake; nothing is lost.
      ctx.log.warn("Could not tell courier", {
        subscription: subscriptionId,
        messageType: msg.type,
        ...errorFields(error),
      });
    }
  }

  return {
    name: "delivery",
    init() {
      const state: DeliveryState = { byTopic: new Map() };
      for (const [subscriptionId, courier] of couriers) {
        index(state, subscriptionId, courier.topicId);
      }
      return state;
    },
    async handle(state, msg, ctx) {
      switch (msg.type) {
        case "start": {
          const { subscription, topicName } = msg;
          const existing = couriers.get(subscription.id);
          if (existing !== undefined) {
            if (existing.topicId !== subscription.topicId) {
              await stopCourier(state, subscription.id);
            } else {
              courierTell(ctx, subscription.id, {
                type: "updated",
                subscription,
              });
              msg.reply?.(true);
              return state;
            }
          }
          const ref = await deps.system.spawn(
            courierBehavior({
              subscription,
              topicName,
              events: deps.events,
              deliveries: deps.deliveries,
              secrets: () => deps.secrets(subscription.id),
              onGone: deps.onGone,
              waits: deps.waits,
              recordFlushMs: deps.recordFlushMs,
              ...(deps.client ? { client: deps.client } : {}),
              ...(metrics ? { metrics } : {}),
              ...(deps.random ? { random: deps.random } : {}),
            }),
            { supervisor },
          );
          couriers.set(subscription.id, {
            ref,
            topicId: subscription.topicId,
          });
          index(state, subscription.id, subscription.topicId);
          msg.reply?.(true);
          return state;
        }
        case "stop": {
          // Not inside `reply?.(…)`: a tell has no reply, and an optional
          // call skips evaluating its arguments.
          const stopped = await stopCourier(state, msg.subscriptionId);
          msg.reply?.(stopped);
          return state;
        }
        case "update": {
          courierTell(ctx, msg.subscription.id, {
            type: "updated",
            subscription: msg.subscription,
          });
          return state;
        }
        case "wake": {
          for (const subscriptionId of state.byTopic.get(msg.topicId) ?? []) {
            courierTell(ctx, subscriptionId, { type: "wake" });
          }
          return state;
        }
        case "replay": {
          courierTell(ctx, msg.subscriptionId, { type: "replay" });
          return state;
        }
        case "sealed": {
          for (const subscriptionId of couriers.keys()) {
            courierTell(ctx, subscriptionId, { type: "reset" });
          }
          return state;
        }
        default: {
          const _exhaustive: never = msg;
          return state;
        }
      }
    },
  };
}
