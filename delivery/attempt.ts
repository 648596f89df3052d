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

import { type Dispatcher, request as undiciRequest } from "undici";
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

/** Sends one request and classifies the outcome; never throws. */
export async function attempt(request: AttemptRequest): Promise<AttemptResult> {
  const controller = new AbortController();
  let timedOut = false;
  const onTimeout = () => {
    timedOut = true;
    controller.abort();
  };
  const timeout: Deadline = request.deadlines?.add(
    request.timeoutMs,
    onTimeout,
  ) ?? ownTimer(request.timeoutMs, onTimeout);
  const onAbort = (): void => controller.abort();
  request.signal?.addEventListener("abort", onAbort, { once: true });
  if (request.signal?.aborted) controller.abort();
  try {
    const response = await undiciRequest(request.url, {
      method: request.method as Dispatcher.HttpMethod,
      headers: request.headers.flat(),
      body: request.body !== null && request.body.length > 0
        ? request.body
        : null,
      signal: controller.signal,
      dispatcher: request.client.dispatcher(request.privateAllowed),
    });
    // The body is of no interest; draining it frees the connection.
    await response.body.dump().catch(() => {});
    return classify(
      response.statusCode,
      response.headers["retry-after"],
      request.now ?? Date.now,
    );
  } catch (error) {
    if (timedOut) {
      return {
        kind: "unreachable",
        error: `No answer within ${request.timeoutMs} ms`,
      };
    }
    if (request.signal?.aborted) {
      return { kind: "unreachable", error: "Attempt aborted" };
    }
    return { kind: "unreachable", error: describe(error) };
  } finally {
    timeout.cancel();
    request.signal?.removeEventListener("abort", onAbort);
  }
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
