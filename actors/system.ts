/**
 * The actor system: spawns supervised actors, sends them messages (`tell`,
 * `ask`), applies the panic mode when the root supervisor gives up, keeps the
 * poison messages, and stops everything in reverse start order.
 *
 * @example
 * ```ts
 * await using system = new ActorSystem({ log, registry });
 * const counter = await system.spawn(counterBehavior);
 * tell(counter, { type: "add", n: 1 });
 * const n = await ask(counter, (reply) => ({ type: "get", reply }), { timeoutMs: 1000 });
 * ```
 *
 * @module
 */

import type { Registry } from "prom-client";
import { ActorCell, registerAsk, unregisterAsk } from "./cell.ts";
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";
import { type Deadline, Deadlines } from "./deadlines.ts";
import { ActorStoppedError, AskTimeoutError } from "./errors.ts";
import { type FaultInjection, withInjectedFaults } from "./fault_injection.ts";
import { createActorMetrics } from "./metrics.ts";
import {
  type Runtime,
  type SupervisedChild,
  Supervisor,
} from "./supervisor.ts";
import type {
  ActorRef,
  Behavior,
  PanicMode,
  PoisonRecord,
  Reply,
  ReplyValue,
  RestartIntensity,
  RestartType,
} from "./types.ts";
import { errorFields, type Logger } from "../observability/logger.ts";

/** Default restart intensity: 5 restarts in 10 s. */
export const DEFAULT_INTENSITY: RestartIntensity = {
  maxRestarts: 5,
  periodMs: 10_000,
};
/** Default mailbox capacity. */
export const DEFAULT_MAILBOX_CAPACITY = 1024;
/** Default bound on draining mailboxes in `stop`. */
export const DEFAULT_STOP_TIMEOUT_MS = 5_000;
/** Poison records kept; older ones are dropped first. */
export const POISON_LIMIT = 1000;

/** Options of {@linkcode ActorSystem}. */
export interface ActorSystemOptions {
  /** Logger for panics, restarts, escalations. */
  log: Logger;
  /** Registry the runtime's metrics are registered on. */
  registry: Registry;
  /** Clock for ask deadlines, timers and restart windows; the system clock by default. */
  clock?: Clock;
  /** What the root does when it gives up; `halt` by default. */
  panicMode?: PanicMode;
  /** Default restart intensity; 5 in 10 s by default. */
  intensity?: RestartIntensity;
  /** Default mailbox capacity; 1024 by default. */
  mailboxCapacity?: number;
  /** called at root escalation for halt/shutdown */
  exit?: (code: number, reason: string) => void | Promise<void>;
  /** Chaos tests only: handlers throw at this rate. Off by default. */
  faultInjection?: FaultInjection | null;
}

/** Options of {@linkcode ActorSystem.spawn}. */
export interface SpawnOptions {
  /** Supervisor to start under; the root by default. */
  supervisor?: Supervisor;
  /** Restart type; `permanent` by default. */
  restart?: RestartType;
  /** Restart intensity; the supervisor's by default. */
  intensity?: RestartIntensity;
  /** Mailbox capacity; the system's by default. */
  mailboxCapacity?: number;
}

/** Sends `msg` to `ref`; throws `MailboxFullError` when full, `ActorStoppedError` when stopped. */
export function tell<M>(ref: ActorRef<M>, msg: NoInfer<M>): void {
  cellOf(ref).offer(msg as Msg);
}

/**
 * Sends the message built by `make` and resolves with the value passed to
 * its reply. Rejects with `AskTimeoutError` after `timeoutMs` (system
 * clock), `MailboxFullError`, `ActorStoppedError`, or `ActorPanicError` when
 * the message turned out to be poison.
 *
 * `M` is `const` so the message literal keeps its `type` literal and is
 * checked against the ref's union; `T` defaults to the reply types of that
 * union, or comes from the expected result type, or is given explicitly
 * (`ask<TopicMsg, Topic>(…)`).
 */
