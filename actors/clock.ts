/**
 * The clock every actor reads time and sets timers through, so tests can
 * hand in a fake one.
 *
 * @module
 */

/** Opaque handle of a timer set through a {@linkcode Clock}. */
export type TimerHandle = ReturnType<typeof setTimeout>;

/** Time and timers, injectable. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Milliseconds on a clock that never jumps (deadlines); `now` when absent,
   * as in fake clocks.
   */
  monotonic?(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock, backed by `Date.now` and the global timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle),
};
