/**
 * Body read deadlines: a read still running `ms` after it began expires (at
 * the next sweep), one done before never does, the timer runs only while
 * reads do, and `close` stops it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ReadDeadlines } from "../../http/read_deadlines.ts";
import { fakeClock } from "../actors/helpers.ts";

Deno.test("read deadlines: a read still running after ms expires at the next sweep; one done in time never does", () => {
  const clock = fakeClock(0);
  const deadlines = new ReadDeadlines(1_000, clock); // swept every 100 ms
  const expired: string[] = [];
  deadlines.begin(() => expired.push("slow"));
  const done = deadlines.begin(() => expired.push("quick"));
  clock.tick(500);
  done();
  clock.tick(450);
  assert.deepEqual(expired, []);
  clock.tick(100);
  assert.deepEqual(expired, ["slow"]);
  clock.tick(5_000);
  assert.deepEqual(expired, ["slow"]);
});

Deno.test("read deadlines: reads begun later expire later, and the timer stops once none runs", () => {
  const clock = fakeClock(0);
  const deadlines = new ReadDeadlines(200, clock); // swept every 20 ms
  const expired: number[] = [];
  deadlines.begin(() => expired.push(1));
  clock.tick(100);
  deadlines.begin(() => expired.push(2));
  clock.tick(120);
  assert.deepEqual(expired, [1]);
  clock.tick(100);
  assert.deepEqual(expired, [1, 2]);
  // Nothing left: no timer is armed (the fake clock has none pending).
  assert.equal(clock.pendingTimers(), 0);
});

Deno.test("read deadlines: close stops the timer and no read expires after it", () => {
  const clock = fakeClock(0);
  const deadlines = new ReadDeadlines(100, clock);
  const expired: number[] = [];
  deadlines.begin(() => expired.push(1));
  deadlines.close();
  assert.equal(clock.pendingTimers(), 0);
  deadlines.begin(() => expired.push(2));
  clock.tick(1_000);
  assert.deepEqual(expired, []);
});
