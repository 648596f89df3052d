/**
 * The client's address as the listener saw it (no proxy headers are
 * trusted). `Deno.serve` hands its connection info to Hono as `c.env`.
 *
 * @module
 */

import type { Context } from "hono";

/** The remote IP of the request, or `"unknown"` (e.g. in-process tests). */
export function clientAddress(c: Context): string {
  const env = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  return env?.remoteAddr?.hostname ?? "unknown";
}
