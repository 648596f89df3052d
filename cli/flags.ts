/**
 * Command-specific flags (those that are not configuration keys), taken
 * out of the arguments the config loader left over.
 *
 * @module
 */

import { ConfigError } from "../config/load.ts";

/** Removes `--name VALUE` or `--name=VALUE` from `args` and returns the value. */
export function takeFlag(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === name) {
      const value = args[i + 1];
      if (value === undefined) {
        throw new ConfigError(`Flag "${name}" needs a value`, name);
      }
      args.splice(i, 2);
      return value;
    }
    if (arg.startsWith(`${name}=`)) {
      args.splice(i, 1);
      return arg.slice(name.length + 1);
    }
  }
  return undefined;
}

/** Like {@linkcode takeFlag} for a whole number within `[min, max]`. */
export function takeIntegerFlag(
  args: string[],
  name: string,
  range: { min: number; max: number },
): number | undefined {
  const text = takeFlag(args, name);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < range.min || n > range.max) {
    throw new ConfigError(
      `Flag "${name}" must be a whole number from ${range.min} to ${range.max}, got "${text}"`,
      name,
    );
  }
  return n;
}

/** Removes a boolean `--name` from `args`; true when it was there. */
export function takeSwitch(args: string[], name: string): boolean {
  const index = args.indexOf(name);
  if (index === -1) return false;
  args.splice(index, 1);
  return true;
}
