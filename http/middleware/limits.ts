/**
 * Request limits enforced before any route runs: header count (431), body
 * size (413), the bodies being handled at once (503 for the node, 429 for
 * one caller's share) and the time a body may take to arrive (408), all
 * configurable. Larger per-route limits never exceed these.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { Gauge, type Registry } from "prom-client";
import { bodyLimit } from "hono/body-limit";
import type { ReadDeadlines } from "../read_deadlines.ts";
import { clientAddress } from "../client_address.ts";
import type { AppEnv } from "../env.ts";
import { ProblemError } from "../problem.ts";

/** Refuses requests with more than `max` header fields (431). */
export function headerCountLimit(max: number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    // `forEach` walks the header list once; `keys()` makes an iterator
    // result per header and costs ~7x as much (14 µs against 2 µs for 7
    // headers on this runtime).
    let count = 0;
    c.req.raw.headers.forEach(() => count++);
    if (count > max) {
      throw new ProblemError("too_many_headers", {
        detail:
          `The request has ${count} header fields; at most ${max} are accepted`,
      });
    }
    await next();
  };
}

/** Refuses bodies over `maxBytes` (413), by `content-length` or while streaming. */
export function bodySizeLimit(maxBytes: number): MiddlewareHandler<AppEnv> {
  const tooLarge = () => {
    throw new ProblemError("payload_too_large", {
      detail: `The request body is larger than the limit of ${maxBytes} bytes`,
    });
  };
  const streaming = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return (c, next) => {
    const headers = c.req.raw.headers;
    const length = headers.get("content-length");
    // The server reads exactly `content-length` bytes, so the header is the
    // size. Checked without touching `request.body`, which would turn the
    // body into a JavaScript stream and make reading it slower.
    if (length !== null && !headers.has("transfer-encoding")) {
      return Number(length) > maxBytes ? tooLarge() : next();
    }
    return streaming(c, next);
  };
}

/** Limits of {@linkcode bodyBytesInFlight}. */
export interface BodyBudget {
  /** Bytes all requests' bodies may hold at once (503 `overloaded` past it). */
  maxBytes: number;
  /** Bytes one caller's bodies may hold at once (429 `rate_limited` past it). */
  perCallerBytes: number;
  /** What a body of unknown size holds (the body limit). */
  unknownBytes: number;
}

/**
 * Bounds the request bodies being received or handled at once: each
 * request with a body holds its declared size (`content-length`; the body
 * limit for a body without one) until it is answered. A request that would
 * take its caller's share past `perCallerBytes` is answered 429
 * `rate_limited`, one that would take the total past `maxBytes` 503
 * `overloaded`, both with `Retry-After` and before the body is read. The
 * caller is the authenticated user, else the client address. A request is
 * let through whenever none (of the caller's) holds any, so a body limit
 * above either bound cannot shut every body out. With a `registry`, the
 * bytes held are the gauge `miranda_http_body_bytes_in_flight`.
 */
export function bodyBytesInFlight(
  budget: BodyBudget,
  registry?: Registry,
): MiddlewareHandler<AppEnv> {
  const { maxBytes, perCallerBytes, unknownBytes } = budget;
  let held = 0;
  const heldBy = new Map<string, number>();
  if (registry !== undefined) {
    new Gauge({
      name: "miranda_http_body_bytes_in_flight",
      help:
        "Request body bytes (as declared) held against maxBodyBytesInFlight now",
      registers: [registry],
      collect() {
        this.set(held);
      },
    });
  }
  return async (c, next) => {
    const bytes = declaredBodyBytes(c.req.raw, unknownBytes);
    if (bytes === 0) return await next();
    const caller = c.get("identity")?.user ?? `address ${clientAddress(c)}`;
    const mine = heldBy.get(caller) ?? 0;
    if (mine > 0 && mine + bytes > perCallerBytes) {
      throw new ProblemError("rate_limited", {
        detail:
          `Your request bodies of ${mine} bytes are being handled, and this one's ${bytes} would take them past the limit of ${perCallerBytes} per caller; retry shortly`,
        headers: { "retry-after": "1" },
      });
    }
    if (held > 0 && held + bytes > maxBytes) {
      throw new ProblemError("overloaded", {
        detail:
          `Request bodies of ${held} bytes are being handled, and this one's ${bytes} would take them past the limit of ${maxBytes}; retry shortly`,
      });
    }
    held += bytes;
    heldBy.set(caller, mine + bytes);
    try {
      await next();
    } finally {
      held -= bytes;
      const left = heldBy.get(caller)! - bytes;
      if (left === 0) heldBy.delete(caller);
      else heldBy.set(caller, left);
    }
  };
}

