/**
 * `POST /api/v1/seal` and `POST /api/v1/unseal`: break glass, and come back.
 * Sealing (admins only) drops every key from memory at once; unsealing
 * takes the passphrase or Shamir shares, one per call, with attempts
 * rate-limited per client address. The material is its own proof, so
 * unsealing needs no login.
 *
 * @module
 */

import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { authorize } from "../../identity/authorize.ts";
import type { AppEnv } from "../env.ts";
import { clientAddress } from "../client_address.ts";
import { requireIdentity } from "../middleware/auth.ts";
import { apiRouter } from "../openapi.ts";
import { ProblemError } from "../problem.ts";
import type { RateLimiter } from "../rate_limit.ts";

/** Seal state as the API reports it. */
export interface SealState {
  sealed: boolean;
  /** Shares received so far toward unsealing. */
  progress: number;
  /** Shares needed to unseal. */
  threshold: number;
}

/** Why unseal material was refused; the detail is safe to show. */
export interface UnsealRefusal {
  ok: false;
  detail: string;
}

/** Who asks for a seal change, for the log and the audit trail. */
export interface SealCaller {
  actor: string;
  requestId: string;
  address: string;
}

/** The outcome of offering unseal material. */
export type UnsealOutcome = { ok: true; state: SealState } | UnsealRefusal;

/** What the seal routes need from the node's key holder. */
export interface SealControl {
  state(): SealState;
  seal(caller: SealCaller): void;
  unsealWithPassphrase(
    passphrase: string,
    caller: SealCaller,
  ): Promise<UnsealOutcome>;
  addShare(share: string, caller: SealCaller): Promise<UnsealOutcome>;
}

const SealStateSchema = z.object({
  sealed: z.boolean(),
  progress: z.number().int(),
  threshold: z.number().int(),
  message: z.string(),
}).openapi("SealState");

const UnsealBodySchema = z.object({
  passphrase: z.string().min(1).max(4096).optional(),
  share: z.string().min(1).max(4096).optional(),
}).strict().refine(
  (b) => (b.passphrase === undefined) !== (b.share === undefined),
  {
    message: 'Give exactly one of "passphrase" or "share"',
  },
).openapi("UnsealRequest");

const unsealRoute = createRoute({
  method: "post",
  path: "/api/v1/unseal",
  summary: "Unseal with the passphrase or one Shamir share",
  request: {
    body: {
      required: true,
      content: { "application/json": { schema: UnsealBodySchema } },
    },
  },
  responses: {
    200: {
      description: "Seal state after this call",
      content: { "application/json": { schema: SealStateSchema } },
    },
  },
});

const sealRoute = createRoute({
  method: "post",
  path: "/api/v1/seal",
  summary: "Seal the node (admin): drop every key from memory at once",
  responses: {
    200: {
      description: "Sealed",
      content: { "application/json": { schema: SealStateSchema } },
    },
  },
});

function describe(state: SealState) {
  const message = state.sealed
    ? `sealed; ${state.progress} of ${state.threshold} shares received`
    : "unsealed";
  return { ...state, message };
}

/** Routes for sealing and unsealing. */
export function sealRoutes(
  deps: { control: SealControl; unsealLimiter: RateLimiter },
): OpenAPIHono<AppEnv> {
  const app = apiRouter();
  app.openapi(sealRoute, (c) => {
    const identity = requireIdentity(c);
    const decision = authorize(identity, "seal");
    if (!decision.ok) {
      throw new ProblemError("forbidden", { detail: decision.detail });
    }
    deps.control.seal({
      actor: identity.user,
      requestId: c.get("requestId"),
      address: clientAddress(c),
    });
    return c.json(describe(deps.control.state()), 200);
  });
  app.openapi(unsealRoute, async (c) => {
    const address = clientAddress(c);
    const decision = deps.unsealLimiter.take(address);
    if (!decision.ok) {
      throw new ProblemError("rate_limited", {
        detail: "Too many unseal attempts from this address",
        headers: { "retry-after": String(decision.retryAfterSeconds) },
      });
    }
    const body = c.req.valid("json");
    const caller = {
      actor: "anonymous",
      requestId: c.get("requestId"),
      address,
    };
    const result = body.passphrase !== undefined
      ? await deps.control.unsealWithPassphrase(body.passphrase, caller)
      : await deps.control.addShare(body.share!, caller);
    if (!result.ok) {
      throw new ProblemError("unseal_failed", { detail: result.detail });
    }
    return c.json(describe(result.state), 200);
  });
  return app;
}
