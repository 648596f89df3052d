/**
 * OTP-style `one_for_one` supervisors. A supervisor owns an ordered list of
 * children (actors or other supervisors). When a child panics it restarts
 * that child only; past the child's restart intensity it gives up: it shuts
 * all its children down and escalates to its parent, which restarts the whole
 * subtree as one failed child. The root hands escalation to the system, which
 * applies the panic mode.
 *
 * Every structural change (restart, give-up, close) runs on one promise
 * chain per supervisor, so restarts never interleave. Operations only ever
 * wait for their own subtree, never for a parent, so the chains cannot
 * deadlock.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import type { Deadlines } from "./deadlines.ts";
import { ActorStoppedError } from "./errors.ts";
import type { ActorMetrics } from "./metrics.ts";
import type { PoisonRecord, RestartIntensity, RestartType } from "./types.ts";
import { errorFields, type Logger } from "../observability/logger.ts";

/** Services the system shares with its supervisors and actors (internal). */
export interface Runtime {
  /** The injected clock. */
  readonly clock: Clock;
  /** Ask deadlines on that clock. */
  readonly deadlines: Deadlines;
  /** The system's logger. */
  readonly log: Logger;
  /** The runtime's metrics. */
  readonly metrics: ActorMetrics;
  /** True once `ActorSystem.stop` began: no more restarts or spawns. */
  stopping: boolean;
  /** Called when the root supervisor gives up. */
  escalate(reason: string): void;
  /** Keeps a poison record. */
  recordPoison(record: PoisonRecord): void;
  /** Forgets a closed actor (name, mailbox gauge, message timing series). */
  unregister(child: SupervisedChild): void;
}

/** What a supervisor needs from a child, actor or supervisor (internal). */
export interface SupervisedChild {
  /** Name used in logs and the restarts metric. */
  readonly name: string;
  /** Which exits are answered with a restart. */
  readonly restart: RestartType;
  /** Restart intensity applied to this child. */
  readonly intensity: RestartIntensity;
  /** (Re)starts: runs `init`, or restarts a whole subtree; rejects if `init` throws. */
  start(): Promise<void>;
  /** Stops without forgetting: mailboxes and refs survive a later `start`. */
  shutdown(): Promise<void>;
  /** Stops for good. */
  close(): Promise<void>;
}

/** A `one_for_one` supervisor; create one with `ActorSystem.supervisor`. */
export class Supervisor implements SupervisedChild {
  /** Name used in logs and metrics. */
  readonly name: string;
  /** Supervisors are always restarted by their parent. */
  readonly restart: RestartType = "permanent";
  /** Default intensity of its children, and its own under its parent. */
  readonly intensity: RestartIntensity;
  /** The parent supervisor; `undefined` for the root. */
  readonly parent: Supervisor | undefined;
  readonly #rt: Runtime;
  readonly #children: SupervisedChild[] = [];
  readonly #history = new Map<SupervisedChild, number[]>();
  #ops: Promise<void> = Promise.resolve();
  #down = false;

  /** Internal: use `ActorSystem.supervisor`. */
  constructor(
    name: string,
    runtime: Runtime,
    options: { parent?: Supervisor; intensity: RestartIntensity },
  ) {
    this.name = name;
    this.#rt = runtime;
    this.parent = options.parent;
    this.intensity = options.intensity;
    if (options.parent !== undefined) options.parent.#children.push(this);
  }

  /** Internal: adds `child` last and starts it; rejects (child dropped) if its `init` throws. */
  async add(child: SupervisedChild): Promise<void> {
    if (this.#rt.stopping) throw new ActorStoppedError(child.name);
    // Added before starting so a panic right after `init` finds its supervisor;
    // started outside the chain so an `init` that spawns siblings cannot deadlock.
    this.#children.push(child);
    try {
      await child.start();
    } catch (error) {
      this.#detach(child);
      await child.close();
      throw error;
    }
  }

  /** Internal: closes `child` and forgets it (a normal stop, never restarted). */
  remove(child: SupervisedChild): Promise<void> {
    return this.#enqueue(async () => {
      if (!this.#children.includes(child)) return;
      await child.close();
      this.#detach(child);
    });
  }

  /** Internal: `child` panicked; restart it or give up. */
  childFailed(child: SupervisedChild, error: unknown): void {
    this.#later(() => this.#onExit(child, error, true));
  }

