/**
 * The probes' measuring loop: runs each way `calls` times, `atOnce` calls
 * awaited together, twice round, and prints per call the wall time, this
 * process's main-thread CPU time and its CPU time over every thread.
 *
 * @module
 */

import { say } from "../log.ts";
import { cpuSeconds } from "../procs.ts";

/** Times each `[label, call]` per call; `unit` names a call in the output. */
export async function timePerCall(
  ways: readonly (readonly [string, () => Promise<unknown>])[],
  options: { calls: number; atOnce: number; unit: string },
): Promise<void> {
  for (let round = 0; round < 2; round++) {
    for (const [label, call] of ways) {
      const before = await cpuSeconds(Deno.pid);
      const t0 = performance.now();
      for (let done = 0; done < options.calls; done += options.atOnce) {
        await Promise.all(Array.from({ length: options.atOnce }, call));
      }
      const wall = (performance.now() - t0) / 1000;
      const after = await cpuSeconds(Deno.pid);
      const per = (seconds: number) =>
        (seconds * 1e6 / options.calls).toFixed(1);
      say(
        `${label}: ${per(wall)} µs wall, ${
          per(after.mainThread - before.mainThread)
        } µs of this thread, ${
          per(after.process - before.process)
        } µs of every thread, per ${options.unit}`,
      );
    }
  }
}