export function ask<const M, T = ReplyValue<M>>(
  ref: ActorRef<M>,
  make: (reply: Reply<T>) => M,
  options: { timeoutMs: number },
): Promise<T> {
  const cell = cellOf(ref);
  const { promise, resolve, reject } = Promise.withResolvers<T>();
  let settled = false;
  let deadline: Deadline | undefined = undefined;
  // Set once offered. An answered ask is forgotten at once: an entry left
  // for the garbage collector keeps the message (its body with it) alive
  // through the young generation's collections into the old one.
  let registered: Msg | undefined = undefined;
  const settle = (): void => {
    settled = true;
    deadline?.cancel();
    if (registered !== undefined) unregisterAsk(registered);
  };
  const fail = (error: Error): void => {
    if (settled) return;
    settle();
    reject(error);
  };
  const msg = make((value) => {
    if (settled) return;
    settle();
    resolve(value);
  });
  try {
    cell.offer(msg as Msg);
  } catch (error) {
    fail(error as Error);
    return promise;
  }
  // Answered before it was even set (a synchronous reply): nothing to time.
  if (settled) return promise;
  registered = msg as Msg;
  registerAsk(registered, fail);
  deadline = cell.deadlines.add(options.timeoutMs, () => {
    fail(
      new AskTimeoutError(cell.name, (msg as Msg).type, options.timeoutMs),
    );
  });
  return promise;
}

type Msg = { type: string };
// deno-lint-ignore no-explicit-any
type AnyCell = ActorCell<any, Msg>;

function cellOf<M>(ref: ActorRef<M>): AnyCell {
  if (!(ref instanceof ActorCell)) {
    throw new TypeError(`Not an actor ref: "${String(ref?.name)}"`);
  }
  return ref;
}

/** Supervised actors, their root supervisor, and the panic mode. */
export class ActorSystem implements AsyncDisposable {
  /** The root supervisor. */
  readonly root: Supervisor;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #panicMode: PanicMode;
  readonly #mailboxCapacity: number;
  readonly #exit: (code: number, reason: string) => void | Promise<void>;
  readonly #runtime: Runtime;
  readonly #faults: FaultInjection | null;
  readonly #cells = new Map<string, AnyCell>();
  readonly #poison: PoisonRecord[] = [];
  #healthy = true;
  #lastRecovery: number | undefined;
  #recoveryTimer: TimerHandle | undefined;
  #stopped: Promise<void> | undefined;

  /** Creates a system with an empty root supervisor. */
  constructor(options: ActorSystemOptions) {
    this.#log = options.log;
    this.#clock = options.clock ?? systemClock;
    this.#panicMode = options.panicMode ?? "halt";
    this.#mailboxCapacity = options.mailboxCapacity ??
      DEFAULT_MAILBOX_CAPACITY;
    this.#exit = options.exit ?? ((code) => Deno.exit(code));
    this.#faults = options.faultInjection ?? null;
    this.#runtime = {
      clock: this.#clock,
      deadlines: new Deadlines(this.#clock),
      log: this.#log,
      metrics: createActorMetrics(options.registry, () => this.#cells.values()),
      stopping: false,
      escalate: (reason) => this.#escalate(reason),
      recordPoison: (record) => {
        if (this.#poison.push(record) > POISON_LIMIT) this.#poison.shift();
      },
      unregister: (child) => {
        if (this.#cells.get(child.name) === child) {
          this.#cells.delete(child.name);
          // Its timing series goes too: thousands of stopped couriers must
          // not keep a histogram each.
          this.#runtime.metrics.messageSeconds.remove({ actor: child.name });
        }
      },
    };
    this.root = new Supervisor("root", this.#runtime, {
      intensity: options.intensity ?? DEFAULT_INTENSITY,
    });
  }

  /** false once the root escalated (node not ready) */
  get healthy(): boolean {
    return this.#healthy;
  }

  /** spawn a supervised child under root or under `supervisor`; resolves after `init` ran */
  async spawn<S, M extends { type: string }>(
    behavior: Behavior<S, M>,
    options: SpawnOptions = {},
  ): Promise<ActorRef<M>> {
    const supervisor = options.supervisor ?? this.root;
    if (this.#runtime.stopping) throw new ActorStoppedError(behavior.name);
    if (this.#cells.has(behavior.name)) {
      throw new Error(`Actor name "${behavior.name}" is already in use`);
    }
    const cell = new ActorCell<S, M>(
      {
        behavior: this.#faults === null
          ? behavior
          : withInjectedFaults(behavior, this.#faults),
        restart: options.restart ?? "permanent",
        intensity: options.intensity ?? supervisor.intensity,
        mailboxCapacity: options.mailboxCapacity ?? this.#mailboxCapacity,
      },
      supervisor,
      this.#runtime,
    );
    this.#cells.set(cell.name, cell as unknown as AnyCell);
    await supervisor.add(cell as SupervisedChild);
    return cell;
  }

  /** create a child supervisor (for e.g. a delivery supervisor of couriers) */
  supervisor(
    name: string,
    options: { parent?: Supervisor; intensity?: RestartIntensity } = {},
  ): Supervisor {
    const parent = options.parent ?? this.root;
    return new Supervisor(name, this.#runtime, {
      parent,
      intensity: options.intensity ?? parent.intensity,
    });
  }

  /**
   * Stops one actor normally (never restarted): refuses new messages, lets
   * queued ones be handled (bounded by `timeoutMs`), runs `terminate`.
   */
  async stopActor<M>(
    ref: ActorRef<M>,
    options: { timeoutMs?: number } = {},
  ): Promise<void> {
    const cell = cellOf(ref);
    cell.stopAccepting();
    await this.#within(
      cell.idle(),
      options.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
    );
    await cell.supervisor.remove(cell);
  }

  /** poison messages set aside, oldest first */
  poison(): readonly PoisonRecord[] {
    return this.#poison;
  }

  /** stop everything: stop accepting, drain mailboxes (bounded by timeoutMs), run terminate, in reverse start order */
  stop(options: { timeoutMs?: number } = {}): Promise<void> {
    this.#stopped ??= this.#stop(
      options.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
    );
    return this.#stopped;
  }

