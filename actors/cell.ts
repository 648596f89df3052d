/**
 * The running side of one actor: its mailbox, state and message loop, its
 * timers and tasks, and the panic bookkeeping (retry once, then poison). The
 * cell is also the actor's {@linkcode ActorRef}: it outlives restarts, so
 * refs and queued messages survive them.
 *
 * The loop drains the mailbox synchronously while handlers return plain
 * values, awaits only handlers that return a promise, and yields to the event
 * loop with one `setImmediate` (after pending I/O, without the clamping of
 * `setTimeout(0)`) every {@linkcode YIELD_EVERY} messages so a busy actor
 * cannot starve I/O.
 *
 * @module
 */

import type { Clock, TimerHandle } from "./clock.ts";
import type { Deadlines } from "./deadlines.ts";
import {
  ActorPanicError,
  ActorStoppedError,
  MailboxFullError,
} from "./errors.ts";
import { Mailbox } from "./mailbox.ts";
import type { Runtime, SupervisedChild, Supervisor } from "./supervisor.ts";
import type {
  ActorContext,
  ActorRef,
  Behavior,
  ChildSpec,
  RestartIntensity,
  RestartType,
} from "./types.ts";
import { errorFields, type Logger } from "../observability/logger.ts";
import type { Histogram } from "prom-client";
import { clearImmediate, setImmediate } from "node:timers";

/** Messages handled back to back before the loop yields a macrotask. */
const YIELD_EVERY = 1024;

// Pending asks by message object: a poison or a stop rejects the asker at
// once instead of letting it wait for its deadline.
const pendingAsks = new WeakMap<object, (error: Error) => void>();

/** Internal: remembers how to reject the `ask` that sent `msg`. */
export function registerAsk(msg: object, reject: (error: Error) => void): void {
  pendingAsks.set(msg, reject);
}

/** Internal: forgets the `ask` that sent `msg` once it is answered. */
export function unregisterAsk(msg: object): void {
  pendingAsks.delete(msg);
}

function rejectAsk(msg: object, error: Error): void {
  const reject = pendingAsks.get(msg);
  if (reject === undefined) return;
  pendingAsks.delete(msg);
  reject(error);
}

// down: no state; starting: init running; running: loop may run;
// halted: crashed or stopped normally, waiting for the supervisor (state
// kept for terminate); dead: closed for good.
type Status = "down" | "starting" | "running" | "halted" | "dead";

