/**
 * Deadlines of request body reads: long (30 s by default) and nearly always
 * met within milliseconds, thousands a second. The actors' `Deadlines`
 * keeps every entry behind the oldest one still running, so one slow upload
 * would hold 30 s of requests' entries (~200,000 at full ingest) in the
 * heap; these keep only the reads still running, in a set that one timer
 * sweeps a few times per deadline while any is running. A read fails
 * between `ms` and `ms` plus one sweep after it began.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../actors/clock.ts";

interface Read {
  started: number;
  expire: () => void;
}

/** Deadlines of one length for reads in progress. */
export class ReadDeadlines {
  readonly ms: number;
  readonly #sweepMs: number;
  readonly #clock: Clock;
  readonly #reads = new Set<Read>();
  #timer: TimerHandle | null = null;
  #closed = false;

  /** Reads may take `ms`; swept every tenth of it (10 ms to 1 s). */
  constructor(ms: number, clock: Clock) {
    this.ms = ms;
    this.#sweepMs = Math.max(10, Math.min(1_000, Math.floor(ms / 10)));
    this.#clock = clock;
  }

  #now(): number {
    return this.#clock.monotonic?.() ?? this.#clock.now();
  }

  /** Calls `expire` once the read has run `ms`, unless the returned `done` is called first. */
  begin(expire: () => void): () => void {
    if (this.#closed) return () => {};
    const read: Read = { started: this.#now(), expire };
    this.#reads.add(read);
    if (this.#timer === null) {
      this.#timer = this.#clock.setTimeout(() => this.#sweep(), this.#sweepMs);
    }
    return () => {
      this.#reads.delete(read);
    };
  }

  #sweep(): void {
    this.#timer = null;
    const due = this.#now() - this.ms;
    for (const read of this.#reads) {
      if (read.started > due) continue;
      this.#reads.delete(read);
      read.expire();
    }
    if (this.#reads.size > 0 && !this.#closed) {
      this.#timer = this.#clock.setTimeout(() => this.#sweep(), this.#sweepMs);
    }
  }

  /** Stops the timer; reads in progress never expire. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#reads.clear();
  }
}
