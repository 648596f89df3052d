/**
 * Durations as the API writes them: a whole number and a unit, `30s`,
 * `15m`, `12h`, `7d`.
 *
 * @module
 */

import { z } from "@hono/zod-openapi";

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Milliseconds of a duration like `7d`; null when malformed. */
export function parseDuration(text: string): number | null {
  const match = /^(\d{1,6})([smhd])$/.exec(text);
  if (!match) return null;
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** Formats milliseconds as the largest whole unit. */
export function formatDuration(ms: number): string {
  for (const unit of ["d", "h", "m"] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${Math.round(ms / 1_000)}s`;
}

/** A retention period from one minute to ten years, as milliseconds. */
export const RETENTION = z.string().regex(
  /^\d{1,6}[smhd]$/,
  'Use a number and a unit: "30m", "12h", "7d"',
)
  .transform((text, ctx) => {
    const ms = parseDuration(text)!;
    if (ms < 60_000 || ms > 3_650 * 86_400_000) {
      ctx.addIssue({
        code: "custom",
        message: "Retention must be from 1m to 3650d",
      });
      return z.NEVER;
    }
    return ms;
  });