  /** Internal: `child` stopped normally (`ctx.stop()`). */
  childExited(child: SupervisedChild): void {
    this.#later(() => this.#onExit(child, undefined, false));
  }

  /** Internal: restarts the subtree: children shut down in reverse order, started again in order. */
  start(): Promise<void> {
    return this.#enqueue(async () => {
      await this.#shutdownChildren();
      this.#down = false;
      this.#history.clear();
      for (const child of [...this.#children]) {
        if (this.#down) return;
        if (child.restart === "temporary") {
          await child.close();
          this.#detach(child);
          continue;
        }
        try {
          await child.start();
        } catch (error) {
          await this.#restartChild(child, error);
        }
      }
    });
  }

  /** Internal: shuts the children down in reverse start order, keeping them. */
  shutdown(): Promise<void> {
    return this.#enqueue(() => this.#shutdownChildren());
  }

  /** Internal: closes the children in reverse start order and forgets them. */
  close(): Promise<void> {
    return this.#enqueue(async () => {
      for (let i = this.#children.length - 1; i >= 0; i--) {
        await this.#children[i]?.close();
      }
      this.#children.length = 0;
      this.#history.clear();
    });
  }

  async #onExit(
    child: SupervisedChild,
    error: unknown,
    abnormal: boolean,
  ): Promise<void> {
    if (this.#rt.stopping || this.#down || !this.#children.includes(child)) {
      return;
    }
    const restart = child.restart === "permanent" ||
      (child.restart === "transient" && abnormal);
    if (!restart) {
      await child.close();
      this.#detach(child);
      return;
    }
    await this.#restartChild(child, error);
  }

  /** Restarts `child` until its `init` succeeds or its intensity is exceeded. */
  async #restartChild(child: SupervisedChild, error: unknown): Promise<void> {
    for (;;) {
      if (this.#rt.stopping) return;
      if (!this.#allowRestart(child)) {
        await this.#giveUp(child, error);
        return;
      }
      this.#rt.metrics.restarts.inc({ actor: child.name });
      this.#rt.log.warn("Restarting child", {
        supervisor: this.name,
        child: child.name,
      });
      await child.shutdown();
      try {
        await child.start();
        return;
      } catch (initError) {
        error = initError;
      }
    }
  }

  #allowRestart(child: SupervisedChild): boolean {
    const now = this.#rt.clock.now();
    const { maxRestarts, periodMs } = child.intensity;
    let history = this.#history.get(child);
    if (history === undefined) {
      history = [];
      this.#history.set(child, history);
    }
    while (history.length > 0 && now - history[0]! >= periodMs) {
      history.shift();
    }
    if (history.length >= maxRestarts) return false;
    history.push(now);
    return true;
  }

  async #giveUp(child: SupervisedChild, error: unknown): Promise<void> {
    this.#down = true;
    const { maxRestarts, periodMs } = child.intensity;
    const reason = `Supervisor "${this.name}" gave up: child "${child.name}" ` +
      `needed more than ${maxRestarts} restarts in ${periodMs} ms`;
    this.#rt.metrics.escalations.inc({ supervisor: this.name });
    this.#rt.log.error("Restart intensity exceeded, escalating", {
      supervisor: this.name,
      child: child.name,
      reason,
      ...errorFields(error),
    });
    await this.#shutdownChildren();
    if (this.parent === undefined) {
      this.#rt.escalate(reason);
    } else {
      this.parent.childFailed(this, new Error(reason, { cause: error }));
    }
  }

  async #shutdownChildren(): Promise<void> {
    for (let i = this.#children.length - 1; i >= 0; i--) {
      await this.#children[i]?.shutdown();
    }
  }

  #detach(child: SupervisedChild): void {
    const index = this.#children.indexOf(child);
    if (index >= 0) this.#children.splice(index, 1);
    this.#history.delete(child);
    this.#rt.unregister(child);
  }

  #enqueue(op: () => Promise<void>): Promise<void> {
    const result = this.#ops.then(op);
    this.#ops = result.catch(() => {});
    return result;
  }

  #later(op: () => Promise<void>): void {
    this.#enqueue(op).catch((error) =>
      this.#rt.log.error("Supervisor operation failed", {
        supervisor: this.name,
        ...errorFields(error),
      })
    );
  }
}
