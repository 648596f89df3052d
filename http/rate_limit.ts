/**
 * A fixed-window rate limiter keyed by a string (client address, user
 * name). Memory is bounded: windows that have ended are dropped, and past
 * `maxKeys` live keys the oldest are evicted.
 *
 * @module
 */

import type { Clock } from "../actors/clock.ts";
import { systemClock } from "../actors/clock.ts";

/** The outcome of taking one unit from the limiter. */
export type RateDecision = { ok: true } | {
  ok: false;
  retryAfterSeconds: number;
};

/** Allows `limit` events per `windowMs` per key. */
export class RateLimiter {
  #windows = new Map<string, { start: number; count: number }>();
  #limit: number;
  #windowMs: number;
  #maxKeys: number;
  #clock: Clock;

  constructor(
    options: {
      limit: number;
      windowMs: number;
      maxKeys?: number;
      clock?: Clock;
    },
  ) {
    this.#limit = options.limit;
    this.#windowMs = options.windowMs;
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#clock = options.clock ?? systemClock;
  }

  /** Counts one event for `key`; refuses it when the window's budget is spent. */
  take(key: string): RateDecision {
    const now = this.#clock.now();
    let window = this.#windows.get(key);
    if (!window || now - window.start >= this.#windowMs) {
      this.#windows.delete(key);
      window = { start: now, count: 0 };
      this.#evict(now);
      this.#windows.set(key, window);
    }
    if (window.count >= this.#limit) {
      return {
        ok: false,
        retryAfterSeconds: Math.max(
          1,
          Math.ceil((window.start + this.#windowMs - now) / 1000),
        ),
      };
    }
    window.count++;
    return { ok: true };
  }

  #evict(now: number): void {
    if (this.#windows.size < this.#maxKeys) return;
    for (const [key, window] of this.#windows) {
      if (
        now - window.start >= this.#windowMs ||
        this.#windows.size >= this.#maxKeys
      ) this.#windows.delete(key);
      else break;
    }
  }
}
