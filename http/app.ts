/**
 * `createApp(deps)`: the whole HTTP surface as one Hono app, with no globals.
 * Middleware order: request id, access log, header limit, body limit, the
 * sealed guard, authentication, the bodies in flight and the body deadline,
 * then the routes; one error handler turns every failure into problem+json.
 *
 * @module
 */

import { Hono, type MiddlewareHandler } from "hono";
import { OpenAPIHono } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import { TrieRouter } from "hono/router/trie-router";
import { AskTimeoutError, MailboxFullError } from "../actors/errors.ts";
import { SealedError } from "../security/envelope.ts";
import type { Registry } from "prom-client";
import type { Config } from "../config/keys.ts";
import type { Logger } from "../observability/logger.ts";
import { errorFields } from "../observability/logger.ts";
import { createHttpMetrics } from "../observability/metrics.ts";
import type { Readiness } from "../observability/readiness.ts";
import type { AppEnv } from "./env.ts";
import { accessLog } from "./middleware/access_log.ts";
import {
  bodyBytesInFlight,
  bodyReadDeadline,
  bodySizeLimit,
  headerCountLimit,
} from "./middleware/limits.ts";
import type { ReadDeadlines } from "./read_deadlines.ts";
import { requestId } from "./middleware/request_id.ts";
import { sealedGuard } from "./middleware/sealed_guard.ts";
import { type ProblemCode, ProblemError, problemResponse } from "./problem.ts";
import { opsRoutes } from "./routes/ops.ts";
import { HTTP_METHODS } from "./methods.ts";

/** What the HTTP layer needs from the rest of the node. */
export interface AppDeps {
  config: Pick<
    Config,
    | "maxBodyBytes"
    | "maxBodyBytesInFlight"
    | "maxBodyBytesInFlightPerCaller"
    | "maxHeaderCount"
  >;
  log: Logger;
  registry: Registry;
  readiness: Readiness;
  /** The body read deadlines (`bodyReadTimeoutMs`); the caller closes them when it stops. */
  bodyDeadlines: ReadDeadlines;
  /** True while the node is sealed (event and management calls answer 503). */
  isSealed?: () => boolean;
  /** Authentication middleware for `/api/*` and `/topics/*`. */
  authenticate?: MiddlewareHandler<AppEnv>;
  /** Further route groups mounted at the root, in order. */
  routes?: readonly Hono<AppEnv>[];
}

/** Builds the Hono app serving Miranda's HTTP surface. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("*", requestId(deps.log));
  app.use("*", accessLog(createHttpMetrics(deps.registry)));
  app.use("*", headerCountLimit(deps.config.maxHeaderCount));
  app.use("*", bodySizeLimit(deps.config.maxBodyBytes));
  if (deps.isSealed) app.use("*", sealedGuard(deps.isSealed));
  if (deps.authenticate) {
    app.use("/api/*", deps.authenticate);
    app.use("/topics/*", deps.authenticate);
  }
  // After authentication: a request with a bad token is refused before it
  // holds any of the budget.
  const inFlight = bodyBytesInFlight({
    maxBytes: deps.config.maxBodyBytesInFlight,
    perCallerBytes: deps.config.maxBodyBytesInFlightPerCaller,
    unknownBytes: deps.config.maxBodyBytes,
  }, deps.registry);
  app.use("/api/*", inFlight);
  app.use("/topics/*", inFlight);
  const deadline = bodyReadDeadline(deps.bodyDeadlines);
  app.use("/api/*", deadline);
  app.use("/topics/*", deadline);
  app.route("/", opsRoutes(deps));
  for (const routes of deps.routes ?? []) app.route("/", routes);
  const openapi = openApiDocument(deps.routes ?? []);
  app.get("/api/v1/openapi.json", (c) => c.json(openapi));

  const allowed = methodIndex(app);
  app.notFound((c) => {
    const methods = allowed(c.req.path);
    if (methods.length > 0) {
      return problemResponse("method_not_allowed", c.get("requestId"), {
        detail: `${c.req.method} is not allowed on "${c.req.path}"; allowed: ${
          methods.join(", ")
        }`,
        headers: { allow: methods.join(", ") },
      });
    }
    return problemResponse("not_found", c.get("requestId"), {
      detail: `No route for "${c.req.path}"`,
    });
  });
  app.onError((error, c) => {
    const id = c.get("requestId") ?? crypto.randomUUID();
    // A body reader may have turned the timeout into an error of its own
    // (a JSON validator answers "malformed JSON").
    if (c.get("bodyTimedOut")) {
      return problemResponse("request_timeout", id, {
        detail: error instanceof ProblemError ? error.detail : undefined!,
      });
    }
    if (error instanceof ProblemError) {
      return problemResponse(error.code, id, {
        detail: error.detail,
        headers: error.headers,
        extensions: error.extensions,
      });
    }
    const known = knownFailure(error);
    if (known) return problemResponse(known, id);
    if (
      error instanceof HTTPException && error.status === 400 &&
      /malformed json/i.test(error.message)
    ) {
      return problemResponse("invalid_json", id);
    }
    if (error instanceof HTTPException && error.status < 500) {
      return problemResponse(codeForStatus(error.status), id, {
        detail: error.message || undefined!,
      });
    }
    (c.get("log") ?? deps.log).error("unhandled error in request", {
      method: c.req.method,
      path: c.req.path,
      ...errorFields(error),
    });
    return problemResponse("internal", id);
  });
  return app;
}

/** Which methods other than the request's are routed for a path (for 405 and `Allow`). */
function methodIndex(app: Hono<AppEnv>): (path: string) => string[] {
  const router = new TrieRouter<true>();
  for (const route of app.routes) {
    if (route.method !== "ALL") router.add(route.method, route.path, true);
  }
  return (path) =>
    HTTP_METHODS.filter((m) => router.match(m, path)[0].length > 0);
}

function codeForStatus(status: number): ProblemCode {
  switch (status) {
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 413:
      return "payload_too_large";
    case 415:
      return "unsupported_media_type";
    case 429:
      return "rate_limited";
    default:
      return "bad_request";
  }
}

/** Expected runtime failures that are the client's cue to retry, not bugs. */
function knownFailure(error: unknown): ProblemCode | null {
  if (error instanceof SealedError) return "sealed";
  if (error instanceof MailboxFullError) return "overloaded";
  if (error instanceof AskTimeoutError) return "timeout";
  return null;
}

/** One OpenAPI 3.1 document from every documented route group (made once). */
function openApiDocument(routes: readonly Hono<AppEnv>[]): unknown {
  const docs = new OpenAPIHono<AppEnv>();
  for (const group of routes) {
    if (group instanceof OpenAPIHono) docs.route("/", group);
  }
  docs.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
  });
  return docs.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "Miranda management API",
      version: "1",
      description:
        "Errors are application/problem+json (RFC 9457) with a stable `code`.",
    },
    security: [{ bearer: [] }],
  });
}
