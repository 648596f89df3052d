/**
 * The `delivery` actor: the front of the delivery supervisor. It keeps one
 * courier per active subscription owned by this node, spawned under a child
 * supervisor (`couriers`) so that a courier's panic restarts that courier
 * only, and routes wake-ups by topic.
 *
 * A courier that has had nothing to do for a while (`sleepAfterMs`) says so
 * (`idle`) and is stopped; its
 * subscription sleeps as a map entry until a wake, an update or a replay for
 * it starts a courier again, which rebuilds its place from the store. Each
 * message told to a running courier is numbered, and an idle report that
 * has not heard the latest is ignored, so no wake is lost to a sleep.
 *
 * The map of couriers lives in the behavior's closure, not in the state:
 * it mirrors actors that outlive a restart of this actor, so a restart must
 * not forget them (their names would stay taken).
 *
 * Who may tell it: the `event` actor (`wake`), the `subscription` actor
 * (`start`, `stop`, `update`, `replay`), the `cluster` actor (`start`,
 * `stop` on ownership changes), couriers (`idle`). It asks no one; couriers
 * never ask it.
 *
 * @module
 */

import { type ActorSystem, tell } from "./system.ts";
import { ActorStoppedError } from "./errors.ts";
import type { Supervisor } from "./supervisor.ts";
import type { ActorRef, Behavior, Reply } from "./types.ts";
import { forgetSeries } from "../observability/forget_series.ts";
import {
  courierBehavior,
  type CourierMsg,
  type CourierWaits,
} from "./courier.ts";
import type { Random } from "../delivery/backoff.ts";
import type { Slots } from "../delivery/slots.ts";
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
import type { Sender } from "../delivery/sender.ts";
import { errorFields, type Logger } from "../observability/logger.ts";

/** Messages of the delivery actor. */
export type DeliveryMsg =
  /** Start (or update) the courier of an active subscription. */
  | {
    type: "start";
    subscription: SubscriptionRecord;
    topicName: string;
    reply?: Reply<boolean>;
  }
  /**
   * Stop a subscription's courier (paused, deleted, owned elsewhere); a
   * deleted subscription's counters are dropped too.
   */
  | {
    type: "stop";
    subscriptionId: string;
    deleted?: boolean;
    reply?: Reply<boolean>;
  }
  /** New settings of a subscription. */
  | { type: "update"; subscription: SubscriptionRecord }
  /**
   * Events were committed for a topic (`upTo`: the largest new seq, when
   * known): wake its couriers.
   */
  | { type: "wake"; topicId: string; upTo?: number }
  /** Failed events of a subscription were marked for replay. */
  | { type: "replay"; subscriptionId: string }
  /** The node sealed: every courier drops the plaintext events it holds. */
  | { type: "sealed" }
  /**
   * A courier has nothing to do (told by it). `generation` names the courier
   * started for the subscription, `heard` as in `CourierDeps.onIdle`.
   */
  | {
    type: "idle";
    subscriptionId: string;
    generation: number;
    heard: number;
  };

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
  /** Idle time after which a courier sleeps; {@linkcode COURIER_SLEEP_AFTER_MS} by default. */
  sleepAfterMs?: number;
  /** Node-wide cap on sends in flight (see `CourierDeps.slots`). */
  slots?: Slots;
  /** One HTTP client for every courier (see `CourierDeps.client`). */
  client?: Sender;
  /** The one for couriers sending one at a time (see `CourierDeps.directClient`). */
  directClient?: Sender;
  /** Supervisor of the couriers; a new `couriers` under the root by default. */
  supervisor?: Supervisor;
}

/** State: the topic → subscriptions index, rebuilt from the live couriers. */
export interface DeliveryState {
  byTopic: Map<string, Set<string>>;
}

/**
 * How long a courier stays up with nothing to do before it sleeps: long
 * enough that a steady trickle of events never pays a courier start each.
 */
export const COURIER_SLEEP_AFTER_MS = 10_000;

/** The courier messages the delivery actor tells, each numbered. */
type NumberedMsg = Extract<
  CourierMsg,
  { type: "wake" | "reset" | "updated" | "replay" }
>;

/** A subscription this node delivers, with its courier when one runs. */
interface Courier {
  subscription: SubscriptionRecord;
  topicName: string;
  /** The running courier; null while the subscription sleeps. */
  ref: ActorRef<CourierMsg> | null;
  /** Couriers started for the subscription so far. */
  generation: number;
  /** Messages told to the running courier (each carries its number). */
  told: number;
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

  /** Starts the courier of a sleeping subscription. */
  async function wakeUp(
    entry: Courier,
    self: ActorRef<DeliveryMsg>,
    log: Logger,
  ): Promise<void> {
    const { subscription, topicName } = entry;
    const generation = ++entry.generation;
    entry.told = 0;
    const onIdle = (heard: number) => {
      try {
        tell(self, {
          type: "idle",
          subscriptionId: subscription.id,
          generation,
          heard,
        });
      } catch (error) {
        // Lost, the report only leaves the courier up until its next idle.
        log.debug("Could not report an idle courier", errorFields(error));
      }
    };
    entry.ref = await deps.system.spawn(
      courierBehavior({
        subscription,
        topicName,
        events: deps.events,
        deliveries: deps.deliveries,
        secrets: () => deps.secrets(subscription.id),
        onGone: deps.onGone,
        onIdle,
        sleepAfterMs: deps.sleepAfterMs ?? COURIER_SLEEP_AFTER_MS,
        waits: deps.waits,
        recordFlushMs: deps.recordFlushMs,
        ...(deps.client ? { client: deps.client } : {}),
        ...(deps.directClient ? { directClient: deps.directClient } : {}),
        ...(deps.slots ? { slots: deps.slots } : {}),
        ...(metrics ? { metrics } : {}),
        ...(deps.random ? { random: deps.random } : {}),
      }),
      { supervisor },
    );
  }

