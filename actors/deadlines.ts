/**
 * Ask deadlines, many per timer. A timer per ask (set, then cleared when
 * the answer comes) costs 2–4 µs on this runtime (more on a slow machine),
 * and a published event makes two asks. Deadlines of one length fall in the
 * order they were set, so each length keeps a queue with one timer armed for
 * its earliest live deadline; an answered ask only marks its entry.
 *
 * A queue left with nothing live keeps its timer: asks answered one at a
 * time would otherwise clear it and arm a new one per ask (a profile of the
 * publish path showed that at 5 % of the thread). The timer finds nothing
 * due when it fires and stops; {@linkcode Deadlines.close} stops every timer
 * at once (the actor system's stop).
 *
 * @module
 */

import type { Clock, TimerHandle } from "./clock.ts";

/** A deadline that may still be called off. */
export interface Deadline {
  /** Calls the deadline off; its callback never runs. */
  cancel(): void;
}

interface Entry {
  at: number;
  expire: (() => void) | null;
}

interface Queue {
  entries: Entry[];
  /** Index of the first entry not yet expired or dropped. */
  head: number;
  /** Entries whose callback may still run. */
  live: number;
  timer: TimerHandle | null;
}

/** Compacts a queue's array once this many dropped entries lead it. */
const COMPACT_AT = 1024;

/** Deadlines on one clock, grouped by length. */
export class Deadlines {
  readonly #clock: Clock;
  readonly #queues = new Map<number, Queue>();

  /** Deadlines measured and timed by `clock`. */
  constructor(clock: Clock) {
    this.#clock = clock;
  }

  // A wall clock stepped forward must not expire every deadline at once.
  #now(): number {
    return this.#clock.monotonic?.() ?? this.#clock.now();
  }

  /** Calls `expire` once `ms` have passed, unless cancelled first. */
  add(ms: number, expire: () => void): Deadline {
    let queue = this.#queues.get(ms);
    if (queue === undefined) {
      queue = { entries: [], head: 0, live: 0, timer: null };
      this.#queues.set(ms, queue);
    }
    const entry: Entry = { at: this.#now() + ms, expire };
    queue.entries.push(entry);
    queue.live++;
    if (queue.timer === null) this.#arm(queue, ms);
    const q = queue;
    return {
      cancel: () => {
        if (entry.expire === null) return;
        entry.expire = null;
        this.#dropped(q);
      },
    };
  }

  #dropped(queue: Queue): void {
    queue.live--;
    if (queue.live === 0) {
      // Nothing live: the entries can go; the timer stays (see the module).
      queue.entries = [];
      queue.head = 0;
      return;
    }
    // Deadlines of one length are mostly called off in the order they were
    // set: drop the called-off ones that lead the queue now rather than
    // when the timer comes (a busy node would otherwise hold every ask of
    // the last deadline's length).
    const { entries } = queue;
    while (
      queue.head < entries.length && entries[queue.head]!.expire === null
    ) {
      queue.head++;
    }
    if (queue.head >= COMPACT_AT && queue.head * 2 > entries.length) {
      queue.entries = entries.slice(queue.head);
      queue.head = 0;
      return;
    }
    // One ask left unanswered at the head keeps the rest from leading: once
    // the called-off entries behind it outnumber the live ones, keep only
    // the live (in order). Each sweep follows as many cancels as it visits
    // entries, at most twice over.
    const calledOff = entries.length - queue.head - queue.live;
    if (calledOff >= COMPACT_AT && calledOff > queue.live) {
      const live: Entry[] = [];
      for (let i = queue.head; i < entries.length; i++) {
        const entry = entries[i]!;
        if (entry.expire !== null) live.push(entry);
      }
      queue.entries = live;
      queue.head = 0;
    }
  }

  /** Entries held over all lengths, live or called off but not yet dropped. */
  held(): number {
    let held = 0;
    for (const queue of this.#queues.values()) {
      held += queue.entries.length - queue.head;
    }
    return held;
  }

  /** Stops every timer; deadlines not yet due never run. */
  close(): void {
    for (const queue of this.#queues.values()) {
      if (queue.timer !== null) this.#clock.clearTimeout(queue.timer);
      queue.timer = null;
      for (let i = queue.head; i < queue.entries.length; i++) {
        queue.entries[i]!.expire = null;
      }
      queue.entries = [];
      queue.head = 0;
      queue.live = 0;
    }
  }

  #arm(queue: Queue, ms: number): void {
    queue.timer = this.#clock.setTimeout(() => this.#fire(queue), ms);
  }

  #fire(queue: Queue): void {
    queue.timer = null;
    const now = this.#now();
    const { entries } = queue;
    while (queue.head < entries.length) {
      const entry = entries[queue.head]!;
      if (entry.expire !== null && entry.at > now) break;
      queue.head++;
      const expire = entry.expire;
      if (expire === null) continue;
      entry.expire = null;
      queue.live--;
      expire();
    }
    if (queue.head >= COMPACT_AT && queue.head * 2 > queue.entries.length) {
      queue.entries = queue.entries.slice(queue.head);
      queue.head = 0;
    }
    const next = queue.entries[queue.head];
    if (queue.live > 0 && next !== undefined && queue.timer === null) {
      this.#arm(queue, Math.max(0, next.at - now));
    } else if (queue.live === 0) {
      queue.entries = [];
      queue.head = 0;
    }
  }
}