/** Internal: one supervised actor; the object is also its ref. */
export class ActorCell<S, M extends { type: string }>
  implements ActorRef<M>, SupervisedChild {
  /** The actor's name. */
  readonly name: string;
  /** Its restart type. */
  readonly restart: RestartType;
  /** Its restart intensity. */
  readonly intensity: RestartIntensity;
  /** Its supervisor. */
  readonly supervisor: Supervisor;
  readonly #behavior: Behavior<S, M>;
  readonly #rt: Runtime;
  readonly #mailbox: Mailbox<M>;
  readonly #log: Logger;
  readonly #ctx: ActorContext<M>;
  readonly #timing: Histogram.Internal<"actor">;
  readonly #timers = new Set<TimerHandle>();
  #status: Status = "down";
  #accepting = true;
  #state: S | undefined;
  #hasState = false;
  // Bumped whenever an incarnation ends, so late results of its handlers,
  // timers and tasks are recognised and dropped.
  #generation = 0;
  // A drain is scheduled, running, or waiting for an async handler.
  #busy = false;
  // Guards against a stale scheduled drain running next to a fresh one.
  #scheduled = false;
  #sinceYield = 0;
  #yieldTimer: ReturnType<typeof setImmediate> | undefined;
  #current: M | undefined;
  #retry: M | undefined;
  #exitRequested = false;
  #starting: Promise<void> | undefined;
  #idleWaiters: (() => void)[] = [];

  /** Internal: use `ActorSystem.spawn`. */
  constructor(spec: ChildSpec<S, M>, supervisor: Supervisor, runtime: Runtime) {
    this.name = spec.behavior.name;
    this.restart = spec.restart;
    this.intensity = spec.intensity;
    this.supervisor = supervisor;
    this.#behavior = spec.behavior;
    this.#rt = runtime;
    this.#mailbox = new Mailbox<M>(spec.mailboxCapacity);
    this.#log = runtime.log.child({ actor: this.name });
    this.#timing = runtime.metrics.messageSeconds.labels({ actor: this.name });
    this.#ctx = {
      self: this,
      clock: runtime.clock,
      log: this.#log,
      setTimeout: (fn, ms) => this.#setTimer(fn, ms),
      clearTimeout: (handle) => {
        this.#timers.delete(handle);
        runtime.clock.clearTimeout(handle);
      },
      spawnTask: (work) => {
        const generation = this.#generation;
        // Started in a later microtask so a synchronous throw is a rejection
        // too, and never lands in the middle of the current handler.
        Promise.resolve().then(work).catch((error) =>
          this.#externalPanic("task", generation, error)
        );
      },
      stop: () => {
        this.#exitRequested = true;
        if (this.#status === "running" && this.#current === undefined) {
          this.#exit();
        }
      },
    };
  }

  /** The system's clock. */
  get clock(): Clock {
    return this.#rt.clock;
  }

  /** The system's ask deadlines. */
  get deadlines(): Deadlines {
    return this.#rt.deadlines;
  }

  /** Number of queued messages. */
  get depth(): number {
    return this.#mailbox.size;
  }

  /** Enqueues `msg`; throws when stopped or full. */
  offer(msg: M): void {
    if (!this.#accepting) throw new ActorStoppedError(this.name);
    if (!this.#mailbox.offer(msg)) {
      throw new MailboxFullError(this.name, this.#mailbox.capacity);
    }
    if (!this.#busy && this.#status === "running") this.#schedule();
  }

  /** Refuses further messages (stop in progress). */
  stopAccepting(): void {
    this.#accepting = false;
  }

  /** Resolves once the loop has nothing left to do (empty, or not running). */
  idle(): Promise<void> {
    if (!this.#busy) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Runs `init`; then resumes the mailbox. Rejects if `init` throws. */
  start(): Promise<void> {
    this.#starting ??= this.#init().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  /** Stops the loop and timers and runs `terminate` (best effort); keeps the mailbox. */
  async shutdown(): Promise<void> {
    if (this.#starting !== undefined) await this.#starting.catch(() => {});
    if (this.#status === "running") this.#halt();
    if (this.#status !== "dead") this.#status = "down";
    if (!this.#hasState) return;
    const state = this.#state as S;
    this.#hasState = false;
    this.#state = undefined;
    try {
      await this.#behavior.terminate?.(state, this.#ctx);
    } catch (error) {
      this.#log.warn("Actor terminate failed", errorFields(error));
    }
  }

  /** Stops for good: shutdown, then queued asks rejected with `ActorStoppedError`. */
  async close(): Promise<void> {
    this.#accepting = false;
    await this.shutdown();
    this.#status = "dead";
    const dropped = this.#mailbox.drain();
    for (const msg of dropped) rejectAsk(msg, new ActorStoppedError(this.name));
    if (dropped.length > 0) {
      this.#log.warn("Actor stopped with messages left", {
        dropped: dropped.length,
      });
    }
    this.#rt.unregister(this);
  }

  async #init(): Promise<void> {
    if (this.#status === "dead") throw new ActorStoppedError(this.name);
    this.#status = "starting";
    this.#exitRequested = false;
    let state: S;
    try {
      state = await this.#behavior.init(this.#ctx);
    } catch (error) {
      this.#status = "down";
      this.#log.error("Actor init failed", errorFields(error));
      this.#rt.metrics.panics.inc({ actor: this.name, message: "init" });
      throw error;
    }
    this.#state = state;
    this.#hasState = true;
    this.#status = "running";
    if (this.#exitRequested) this.#exit();
    else if (this.#mailbox.size > 0) this.#schedule();
  }

  #schedule(): void {
    this.#busy = true;
    this.#scheduled = true;
    queueMicrotask(this.#wake);
  }

  readonly #wake = (): void => {
    this.#yieldTimer = undefined;
    if (!this.#scheduled) return;
    this.#scheduled = false;
    this.#drain();
  };

  #drain(): void {
    const generation = this.#generation;
    while (this.#status === "running") {
      if (this.#sinceYield >= YIELD_EVERY) {
        this.#sinceYield = 0;
        this.#scheduled = true;
        this.#yieldTimer = setImmediate(this.#wake);
        return;
      }
      const msg = this.#mailbox.poll();
      if (msg === undefined) break;
      this.#sinceYield++;
      this.#current = msg;
      const started = performance.now();
      let next: S | Promise<S>;
      try {
        next = this.#behavior.handle(this.#state as S, msg, this.#ctx);
      } catch (error) {
        this.#panic(msg, error);
        return;
      }
      if (generation !== this.#generation) return;
      if (next instanceof Promise) {
        next.then(
          (state) => {
            if (generation !== this.#generation) return;
            this.#complete(msg, state, started);
            this.#drain();
          },
          (error) => {
            if (generation === this.#generation) this.#panic(msg, error);
          },
        );
        return;
      }
      this.#complete(msg, next, started);
    }
    if (generation === this.#generation) this.#settle();
  }

  #complete(msg: M, state: S, started: number): void {
    this.#state = state;
    this.#current = undefined;
    if (this.#retry === msg) this.#retry = undefined;
    this.#timing.observe((performance.now() - started) / 1000);
    if (this.#exitRequested) this.#exit();
  }

  /** The loop stopped: wake whoever waits for idleness. */
  #settle(): void {
    this.#busy = false;
    this.#scheduled = false;
    this.#sinceYield = 0;
    if (this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Ends the incarnation: loop, timers and pending results are cut off. */
  #halt(): void {
    this.#status = "halted";
    this.#generation++;
    if (this.#current !== undefined) {
      // Abandoned mid-handling: handle it again after the restart.
      this.#mailbox.offerFront(this.#current);
      this.#current = undefined;
    }
    if (this.#yieldTimer !== undefined) clearImmediate(this.#yieldTimer);
    this.#yieldTimer = undefined;
    for (const handle of this.#timers) this.#rt.clock.clearTimeout(handle);
    this.#timers.clear();
    this.#settle();
  }

  #panic(msg: M, error: unknown): void {
    this.#current = undefined;
    this.#log.error("Actor panicked", {
      messageType: msg.type,
      ...errorFields(error),
    });
    this.#rt.metrics.panics.inc({ actor: this.name, message: msg.type });
    if (this.restart === "temporary") {
      // Never restarted, so there is no retry to wait for.
      rejectAsk(
        msg,
        new ActorPanicError(this.name, msg.type, { cause: error }),
      );
    } else if (this.#retry === msg) {
      this.#retry = undefined;
      this.#setAside(msg, error);
    } else {
      this.#retry = msg;
      this.#mailbox.offerFront(msg);
    }
    this.#halt();
    this.supervisor.childFailed(this, error);
  }

  #setAside(msg: M, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.#rt.recordPoison({
      actor: this.name,
      messageType: msg.type,
      error: message,
      time: this.#rt.clock.now(),
      message: msg,
    });
    this.#rt.metrics.poisonMessages.inc({ actor: this.name });
    this.#log.error("Poison message set aside", {
      messageType: msg.type,
      error: message,
    });
    rejectAsk(msg, new ActorPanicError(this.name, msg.type, { cause: error }));
  }

  /** A `ctx.setTimeout` callback or `ctx.spawnTask` work failed. */
  #externalPanic(
    kind: "timer" | "task",
    generation: number,
    error: unknown,
  ): void {
    if (generation !== this.#generation || this.#status !== "running") {
      this.#log.error("Failure of a stale timer or task ignored", {
        messageType: kind,
        ...errorFields(error),
      });
      return;
    }
    this.#log.error("Actor panicked", {
      messageType: kind,
      ...errorFields(error),
    });
    this.#rt.metrics.panics.inc({ actor: this.name, message: kind });
    this.#halt();
    this.supervisor.childFailed(this, error);
  }

  #exit(): void {
    this.#exitRequested = false;
    this.#log.info("Actor stopped normally");
    this.#halt();
    this.supervisor.childExited(this);
  }

  #setTimer(fn: () => void | Promise<void>, ms: number): TimerHandle {
    const generation = this.#generation;
    const handle = this.#rt.clock.setTimeout(() => {
      this.#timers.delete(handle);
      if (generation !== this.#generation) return;
      try {
        const result = fn();
        if (result instanceof Promise) {
          result.catch((error) =>
            this.#externalPanic("timer", generation, error)
          );
        }
      } catch (error) {
        this.#externalPanic("timer", generation, error);
      }
    }, ms);
    this.#timers.add(handle);
    return handle;
  }
}