  async function stopCourier(
    state: DeliveryState,
    subscriptionId: string,
  ): Promise<boolean> {
    const entry = couriers.get(subscriptionId);
    if (entry === undefined) return false;
    couriers.delete(subscriptionId);
    unindex(state, subscriptionId, entry.subscription.topicId);
    if (entry.ref !== null) await deps.system.stopActor(entry.ref);
    // The subscription's series (couriers leave them, asleep or restarted).
    metrics?.live.remove({ subscription: subscriptionId });
    metrics?.backlog.remove({ subscription: subscriptionId });
    return true;
  }

  /**
   * Tells a subscription's courier `msg`, numbered; a sleeping subscription
   * gets a courier instead, whose start reads everything `msg` would say
   * (settings, log, replays) from the store and its entry.
   */
  async function courierTell(
    ctx: { self: ActorRef<DeliveryMsg>; log: Logger },
    subscriptionId: string,
    msg: NumberedMsg,
  ): Promise<void> {
    const entry = couriers.get(subscriptionId);
    if (entry === undefined) return;
    if (entry.ref === null) {
      await wakeUp(entry, ctx.self, ctx.log);
      return;
    }
    try {
      tell(entry.ref, { ...msg, n: entry.told + 1 });
      entry.told++;
    } catch (error) {
      if (error instanceof ActorStoppedError) {
        // Left stopping by a sleep whose stop failed: finish that stop (it
        // frees the name), then start a new courier.
        await deps.system.stopActor(entry.ref).catch(() => {});
        entry.ref = null;
        await wakeUp(entry, ctx.self, ctx.log);
        return;
      }
      // A full courier mailbox already holds a wake; nothing is lost.
      ctx.log.warn("Could not tell courier", {
        subscription: subscriptionId,
        messageType: msg.type,
        ...errorFields(error),
      });
    }
  }

  /** Puts a courier that reported idle to sleep, unless a message crossed the report. */
  async function sleep(
    msg: Extract<DeliveryMsg, { type: "idle" }>,
    log: Logger,
  ): Promise<void> {
    const entry = couriers.get(msg.subscriptionId);
    if (
      entry === undefined || entry.ref === null ||
      entry.generation !== msg.generation || entry.told !== msg.heard
    ) return;
    try {
      await deps.system.stopActor(entry.ref);
      entry.ref = null;
      log.debug("Courier asleep until its next wake", {
        subscription: msg.subscriptionId,
      });
    } catch (error) {
      log.warn("Could not stop an idle courier", {
        subscription: msg.subscriptionId,
        ...errorFields(error),
      });
    }
  }

  return {
    name: "delivery",
    init() {
      const state: DeliveryState = { byTopic: new Map() };
      for (const [subscriptionId, entry] of couriers) {
        index(state, subscriptionId, entry.subscription.topicId);
      }
      return state;
    },
    async handle(state, msg, ctx) {
      switch (msg.type) {
        case "start": {
          const { subscription, topicName } = msg;
          const existing = couriers.get(subscription.id);
          if (
            existing !== undefined &&
            existing.subscription.topicId !== subscription.topicId
          ) {
            await stopCourier(state, subscription.id);
          } else if (existing !== undefined) {
            existing.subscription = subscription;
            existing.topicName = topicName;
            await courierTell(ctx, subscription.id, {
              type: "updated",
              subscription,
            });
            msg.reply?.(true);
            return state;
          }
          const entry: Courier = {
            subscription,
            topicName,
            ref: null,
            generation: 0,
            told: 0,
          };
          couriers.set(subscription.id, entry);
          index(state, subscription.id, subscription.topicId);
          await wakeUp(entry, ctx.self, ctx.log);
          msg.reply?.(true);
          return state;
        }
        case "stop": {
          // Not inside `reply?.(…)`: a tell has no reply, and an optional
          // call skips evaluating its arguments.
          const stopped = await stopCourier(state, msg.subscriptionId);
          if (msg.deleted && metrics) {
            const id = msg.subscriptionId;
            await forgetSeries(metrics.deliveries, "subscription", id);
            await forgetSeries(metrics.failures, "subscription", id);
          }
          msg.reply?.(stopped);
          return state;
        }
        case "update": {
          const entry = couriers.get(msg.subscription.id);
          if (entry === undefined) return state;
          entry.subscription = msg.subscription;
          await courierTell(ctx, msg.subscription.id, {
            type: "updated",
            subscription: msg.subscription,
          });
          return state;
        }
        case "wake": {
          for (const subscriptionId of state.byTopic.get(msg.topicId) ?? []) {
            await courierTell(
              ctx,
              subscriptionId,
              msg.upTo === undefined
                ? { type: "wake" }
                : { type: "wake", upTo: msg.upTo },
            );
          }
          return state;
        }
        case "replay": {
          await courierTell(ctx, msg.subscriptionId, { type: "replay" });
          return state;
        }
        case "sealed": {
          // Sleeping subscriptions hold nothing.
          for (const [subscriptionId, entry] of couriers) {
            if (entry.ref === null) continue;
            await courierTell(ctx, subscriptionId, { type: "reset" });
          }
          return state;
        }
        case "idle": {
          await sleep(msg, ctx.log);
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
