/**
 * Turns an actor's result union into a value or a problem: the one place
 * where actor failure codes meet HTTP statuses.
 *
 * @module
 */

import { type ProblemCode, ProblemError } from "./problem.ts";

/** A failure as actors answer it. */
export interface ActorFailure {
  ok: false;
  code: ProblemCode;
  detail: string;
}

/** The value of an `ok` result; throws the failure as a problem. */
export function unwrap<T>(result: { ok: true; value: T } | ActorFailure): T {
  if (result.ok) return result.value;
  throw new ProblemError(result.code, { detail: result.detail });
}
