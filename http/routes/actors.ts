/**
 * `GET /api/v1/actors/poison` (admin): the messages set aside as poison
 * after making their actor panic twice — kept for inspection, never retried.
 *
 * @module
 */

import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { PoisonRecord } from "../../actors/types.ts";
import { authorize } from "../../identity/authorize.ts";
import type { AppEnv } from "../env.ts";
import { requireIdentity } from "../middleware/auth.ts";
import { apiRouter } from "../openapi.ts";
import { ProblemError } from "../problem.ts";

const PoisonList = z.object({
  items: z.array(
    z.object({
      actor: z.string(),
      messageType: z.string(),
      error: z.string(),
      time: z.string(),
    }),
  ),
}).openapi("PoisonList");

/** Routes that show the actor runtime's state to admins. */
export function actorRoutes(
  deps: { poison: () => readonly PoisonRecord[] },
): OpenAPIHono<AppEnv> {
  const app = apiRouter();
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/actors/poison",
      summary: "Poison messages set aside by the supervisors (admin)",
      responses: {
        200: {
          description: "Poison messages, oldest first",
          content: { "application/json": { schema: PoisonList } },
        },
      },
    }),
    (c) => {
      const decision = authorize(requireIdentity(c), "audit:read");
      if (!decision.ok) {
        throw new ProblemError("forbidden", { detail: decision.detail });
      }
      const items = deps.poison().map((p) => ({
        actor: p.actor,
        messageType: p.messageType,
        error: p.error,
        time: new Date(p.time).toISOString(),
      }));
      return c.json({ items }, 200);
    },
  );
  return app;
}
