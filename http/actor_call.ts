/**
 * How a route asks an owning actor on behalf of the caller: the identity
 * and request id are attached, the deadline applied, and the result union
 * unwrapped into a value or a problem.
 *
 * @module
 */

import type { Context } from "hono";
import { ask } from "../actors/system.ts";
import type { ActorRef } from "../actors/types.ts";
import type { AppEnv } from "./env.ts";
import { requireIdentity } from "./middleware/auth.ts";
import { type ActorFailure, unwrap } from "./unwrap.ts";

/** A message as a route builds it: `callActor` adds the caller and the reply. */
export type ActorRequest<M> = M extends unknown
  ? Omit<M, "reply" | "identity" | "requestId">
  : never;

/** Asks `ref` for the authenticated caller; resolves with the value or throws the failure as a problem. */
export async function callActor<M extends { type: string }, T>(
  ref: ActorRef<M>,
  c: Context<AppEnv>,
  message: ActorRequest<M>,
  timeoutMs: number,
): Promise<T> {
  const caller = {
    identity: requireIdentity(c),
    requestId: c.get("requestId"),
  };
  const result = await ask<M, { ok: true; value: T } | ActorFailure>(
    ref,
    (reply) => ({ ...message, ...caller, reply }) as unknown as M,
    { timeoutMs },
  );
  return unwrap(result);
}
