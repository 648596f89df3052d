/**
 * What couriers send deliveries and probes through: one HTTP attempt in,
 * its classified outcome out. The node sends either on its own thread
 * ({@linkcode localSender}) or through a worker thread that owns the HTTP
 * client (`delivery/worker_sender.ts`).
 *
 * @module
 */

import { attempt, type AttemptRequest, type AttemptResult } from "./attempt.ts";
import type { DeliveryClient } from "./client.ts";

/** One attempt to make: an {@linkcode AttemptRequest} without its client. */
export type SendRequest = Omit<AttemptRequest, "client">;

/** Sends attempts; close it once no courier uses it. */
export interface Sender extends AsyncDisposable {
  /** Makes one attempt and classifies its outcome; never throws. */
  send(request: SendRequest): Promise<AttemptResult>;
  /** Closes every pooled connection (and the worker, if any). */
  close(): Promise<void>;
}

/** A sender that makes attempts on this thread through `client`. */
export function localSender(client: DeliveryClient): Sender {
  const close = () => client.close();
  return {
    send: (request) => attempt({ ...request, client }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
