/**
 * The vocabulary of the actor runtime: behaviors, refs, replies, child specs
 * and panic modes. Words follow Erlang/OTP: a *panic* is a handler that
 * throws, a supervisor *restarts* children within a restart *intensity*, and
 * *escalates* past it.
 *
 * @module
 */

import type { Clock, TimerHandle } from "./clock.ts";
import type { Logger } from "../observability/logger.ts";

export type { TimerHandle } from "./clock.ts";

/** The reply slot an `ask` message carries; the handler calls it once. */
export type Reply<T> = (value: T) => void;

/** The value types the `reply` slots of message union `M` accept. */
export type ReplyValue<M> = M extends { reply: Reply<infer R> } ? R : never;

/** What a handler may touch besides its state: itself, time, logs, timers, tasks. */
export interface ActorContext<M> {
  /** This actor's own ref (stable across restarts). */
  self: ActorRef<M>;
  /** The injected clock. */
  clock: Clock;
  /** A logger bound to `{ actor: name }`. */
  log: Logger;
  /** timer whose callback errors are routed to this actor's supervisor as panics */
  setTimeout(fn: () => void | Promise<void>, ms: number): TimerHandle;
  /** Cancels a timer set with {@linkcode ActorContext.setTimeout}. */
  clearTimeout(h: TimerHandle): void;
  /** run background async work; a rejection is a panic of this actor */
  spawnTask(work: () => Promise<void>): void;
  /**
   * Stops this actor normally once the current message is handled: a
   * `permanent` actor is restarted, `transient` and `temporary` ones are not.
   */
  stop(): void;
}

/** Actor logic: `init` builds the state, `handle` folds one message into it. */
export interface Behavior<S, M extends { type: string }> {
  /** Actor name: unique among live actors, used in logs and metric labels. */
  name: string;
  /** Builds the state (from the store in real actors); runs again after every restart. */
  init(ctx: ActorContext<M>): S | Promise<S>;
  /** Handles one message and returns the next state; a throw is a panic. */
  handle(state: S, msg: M, ctx: ActorContext<M>): S | Promise<S>;
  /** optional cleanup on stop/restart */
  terminate?(state: S, ctx: ActorContext<M>): void | Promise<void>;
}

declare const acceptedMessage: unique symbol;

/** Address of an actor; pass it to `tell` and `ask`. */
export interface ActorRef<M> {
  /** The actor's name. */
  readonly name: string;
  /** number of queued messages */
  readonly depth: number;
  /** Type-level only: makes `ActorRef<A>` and `ActorRef<B>` incompatible. */
  readonly [acceptedMessage]?: (msg: M) => void;
}

/** What the root does when its restart intensity is exceeded. */
export type PanicMode = "halt" | "shutdown" | "continue";

/** At most `maxRestarts` restarts of one child within `periodMs`. */
export interface RestartIntensity {
  /** Restarts allowed within the period; one more escalates. */
  maxRestarts: number;
  /** Length of the sliding window, in milliseconds of the injected clock. */
  periodMs: number;
}

/** OTP restart types: which exits a supervisor answers with a restart. */
export type RestartType = "permanent" | "transient" | "temporary";

/** How a supervisor starts and restarts one actor. */
export interface ChildSpec<S, M extends { type: string }> {
  /** The actor's logic. */
  behavior: Behavior<S, M>;
  /** permanent: always restarted; transient: only after a panic; temporary: never. */
  restart: RestartType;
  /** Restart intensity for this child. */
  intensity: RestartIntensity;
  /** Mailbox capacity. */
  mailboxCapacity: number;
}

/** A message set aside after making its actor panic twice. */
export interface PoisonRecord {
  /** Actor that panicked. */
  actor: string;
  /** The message's `type`. */
  messageType: string;
  /** Message of the second error. */
  error: string;
  /** When it was set aside (injected clock, ms since the epoch). */
  time: number;
  /** The message object itself, for inspection. */
  message: unknown;
}
