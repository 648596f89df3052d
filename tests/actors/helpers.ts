/**
 * Shared fixtures for the actor tests: a fake clock adapted to `Clock`, a
 * probe behavior that counts its lifecycle, and a macrotask flush.
 *
 * @module
 */

import { createClock } from "@sinonjs/fake-timers";
import type { Clock, TimerHandle } from "../../actors/clock.ts";
import type { Behavior, Reply } from "../../actors/types.ts";

/** A `Clock` driven by `@sinonjs/fake-timers`; `tick` advances it. */
export interface FakeClock extends Clock {
  /** Advances time by `ms`, firing due timers. */
  tick(ms: number): void;
  /** How many timers are set and not yet fired or cleared. */
  pendingTimers(): number;
}

/** Creates a fake clock starting at `start` ms. */
export function fakeClock(start = 0): FakeClock {
  const fake = createClock(start);
  type FakeHandle = ReturnType<typeof fake.setTimeout>;
  // fake-timers hands out its own handle objects; they only travel back to it.
  return {
    now: () => fake.now,
    setTimeout: (fn, ms) => fake.setTimeout(fn, ms) as unknown as TimerHandle,
    clearTimeout: (handle) =>
      fake.clearTimeout(handle as unknown as FakeHandle),
    tick: (ms) => {
      fake.tick(ms);
    },
    pendingTimers: () => fake.countTimers(),
  };
}

/** Lets every pending microtask chain finish (one real macrotask turn). */
export function flush(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Messages the probe understands. */
export type ProbeMsg =
  // append n to the log
  | { type: "push"; n: number }
  // append n after an await
  | { type: "pushAsync"; n: number }
  // answer with the log
  | { type: "get"; reply: Reply<number[]> }
  // throw (sync) every time
  | { type: "crash"; reply?: Reply<string> }
  // reject (async) every time
  | { type: "crashAsync" }
  // throw only the first time this message object is handled
  | { type: "flaky"; reply?: Reply<string> }
  // accept and never answer
  | { type: "ignore"; reply: Reply<string> }
  // block until the given promise resolves
  | { type: "wait"; until: Promise<void> }
  // stop normally
  | { type: "stop" }
  // arm a ctx timer whose callback throws after ms
  | { type: "failTimer"; ms: number }
  // start a ctx task that rejects
  | { type: "failTask" }
  // create a rejected promise nobody awaits
  | { type: "leakRejection" };

/** Lifecycle counters of a probe, surviving its restarts. */
export interface ProbeStats {
  inits: number;
  terminates: number;
  /** Set to make the next inits throw. */
  failInit: boolean;
  handled: string[];
}

/** A probe actor named `name`; its state is the log of pushed numbers. */
export function probe(
  name: string,
): { behavior: Behavior<number[], ProbeMsg>; stats: ProbeStats } {
  const stats: ProbeStats = {
    inits: 0,
    terminates: 0,
    failInit: false,
    handled: [],
  };
  const flaky = new WeakSet<object>();
  const behavior: Behavior<number[], ProbeMsg> = {
    name,
    init() {
      stats.inits++;
      if (stats.failInit) throw new Error(`init of "${name}" failed`);
      return [];
    },
    handle(state, msg, ctx) {
      stats.handled.push(msg.type);
      switch (msg.type) {
        case "push":
          return [...state, msg.n];
        case "pushAsync":
          return Promise.resolve().then(() => [...state, msg.n]);
        case "get":
          msg.reply(state);
          return state;
        case "crash":
          throw new Error("crash on purpose");
        case "crashAsync":
          return Promise.reject(new Error("async crash on purpose"));
        case "flaky":
          if (!flaky.has(msg)) {
            flaky.add(msg);
            throw new Error("flaky once");
          }
          msg.reply?.("ok");
          return state;
        case "ignore":
          return state;
        case "wait":
          return msg.until.then(() => state);
        case "stop":
          ctx.stop();
          return state;
        case "failTimer":
          ctx.setTimeout(() => {
            throw new Error("timer failed");
          }, msg.ms);
          return state;
        case "failTask":
          ctx.spawnTask(() => Promise.reject(new Error("task failed")));
          return state;
        case "leakRejection":
          Promise.reject(new Error("nobody awaits me"));
          return state;
        default: {
          const _exhaustive: never = msg;
          return _exhaustive;
        }
      }
    },
    terminate() {
      stats.terminates++;
    },
  };
  return { behavior, stats };
}
