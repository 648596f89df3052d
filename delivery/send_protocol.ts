/**
 * Messages between a {@linkcode createWorkerSender} and its worker
 * (`delivery/send_worker.ts`). Requests and outcomes travel in batches: one
 * message per turn of either thread, however many attempts it carries.
 *
 * @module
 */

import type { AttemptResult } from "./attempt.ts";
import type { Cidr } from "./ssrf.ts";

/** The worker's HTTP client settings (what `createDeliveryClient` takes that can be cloned). */
export interface WorkerClientOptions {
  allowCidrs?: readonly Cidr[];
  ca?: string[];
  keepAliveMs?: number;
  connectionsPerOrigin?: number;
}

/** One attempt, as the worker receives it. */
export interface WireRequest {
  id: number;
  url: string;
  method: string;
  headers: readonly (readonly [string, string])[];
  body: Uint8Array | null;
  timeoutMs: number;
  privateAllowed: boolean;
}

/** To the worker. */
export type ToWorker =
  | { type: "init"; options: WorkerClientOptions }
  | { type: "send"; requests: WireRequest[] }
  | { type: "abort"; ids: number[] }
  | { type: "close" };

/** From the worker. */
export type FromWorker =
  /** The worker has its client: attempts may come. */
  | { type: "ready" }
  | { type: "done"; outcomes: { id: number; result: AttemptResult }[] }
  | { type: "closed" };
