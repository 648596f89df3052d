/**
 * Waits between attempts: exponential backoff with full or decorrelated
 * jitter, capped, and the liveness probe's doubling schedule. Randomness is
 * injected so tests can pin it.
 *
 * @module
 */

/** Default cap of every wait: 5 minutes. */
export const DEFAULT_CAP_MS = 5 * 60_000;

/** A source of uniform numbers in [0, 1), like `Math.random`. */
export type Random = () => number;

/** Options of {@linkcode retryDelay}. */
export interface BackoffOptions {
  /** The first wait's scale, in ms. */
  initialMs: number;
  /** No wait is longer; {@linkcode DEFAULT_CAP_MS} by default. */
  capMs?: number;
  /** `full` (default): uniform in [0, min(cap, initial·2^n)]; `decorrelated`: uniform in [initial, 3·previous], capped. */
  jitter?: "full" | "decorrelated";
  /** `Math.random` by default. */
  random?: Random;
}

/**
 * The wait before retry number `failures` (1 after the first failure).
 * `previousMs` is the last wait, used by decorrelated jitter.
 */
export function retryDelay(
  failures: number,
  options: BackoffOptions & { previousMs?: number },
): number {
  const cap = options.capMs ?? DEFAULT_CAP_MS;
  const random = options.random ?? Math.random;
  const initial = Math.max(1, options.initialMs);
  if ((options.jitter ?? "full") === "decorrelated") {
    const previous = Math.max(initial, options.previousMs ?? initial);
    const wait = initial + random() * (previous * 3 - initial);
    return Math.min(cap, Math.round(wait));
  }
  const exponent = Math.min(Math.max(failures - 1, 0), 52);
  const ceiling = Math.min(cap, initial * 2 ** exponent);
  // Never zero: a zero wait would spin on a failing subscriber.
  return Math.max(1, Math.round(random() * ceiling));
}

/**
 * The wait before liveness probe number `probes` (1 for the first): doubling
 * from `initialMs` up to `capMs`, then every `capMs`.
 */
export function probeDelay(
  probes: number,
  options: { initialMs: number; capMs?: number },
): number {
  const cap = options.capMs ?? DEFAULT_CAP_MS;
  const exponent = Math.min(Math.max(probes - 1, 0), 52);
  return Math.min(cap, Math.max(1, options.initialMs) * 2 ** exponent);
}
