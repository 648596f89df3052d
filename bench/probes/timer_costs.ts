/**
 * What a delivery attempt's timeout costs to set and call off, 64 attempts
 * at a time: a timer of its own (`setTimeout` / `clearTimeout`, Node-compat
 * timers in Deno) against the shared deadlines a courier passes
 * (`actors/deadlines.ts`, one timer per length). Prints µs per attempt.
 *
 * `deno run -A bench/probes/timer_costs.ts`
 *
 * @module
 */

import { systemClock } from "../../actors/clock.ts";
import { Deadlines } from "../../actors/deadlines.ts";
import { say } from "../log.ts";

const ATTEMPTS = 200_000;
const AT_ONCE = 64;
const TIMEOUT_MS = 30_000;
const deadlines = new Deadlines(systemClock);

const ways: [string, () => () => void][] = [
  ["own timer", () => {
    const timer = setTimeout(() => {}, TIMEOUT_MS);
    return () => clearTimeout(timer);
  }],
  ["shared deadlines", () => {
    const deadline = deadlines.add(TIMEOUT_MS, () => {});
    return () => deadline.cancel();
  }],
];

for (let round = 0; round < 2; round++) {
  for (const [label, set] of ways) {
    const t0 = performance.now();
    for (let done = 0; done < ATTEMPTS; done += AT_ONCE) {
      const cancels = Array.from({ length: AT_ONCE }, set);
      await Promise.resolve();
      for (const cancel of cancels) cancel();
    }
    const micros = (performance.now() - t0) * 1000 / ATTEMPTS;
    say(`${label}: ${micros.toFixed(2)} µs per attempt`);
  }
}
deadlines.close();
