/**
 * The management API's router: `@hono/zod-openapi`, so one zod schema both
 * validates each request and documents it in the OpenAPI 3.1 document served
 * at `/api/v1/openapi.json`. Validation failures become problem+json 400s
 * that name the field.
 *
 * @module
 */

import {
  createRoute,
  type Hook,
  OpenAPIHono,
  type RouteConfig,
  z,
} from "@hono/zod-openapi";
import type { AppEnv } from "./env.ts";
import { ProblemError } from "./problem.ts";

/** Turns a failed zod validation into a `validation_failed` problem naming the fields. */
export const validationHook: Hook<unknown, AppEnv, string, unknown> = (
  result,
) => {
  if (result.success) return;
  const issues = result.error.issues.flatMap((issue) =>
    // An unknown field is named itself, not the object holding it.
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({
        field: [...issue.path, key].join("."),
        message: `Unknown field "${key}"`,
      }))
      : [{
        field: issue.path.length > 0 ? issue.path.join(".") : "(root)",
        // A refused record key says why, not just "Invalid key in record".
        message: issue.code === "invalid_key" && issue.issues[0]
          ? issue.issues[0].message
          : issue.message,
      }]
  );
  const first = issues[0];
  throw new ProblemError("validation_failed", {
    detail: first
      ? `Invalid field "${first.field}": ${first.message}`
      : "The request is invalid",
    extensions: { errors: issues },
  });
};

/** A router for API routes with Miranda's validation hook. */
export function apiRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
}

/** A required JSON request body validated by `schema`. */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return {
    body: { required: true, content: { "application/json": { schema } } },
  };
}

/** A route whose request is validated (params, query, body) and whose answer is documented as JSON. */
export function apiRoute<const R extends NonNullable<RouteConfig["request"]>>(
  method: "get" | "post" | "put" | "patch" | "delete",
  path: string,
  summary: string,
  extra: { request: R },
) {
  return createRoute({
    method,
    path,
    summary,
    request: extra.request,
    responses: {
      200: {
        description: "OK",
        content: { "application/json": { schema: z.any() } },
      },
    },
  });
}
