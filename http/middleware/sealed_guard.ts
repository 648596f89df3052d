/**
 * While the node is sealed, event and management calls answer 503 `sealed`
 * (problem+json); only seal/unseal, the OpenAPI document and the operations
 * endpoints stay open.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { ProblemError } from "../problem.ts";

const OPEN_WHILE_SEALED = new Set([
  "/api/v1/unseal",
  "/api/v1/seal",
  "/api/v1/openapi.json",
]);

/** Refuses `/api/*` and `/topics/*` calls while `isSealed()` holds. */
export function sealedGuard(
  isSealed: () => boolean,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const path = c.req.path;
    if (
      isSealed() &&
      (path.startsWith("/api/") || path.startsWith("/topics/") ||
        path === "/topics") &&
      !OPEN_WHILE_SEALED.has(path)
    ) {
      throw new ProblemError("sealed");
    }
    await next();
  };
}
