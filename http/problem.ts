/**
 * The one error table of the HTTP surface: every error code Miranda answers
 * with, its status, title and safe default detail, rendered as RFC 9457
 * `application/problem+json`. Internals never reach the client; they go to
 * the log under the request id.
 *
 * @module
 */

/** One entry of the error table. */
interface ProblemEntry {
  status: number;
  title: string;
  detail: string;
  /** `Retry-After` of every such answer unless the thrower gives one. */
  retryAfterSeconds?: number;
}

/** Every problem code the API can answer with. Stable: scripts match on it. */
export const PROBLEMS = {
  bad_request: {
    status: 400,
    title: "Bad request",
    detail: "The request is malformed",
  },
  validation_failed: {
    status: 400,
    title: "Validation failed",
    detail: "A field of the request is invalid",
  },
  invalid_json: {
    status: 400,
    title: "Invalid JSON",
    detail: "The request body is not valid JSON",
  },
  unseal_failed: {
    status: 400,
    title: "Unseal failed",
    detail: "The unseal material was not accepted",
  },
  unauthorized: {
    status: 401,
    title: "Unauthorized",
    detail: "Authentication is required",
  },
  forbidden: { status: 403, title: "Forbidden", detail: "You may not do this" },
  not_found: { status: 404, title: "Not found", detail: "No such resource" },
  method_not_allowed: {
    status: 405,
    title: "Method not allowed",
    detail: "This resource does not support the method",
  },
  request_timeout: {
    status: 408,
    title: "Request timeout",
    detail: "The request body did not arrive in time",
  },
  conflict: {
    status: 409,
    title: "Conflict",
    detail: "The resource is in a conflicting state",
  },
  payload_too_large: {
    status: 413,
    title: "Payload too large",
    detail: "The request body is too large",
  },
  unsupported_media_type: {
    status: 415,
    title: "Unsupported media type",
    detail: "The request body has an unsupported content type",
  },
  rate_limited: {
    status: 429,
    title: "Too many requests",
    detail: "Slow down and retry later",
  },
  too_many_headers: {
    status: 431,
    title: "Request header fields too large",
    detail: "The request has too many header fields",
  },
  internal: {
    status: 500,
    title: "Internal error",
    detail: "Something went wrong; the request id is in the log",
  },
  sealed: {
    status: 503,
    title: "Sealed",
    detail:
      "The node is sealed: its keys are not in memory until it is unsealed",
    retryAfterSeconds: 5,
  },
  overloaded: {
    status: 503,
    title: "Overloaded",
    detail: "The node is busy; retry after the given delay",
    retryAfterSeconds: 1,
  },
  not_ready: {
    status: 503,
    title: "Not ready",
    detail: "The node is not ready to take requests",
  },
  store_unavailable: {
    status: 503,
    title: "Store unavailable",
    detail: "The store could not take the write; retry later",
  },
  timeout: {
    status: 503,
    title: "Timed out",
    detail: "The node did not answer in time; retry later",
    retryAfterSeconds: 1,
  },
} as const satisfies Record<string, ProblemEntry>;

/** A problem code from {@linkcode PROBLEMS}. */
export type ProblemCode = keyof typeof PROBLEMS;

/** The JSON body of a problem answer. */
export interface ProblemBody {
  type: string;
  code: ProblemCode;
  title: string;
  status: number;
  detail: string;
  requestId: string;
  [extension: string]: unknown;
}

/** The media type of every error answer. */
export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** The stable `type` URI of a problem code. */
export function problemType(code: ProblemCode): string {
  return `urn:miranda:problem:${code}`;
}

/** Thrown anywhere in the HTTP layer to answer with a problem; `detail` must be safe to show. */
export class ProblemError extends Error {
  override name = "ProblemError";
  readonly code: ProblemCode;
  readonly detail: string;
  readonly headers: Record<string, string>;
  readonly extensions: Record<string, unknown>;
  constructor(
    code: ProblemCode,
    options: {
      detail?: string;
      headers?: Record<string, string>;
      extensions?: Record<string, unknown>;
    } = {},
  ) {
    const detail = options.detail ?? PROBLEMS[code].detail;
    super(detail);
    this.code = code;
    this.detail = detail;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }
}

/** Renders a problem as a `Response`. */
export function problemResponse(
  code: ProblemCode,
  requestId: string,
  options: {
    detail?: string;
    headers?: Record<string, string>;
    extensions?: Record<string, unknown>;
  } = {},
): Response {
  const entry: ProblemEntry = PROBLEMS[code];
  const body: ProblemBody = {
    ...options.extensions,
    type: problemType(code),
    code,
    title: entry.title,
    status: entry.status,
    detail: options.detail ?? entry.detail,
    requestId,
  };
  return new Response(JSON.stringify(body), {
    status: entry.status,
    headers: {
      "content-type": PROBLEM_CONTENT_TYPE,
      "x-request-id": requestId,
      ...(entry.retryAfterSeconds === undefined
        ? {}
        : { "retry-after": String(entry.retryAfterSeconds) }),
      ...options.headers,
    },
  });
}
