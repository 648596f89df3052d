/**
 * `POST /api/v1/seal` and `POST /api/v1/unseal`: break glass, and come back.
 * Sealing drops every key from memory at once; unsealing takes the
 * passphrase or Shamir shares, one per call, with attempts rate-limited per
 * client address. Until identity lands, sealing is allowed only from a
 * loopback address (the local-only rule in the README).
 *
 * @module
 */

import { createRoute, z } from "@hono/zod-openapi";
import type { AppEnv } from "../env.ts";
import { apiRouter } from "../openapi.ts";
import { ProblemError } from "../problem.ts";
import { clientAddress, isLoopback } from "../client_address.ts";
import type { RateLimiter } from "../rate_limit.ts";
import type { OpenAPIHono } from "@hono/zod-openapi";

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

/** What the seal routes need from the node's key holder. */
export interface SealControl {
  state(): SealState;
  seal(reason: string): void;
  unsealWithPassphrase(
    passphrase: string,
  ): Promise<{ ok: true; state: SealState } | UnsealRefusal>;
  addShare(
    share: string,
  ): Promise<{ ok: true; state: SealState } | UnsealRefusal>;
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
  summary: "Seal the node: drop every key from memory at once",
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
    const address = clientAddress(c);
    if (!isLoopback(address)) {
      throw new ProblemError("forbidden", {
        detail: "Sealing is allowed only from a loopback address",
      });
    }
    deps.control.seal(`api request ${c.get("requestId")} from ${address}`);
    c.get("log").warn("node sealed through the API", { address });
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
    const result = body.passphrase !== undefined
      ? await deps.control.unsealWithPassphrase(body.passphrase)
      : await deps.control.addShare(body.share!);
    if (!result.ok) {
      c.get("log").warn("unseal attempt refused", {
        address,
        detail: result.detail,
      });
      throw new ProblemError("unseal_failed", { detail: result.detail });
    }
    if (!result.state.sealed) {
      c.get("log").info("node unsealed through the API", { address });
    }
    return c.json(describe(result.state), 200);
  });
  return app;
}