/**
 * Bounds the time a request body may take to arrive: once a route first
 * reads the body, all of it must be in within `deadlines.ms`, or the read
 * fails with 408 `request_timeout` (and `bodyTimedOut` is set, so that a
 * reader which turns failures into its own error still answers 408).
 * Without it a client that declares a body and sends it slowly would hold
 * its share of {@linkcode bodyBytesInFlight} for as long as it liked.
 *
 * The read starts only when a route asks for the body: Hono's body cache,
 * which `c.req.arrayBuffer()`, `text()` and `json()` read through, is
 * replaced by one that reads with the deadline — so a request refused before
 * that never has its body read (`blob()` and `formData()`, which no route
 * uses, would read without it). A class with getters: defining getters on
 * Hono's own cache object per request cost ~10 µs a request
 * (`bench/HISTORY.md`).
 */
export function bodyReadDeadline(
  deadlines: ReadDeadlines,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    // By method, not by the body headers the budget has just read: a
    // request without a body reads as empty at once.
    const method = c.req.method;
    if (method !== "GET" && method !== "HEAD") {
      const cache = new DeadlineBodyCache(
        c.req.raw,
        deadlines,
        () => c.set("bodyTimedOut", true),
      );
      // Hono types the cache by what its promises give.
      c.req.bodyCache = cache as unknown as typeof c.req.bodyCache;
    }
    await next();
  };
}

/** Hono's body cache for a request whose body must arrive in time. */
class DeadlineBodyCache {
  readonly #request: Request;
  readonly #deadlines: ReadDeadlines;
  readonly #onTimeout: () => void;
  #body: Promise<ArrayBuffer> | undefined;

  constructor(
    request: Request,
    deadlines: ReadDeadlines,
    onTimeout: () => void,
  ) {
    this.#request = request;
    this.#deadlines = deadlines;
    this.#onTimeout = onTimeout;
  }

  /**
   * The whole body, read once; a 408 problem once the deadline has passed,
   * a 400 when the connection ends before the body is whole.
   */
  get arrayBuffer(): Promise<ArrayBuffer> {
    return this.#body ??= new Promise((resolve, reject) => {
      const done = this.#deadlines.begin(() => {
        this.#onTimeout();
        reject(
          new ProblemError("request_timeout", {
            detail:
              `The request body did not arrive within ${this.#deadlines.ms} ms`,
          }),
        );
      });
      this.#request.arrayBuffer().then(
        (bytes) => {
          done();
          resolve(bytes);
        },
        (error) => {
          done();
          reject(
            bodyCutShort(error)
              ? new ProblemError("bad_request", {
                detail: "The request body ended before it was whole",
              })
              : error,
          );
        },
      );
    });
  }

  /** The body as UTF-8 text (what `c.req.json()` parses). */
  get text(): Promise<string> {
    return this.arrayBuffer.then((bytes) => new TextDecoder().decode(bytes));
  }
}

/**
 * Whether reading a body failed because the connection went (the client
 * left mid-body, or sent less than it declared): the client's doing, not a
 * server error to log with its stack.
 */
function bodyCutShort(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Http ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.Interrupted;
}

/** A request's body size as declared, `unknownBytes` when it does not say. */
function declaredBodyBytes(request: Request, unknownBytes: number): number {
  const headers = request.headers;
  const length = headers.get("content-length");
  if (headers.has("transfer-encoding")) return unknownBytes;
  if (length !== null) return Number(length) || 0;
  // Without either header an HTTP/1.1 request has no body; HTTP/2 may send
  // one anyway. `body` is looked at only here, where it is rare: touching it
  // makes reading the body slower.
  if (request.method === "GET" || request.method === "HEAD") return 0;
  return request.body === null ? 0 : unknownBytes;
}
