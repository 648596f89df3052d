/**
 * Per-key token buckets: a burst is let through and the next take refused
 * with the wait until a token is back, tokens come back at the rate and
 * never past the burst, keys do not share a bucket, and past `maxKeys` the
 * oldest bucket goes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { TokenBuckets } from "../../http/token_buckets.ts";
import { fakeClock } from "../actors/helpers.ts";

Deno.test("token buckets: a burst passes, the next take waits for the rate, and keys are independent", () => {
  const clock = fakeClock(1_000);
  const buckets = new TokenBuckets({ ratePerSecond: 2, burst: 3, clock });
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(buckets.take("ann"), { ok: true });
  }
  assert.deepEqual(buckets.take("ann"), { ok: false, retryAfterSeconds: 1 });
  assert.deepEqual(buckets.take("bob"), { ok: true });
  clock.tick(499);
  assert.equal(buckets.take("ann").ok, false);
  clock.tick(1);
  assert.deepEqual(buckets.take("ann"), { ok: true });
  assert.equal(buckets.take("ann").ok, false);
  // A long pause refills to the burst, not beyond it.
  clock.tick(60_000);
  for (let i = 0; i < 3; i++) assert.equal(buckets.take("ann").ok, true);
  assert.equal(buckets.take("ann").ok, false);
});

Deno.test("token buckets: a slow rate says how many seconds until the next token", () => {
  const clock = fakeClock(0);
  const buckets = new TokenBuckets({ ratePerSecond: 0.25, burst: 1, clock });
  assert.equal(buckets.take("ann").ok, true);
  assert.deepEqual(buckets.take("ann"), { ok: false, retryAfterSeconds: 4 });
  clock.tick(3_000);
  assert.deepEqual(buckets.take("ann"), { ok: false, retryAfterSeconds: 1 });
});

Deno.test("token buckets: past maxKeys the oldest bucket goes and its key starts full", () => {
  const clock = fakeClock(0);
  const buckets = new TokenBuckets({
    ratePerSecond: 1,
    burst: 1,
    maxKeys: 2,
    clock,
  });
  assert.equal(buckets.take("a").ok, true);
  assert.equal(buckets.take("b").ok, true);
  assert.equal(buckets.take("a").ok, false);
  assert.equal(buckets.take("c").ok, true); // evicts "a"
  assert.equal(buckets.take("b").ok, false);
  assert.equal(buckets.take("a").ok, true); // full again; evicts "b"
  assert.equal(buckets.take("c").ok, false);
});

Deno.test("token buckets: a rate of 0 or a burst under 1 is refused", () => {
  assert.throws(() => new TokenBuckets({ ratePerSecond: 0, burst: 1 }));
  assert.throws(() => new TokenBuckets({ ratePerSecond: 1, burst: 0 }));
});
