/**
 * Fault injection for chaos tests ONLY, never for production: when
 * configured, every actor's `handle` throws before doing anything, at a
 * given rate, so that supervision, restarts and poison handling are
 * exercised under load. Off unless both `MIRANDA_FAULT_INJECTION=1` and
 * `MIRANDA_FAULT_PANIC_RATE` are set; a rate without the switch is refused.
 *
 * @module
 */

import type { Behavior } from "./types.ts";

/** Injected panics: the rate (0–1) and the random source. */
export interface FaultInjection {
  panicRate: number;
  random: () => number;
}

/** The error an injected panic throws. */
export class InjectedFault extends Error {
  override name = "InjectedFault";
  constructor(readonly actor: string, readonly messageType: string) {
    super(`Injected fault in "${actor}" handling "${messageType}"`);
  }
}

/** The fault-injection settings are inconsistent (a rate without the switch, a bad rate). */
export class FaultInjectionConfigError extends Error {
  override name = "FaultInjectionConfigError";
}

/**
 * Reads the fault-injection settings from the environment: null when off.
 * Throws {@linkcode FaultInjectionConfigError} for a rate given without
 * `MIRANDA_FAULT_INJECTION=1` or a rate outside 0–1.
 */
export function faultInjectionFromEnv(
  env: (name: string) => string | undefined,
): FaultInjection | null {
  const rateText = env("MIRANDA_FAULT_PANIC_RATE") ?? "";
  const enabled = env("MIRANDA_FAULT_INJECTION") === "1";
  if (rateText === "") return null;
  if (!enabled) {
    throw new FaultInjectionConfigError(
      `MIRANDA_FAULT_PANIC_RATE is set to "${rateText}" but MIRANDA_FAULT_INJECTION=1 is not: fault injection is for chaos tests only`,
    );
  }
  const panicRate = Number(rateText);
  if (!Number.isFinite(panicRate) || panicRate < 0 || panicRate > 1) {
    throw new FaultInjectionConfigError(
      `MIRANDA_FAULT_PANIC_RATE must be a number from 0 to 1, not "${rateText}"`,
    );
  }
  return { panicRate, random: Math.random };
}

/** `behavior` with a `handle` that throws {@linkcode InjectedFault} at the configured rate. */
export function withInjectedFaults<S, M extends { type: string }>(
  behavior: Behavior<S, M>,
  faults: FaultInjection,
): Behavior<S, M> {
  return {
    ...behavior,
    handle(state, msg, ctx) {
      if (faults.random() < faults.panicRate) {
        throw new InjectedFault(behavior.name, msg.type);
      }
      return behavior.handle(state, msg, ctx);
    },
  };
}
