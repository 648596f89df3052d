/**
 * Token buckets keyed by a string (a user name): each key may take
 * `ratePerSecond` units a second on average and `burst` at once. Unlike the
 * fixed window of `RateLimiter` (`rate_limit.ts`), a steady caller below the
 * rate is never refused at a window's edge. Memory is bounded: past `maxKeys`
 * buckets the least recently created goes (its key starts full again).
 *
 * @module
 */

import type { Clock } from "../actors/clock.ts";
import { systemClock } from "../actors/clock.ts";
import type { RateDecision } from "./rate_limit.ts";

interface Bucket {
  tokens: number;
  at: number;
}

/** Per-key token buckets of one rate and burst. */
export class TokenBuckets {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #maxKeys: number;
  readonly #clock: Clock;

  /** Buckets refilled at `ratePerSecond` (> 0) and holding at most `burst` (≥ 1). */
  constructor(options: {
    ratePerSecond: number;
    burst: number;
    maxKeys?: number;
    clock?: Clock;
  }) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1)) {
      throw new RangeError("A token bucket needs a rate > 0 and a burst ≥ 1");
    }
    this.ratePerSecond = options.ratePerSecond;
    this.burst = options.burst;
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#clock = options.clock ?? systemClock;
  }

  /** Takes one unit for `key`, or says how long until one is there. */
  take(key: string): RateDecision {
    const now = this.#clock.monotonic?.() ?? this.#clock.now();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#maxKeys) {
        const oldest = this.#buckets.keys().next().value!;
        this.#buckets.delete(oldest);
      }
      bucket = { tokens: this.burst, at: now };
      this.#buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(
        this.burst,
        bucket.tokens + (now - bucket.at) * this.ratePerSecond / 1000,
      );
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return {
      ok: false,
      retryAfterSeconds: Math.max(
        1,
        Math.ceil((1 - bucket.tokens) / this.ratePerSecond),
      ),
    };
  }
}