  /** Same as `stop()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #stop(timeoutMs: number): Promise<void> {
    this.#runtime.stopping = true;
    if (this.#recoveryTimer !== undefined) {
      this.#clock.clearTimeout(this.#recoveryTimer);
      this.#recoveryTimer = undefined;
    }
    const cells = [...this.#cells.values()];
    for (const cell of cells) cell.stopAccepting();
    const drained = await this.#within(
      Promise.all(cells.map((cell) => cell.idle())),
      timeoutMs,
    );
    if (!drained) {
      this.#log.warn("Stop timed out draining mailboxes", { timeoutMs });
    }
    await this.root.close();
    this.#runtime.deadlines.close();
  }

  /** Resolves true when `work` settles within `ms`, false on the deadline. */
  async #within(work: Promise<unknown>, ms: number): Promise<boolean> {
    let timer: TimerHandle | undefined;
    const deadline = new Promise<boolean>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve(false), ms);
    });
    try {
      return await Promise.race([work.then(() => true), deadline]);
    } finally {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
    }
  }

  #escalate(reason: string): void {
    this.#healthy = false;
    this.#log.error("Root supervisor gave up", {
      reason,
      panicMode: this.#panicMode,
    });
    switch (this.#panicMode) {
      case "halt":
        this.#callExit(reason);
        return;
      case "shutdown":
        this.stop().then(
          () => this.#callExit(reason),
          (error) => {
            this.#log.error(
              "Shutdown after escalation failed",
              errorFields(error),
            );
            this.#callExit(reason);
          },
        );
        return;
      case "continue":
        this.#recover();
        return;
      default: {
        const _exhaustive: never = this.#panicMode;
        return _exhaustive;
      }
    }
  }

  #callExit(reason: string): void {
    try {
      const result = this.#exit(1, reason);
      if (result instanceof Promise) {
        result.catch((error) =>
          this.#log.error("Exit failed", errorFields(error))
        );
      }
    } catch (error) {
      this.#log.error("Exit failed", errorFields(error));
    }
  }

  /**
   * `continue`: restart the whole tree so the node keeps serving. A second
   * escalation within the root's period waits out the rest of it, so an
   * `init` that always throws cannot spin the event loop.
   */
  #recover(): void {
    const now = this.#clock.now();
    const wait = this.#lastRecovery === undefined
      ? 0
      : Math.max(0, this.#lastRecovery + this.root.intensity.periodMs - now);
    const restart = (): void => {
      this.#recoveryTimer = undefined;
      if (this.#runtime.stopping) return;
      this.#lastRecovery = this.#clock.now();
      this.root.start().catch((error) =>
        this.#log.error("Restarting the tree failed", errorFields(error))
      );
    };
    if (wait === 0) restart();
    else this.#recoveryTimer = this.#clock.setTimeout(restart, wait);
  }
}
