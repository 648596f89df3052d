import assert from "node:assert/strict";
import { Deadlines } from "../../actors/deadlines.ts";
import type { Clock, TimerHandle } from "../../actors/clock.ts";
import { fakeClock } from "./helpers.ts";

/** A fake clock that also counts the timers armed and still pending. */
function countingClock() {
  const clock = fakeClock(1_000);
  const pending = new Set<TimerHandle>();
  let armed = 0;
  const counted: Clock & { tick(ms: number): void } = {
    now: clock.now,
    tick: clock.tick,
    setTimeout: (fn, ms) => {
      armed++;
      const handle = clock.setTimeout(() => {
        pending.delete(handle);
        fn();
      }, ms);
      pending.add(handle);
      return handle;
    },
    clearTimeout: (handle) => {
      pending.delete(handle);
      clock.clearTimeout(handle);
    },
  };
  return { clock: counted, pending, armed: () => armed };
}

Deno.test("deadlines: each expires once its time has passed, in order, and never when cancelled", () => {
  const { clock } = countingClock();
  const deadlines = new Deadlines(clock);
  const fired: string[] = [];
  deadlines.add(100, () => fired.push("a"));
  clock.tick(10);
  const b = deadlines.add(100, () => fired.push("b"));
  clock.tick(10);
  deadlines.add(100, () => fired.push("c"));
  deadlines.add(30, () => fired.push("short"));
  b.cancel();
  clock.tick(29);
  assert.deepEqual(fired, []);
  clock.tick(1);
  assert.deepEqual(fired, ["short"]);
  clock.tick(49);
  assert.deepEqual(fired, ["short"], "a is due at 100 ms, not before");
  clock.tick(1);
  assert.deepEqual(fired, ["short", "a"]);
  clock.tick(20);
  assert.deepEqual(fired, ["short", "a", "c"], "b was cancelled");
  b.cancel();
  clock.tick(1_000);
  assert.deepEqual(fired, ["short", "a", "c"]);
});

Deno.test("deadlines: many deadlines of one length share one timer, which stops at its firing once all are cancelled", () => {
  const { clock, pending, armed } = countingClock();
  const deadlines = new Deadlines(clock);
  const handles = Array.from(
    { length: 10_000 },
    () => deadlines.add(5_000, () => assert.fail("cancelled deadline fired")),
  );
  assert.equal(armed(), 1);
  assert.equal(pending.size, 1);
  for (const handle of handles) handle.cancel();
  clock.tick(10_000);
  assert.equal(pending.size, 0, "no timer left after its firing");
  assert.equal(armed(), 1, "not re-armed");
});

Deno.test("deadlines: asks answered one at a time arm one timer, not one each", () => {
  const { clock, pending, armed } = countingClock();
  const deadlines = new Deadlines(clock);
  for (let i = 0; i < 1_000; i++) {
    deadlines.add(5_000, () => assert.fail("answered")).cancel();
    clock.tick(1);
  }
  assert.equal(armed(), 1);
  clock.tick(5_000);
  assert.equal(pending.size, 0);
  const late = deadlines.add(5_000, () => {});
  assert.equal(armed(), 2, "a new ask after the firing arms again");
  late.cancel();
  deadlines.close();
  assert.equal(pending.size, 0);
});

Deno.test("deadlines: close stops every timer and nothing pending runs", () => {
  const { clock, pending } = countingClock();
  const deadlines = new Deadlines(clock);
  deadlines.add(100, () => assert.fail("closed"));
  deadlines.add(5_000, () => assert.fail("closed"));
  assert.equal(pending.size, 2);
  deadlines.close();
  assert.equal(pending.size, 0);
  clock.tick(10_000);
});

Deno.test("deadlines: after a burst of answered asks, the timer waits for the earliest live one only", () => {
  const { clock, armed } = countingClock();
  const deadlines = new Deadlines(clock);
  let fired = 0;
  const keep = deadlines.add(1_000, () => fired++);
  for (let i = 0; i < 5_000; i++) {
    clock.tick(0.1);
    deadlines.add(1_000, () => fired++).cancel();
  }
  clock.tick(400); // 1,900 ms: `keep` is due at 2,000
  const late = deadlines.add(1_000, () => fired++); // due at 2,900
  const armedBefore = armed();
  clock.tick(100);
  assert.equal(fired, 1, "`keep` expired");
  assert.equal(armed(), armedBefore + 1, "re-armed once, for `late`");
  keep.cancel();
  clock.tick(899);
  assert.equal(fired, 1);
  clock.tick(1);
  assert.equal(fired, 2, "`late` expired");
  late.cancel();
});

