/**
 * One HTTP attempt at a subscriber, classified for the courier: a 2xx, a
 * non-2xx answer (with `Retry-After` for 429/503), a 410 Gone, or no answer
 * at all (refused, reset, DNS failure, refused address, timeout). Redirects
 * are not followed: a 3xx is an answer like any other non-2xx. The response
 * body is drained and dropped (never kept), so the connection goes back to
 * its pool.
 *
 * @module
 */

import type { Dispatcher } from "undici";
import type { DeliveryClient } from "./client.ts";
import type { Deadline, Deadlines } from "../actors/deadlines.ts";

/** What one attempt came to. */
export type AttemptResult =
  /** A 2xx within the timeout. */
  | { kind: "ok"; status: number }
  /** Any other answer; `retryAfterMs` only for 429/503 with a valid `Retry-After`. */
  | { kind: "http"; status: number; retryAfterMs: number | null }
  /** 410 Gone: the subscriber asks not to be called again. */
  | { kind: "gone" }
  /** No answer: connection refused or reset, DNS failure, timeout, abort. */
  | { kind: "unreachable"; error: string };

/** One request to make. */
export interface AttemptRequest {
  url: string;
  method: string;
  /** Name/value pairs, one per name. */
  headers: readonly (readonly [string, string])[];
  /** Null or empty: no body. */
  body: Uint8Array | null;
  /** Deadline for the response head, in ms. */
  timeoutMs: number;
  /** Aborts the attempt (the courier stopping). */
  signal?: AbortSignal;
  /**
   * Times the attempt out through these shared deadlines (one timer for
   * many attempts, as a courier's are) instead of a timer of its own.
   */
  deadlines?: Deadlines;
  /** The client (connection pools) to send with. */
  client: DeliveryClient;
  /** Whether this request may connect to loopback and private addresses. */
  privateAllowed: boolean;
  /** Clock for `Retry-After` dates; `Date.now` by default. */
  now?: () => number;
}

/**
 * How much of a response body is read (and dropped) before the connection
 * is closed instead: a subscriber answering a huge body costs a reconnect,
 * not a courier's time.
 */
export const MAX_DRAINED_BODY_BYTES = 128 * 1024;

/**
 * Sends one request and classifies the outcome; never throws.
 *
 * Goes through undici's `dispatch` with a handler of its own rather than
 * `request()`: no response stream, async resource or abort-signal listener
 * per attempt — only the status and `Retry-After` are kept and the body is
 * dropped as it arrives.
 */
export function attempt(request: AttemptRequest): Promise<AttemptResult> {
  return new Promise((resolve) => {
    const handler = new AttemptHandler(request, resolve);
    handler.start();
  });
}

/**
 * The undici handler of one attempt: settles once, with the status as soon
 * as the body has been drained (or given up on), or with why no answer came.
 */
class AttemptHandler implements Dispatcher.DispatchHandler {
  #request: AttemptRequest;
  #settle: (result: AttemptResult) => void;
  #settled = false;
  #timeout: Deadline | null = null;
  #controller: Dispatcher.DispatchController | null = null;
  /** Why the attempt was given up before undici started it, if it was. */
  #abortReason: Error | null = null;
  #status = 0;
  #retryAfter: string | string[] | undefined;
  #drained = 0;

  constructor(
    request: AttemptRequest,
    settle: (result: AttemptResult) => void,
  ) {
    this.#request = request;
    this.#settle = settle;
  }

  start(): void {
    const request = this.#request;
    this.#timeout =
      request.deadlines?.add(request.timeoutMs, this.#onTimeout) ??
        ownTimer(request.timeoutMs, this.#onTimeout);
    if (request.signal?.aborted) return this.#onAbort();
    request.signal?.addEventListener("abort", this.#onAbort, { once: true });
    try {
      const { origin, path } = target(request.url);
      request.client.dispatcher(request.privateAllowed).dispatch({
        origin,
        path,
        method: request.method as Dispatcher.HttpMethod,
        headers: request.headers.flat(),
        body: request.body !== null && request.body.length > 0
          ? request.body
          : null,
      }, this);
    } catch (error) {
      this.#finish({ kind: "unreachable", error: describe(error) });
    }
  }

  #onTimeout = (): void => {
    this.#giveUp(
      new Error(`No answer within ${this.#request.timeoutMs} ms`),
    );
  };

  #onAbort = (): void => {
    this.#giveUp(new Error("Attempt aborted"));
  };

  /** Settles now and stops the request, at once or when undici starts it. */
  #giveUp(reason: Error): void {
    this.#finish(
      this.#status !== 0
        ? this.#classified()
        : { kind: "unreachable", error: reason.message },
    );
    if (this.#controller !== null) this.#controller.abort(reason);
    else this.#abortReason = reason;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.#abortReason !== null) {
      controller.abort(this.#abortReason);
      return;
    }
    this.#controller = controller;
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // 1xx answers are interim; the final one follows.
    if (statusCode < 200) return;
    this.#status = statusCode;
    this.#retryAfter = headers["retry-after"];
  }

  onResponseData(
    controller: Dispatcher.DispatchController,
    chunk: Uint8Array,
  ): void {
    this.#drained += chunk.length;
    if (this.#drained <= MAX_DRAINED_BODY_BYTES) return;
    this.#finish(this.#classified());
    controller.abort(new Error("Response body too large to drain"));
  }

  onResponseEnd(): void {
    this.#finish(this.#classified());
  }

  onResponseError(
    _controller: Dispatcher.DispatchController,
    error: Error,
  ): void {
    this.#finish(
      this.#status !== 0
        ? this.#classified()
        : { kind: "unreachable", error: describe(error) },
    );
  }

  #classified(): AttemptResult {
    return classify(
      this.#status,
      this.#retryAfter,
      this.#request.now ?? Date.now,
    );
  }

  #finish(result: AttemptResult): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#timeout?.cancel();
    this.#request.signal?.removeEventListener("abort", this.#onAbort);
    this.#settle(result);
  }
}

/** The origin and path undici's `dispatch` wants, from a URL. */
function target(url: string): { origin: string; path: string } {
  const parsed = new URL(url);
  return { origin: parsed.origin, path: parsed.pathname + parsed.search };
}

function ownTimer(ms: number, expire: () => void): Deadline {
  const timer = setTimeout(expire, ms);
  return { cancel: () => clearTimeout(timer) };
}

function classify(
  status: number,
  retryAfter: string | string[] | undefined,
  now: () => number,
): AttemptResult {
  if (status >= 200 && status < 300) return { kind: "ok", status };
  if (status === 410) return { kind: "gone" };
  const retryAfterMs = status === 429 || status === 503
    ? parseRetryAfter(
      Array.isArray(retryAfter) ? retryAfter[0] ?? null : retryAfter ?? null,
      now(),
    )
    : null;
  return { kind: "http", status, retryAfterMs };
}

/**
 * `Retry-After` (RFC 9110 §10.2.3) as a wait in ms from `now`: delay-seconds
 * or an HTTP date (a past date is 0). Null when absent or unparseable.
 */
export function parseRetryAfter(
  value: string | null,
  now: number,
): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // HTTP dates name the weekday; a bare number never reaches here.
  if (!/^[A-Za-z]{3},/.test(text) && !/^[A-Za-z]+, /.test(text)) return null;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error
      ? `: ${error.cause.message}`
      : "";
    return `${error.message}${cause}`;
  }
  return String(error);
}
