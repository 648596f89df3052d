/**
 * The Hono environment shared by every route and middleware: what each
 * request carries through the layer.
 *
 * @module
 */

import type { Identity } from "../identity/authorize.ts";
import type { Logger } from "../observability/logger.ts";

/** Per-request variables set by the middleware. */
export interface AppEnv {
  Variables: {
    /** The request id (kept from a well-formed `x-request-id`, else new). */
    requestId: string;
    /** A logger bound to the request id. */
    log: Logger;
    /** The authenticated caller, or null for an anonymous request. */
    identity: Identity | null;
    /** The bearer token the caller authenticated with (for logout). */
    bearer: string;
    /** Set when the request body did not arrive in time (answered 408). */
    bodyTimedOut: boolean;
  };
}