Deno.test("deadlines: a wall clock stepped forward does not expire them early when the clock has a monotonic time", () => {
  const { clock } = countingClock();
  let wallJump = 0;
  const stepping = {
    ...clock,
    now: () => clock.now() + wallJump,
    monotonic: () => clock.now(),
  };
  const deadlines = new Deadlines(stepping);
  let fired = 0;
  deadlines.add(1_000, () => fired++);
  clock.tick(500);
  const second = deadlines.add(1_000, () => fired++);
  wallJump = 3_600_000; // an NTP step or a resumed VM
  clock.tick(500);
  assert.equal(fired, 1, "only the first is due");
  clock.tick(499);
  assert.equal(fired, 1);
  clock.tick(1);
  assert.equal(fired, 2);
  second.cancel();
});

Deno.test("deadlines: called off in order, the leading ones are dropped at once — those left still expire on time and in order, none called off ever does", () => {
  const { clock } = countingClock();
  const deadlines = new Deadlines(clock);
  const fired: number[] = [];
  const handles = Array.from(
    { length: 3_000 },
    (_, i) => deadlines.add(100, () => fired.push(i)),
  );
  // Past the compaction point (1,024 leading entries), then one out of order.
  for (let i = 0; i < 2_500; i++) handles[i]!.cancel();
  handles[2_700]!.cancel();
  assert.equal(deadlines.held(), 500);
  clock.tick(99);
  assert.equal(fired.length, 0);
  clock.tick(1);
  const expected = Array.from({ length: 500 }, (_, i) => 2_500 + i)
    .filter((i) => i !== 2_700);
  assert.deepEqual(fired, expected);
  for (const handle of handles) handle.cancel();
  const late = deadlines.add(100, () => fired.push(-1));
  clock.tick(100);
  assert.equal(fired.at(-1), -1);
  late.cancel();
});

Deno.test("deadlines: one left unanswered at the head does not make the queue hold everything called off behind it", () => {
  const { clock } = countingClock();
  const deadlines = new Deadlines(clock);
  const fired: string[] = [];
  deadlines.add(5_000, () => fired.push("stuck"));
  // A busy node: 100,000 asks behind it, at most 8 in flight, answered in
  // order, and the clock moving on (each still within its 5 s).
  const inFlight: { cancel(): void }[] = [];
  let mostHeld = 0;
  for (let i = 0; i < 100_000; i++) {
    inFlight.push(deadlines.add(5_000, () => fired.push(`ask ${i}`)));
    if (inFlight.length > 8) inFlight.shift()!.cancel();
    mostHeld = Math.max(mostHeld, deadlines.held());
    if (i % 1_000 === 0) clock.tick(1);
  }
  // Compaction is amortised: never more than twice the threshold (1,024).
  assert.ok(mostHeld <= 2_048 + 9, `held at most ${mostHeld}`);
  for (const ask of inFlight) ask.cancel();
  assert.ok(deadlines.held() <= 1 + 1_024, `held ${deadlines.held()}`);
  clock.tick(5_000);
  assert.deepEqual(fired, ["stuck"]);
  assert.equal(deadlines.held(), 0);
});

Deno.test("deadlines: live entries kept through compaction still expire on time and in order", () => {
  const { clock } = countingClock();
  const deadlines = new Deadlines(clock);
  const fired: number[] = [];
  const handles: { cancel(): void }[] = [];
  for (let i = 0; i < 5_000; i++) {
    handles.push(deadlines.add(10_000, () => fired.push(i)));
    if (i % 10 === 9) clock.tick(1);
  }
  // Every entry but each 500th called off, the first kept: compaction runs
  // with live entries spread through the queue.
  for (let i = 1; i < 5_000; i++) if (i % 500 !== 0) handles[i]!.cancel();
  assert.ok(deadlines.held() < 10 + 1_024, `held ${deadlines.held()}`);
  const expected = [
    0,
    500,
    1_000,
    1_500,
    2_000,
    2_500,
    3_000,
    3_500,
    4_000,
    4_500,
  ];
  // 500 ms have passed; the first ten were set at 0 and expire at 10,000.
  clock.tick(9_499);
  assert.deepEqual(fired, []);
  clock.tick(1);
  assert.deepEqual(fired, [0]);
  clock.tick(1_000);
  assert.deepEqual(fired, expected);
  assert.equal(deadlines.held(), 0);
});
