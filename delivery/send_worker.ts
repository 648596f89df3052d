/**
 * The delivery worker: owns an HTTP client (`createDeliveryClient`) and
 * makes the attempts a {@linkcode createWorkerSender} posts, each with its
 * own timeout on the worker's shared deadlines, posting the outcomes back in
 * batches. Started by `delivery/worker_sender.ts`; never on its own.
 *
 * @module
 */

import { Deadlines } from "../actors/deadlines.ts";
import { systemClock } from "../actors/clock.ts";
import { attempt, type AttemptResult } from "./attempt.ts";
import { createDeliveryClient, type DeliveryClient } from "./client.ts";
import type { FromWorker, ToWorker, WireRequest } from "./send_protocol.ts";

/** The worker's global scope, as far as this module uses it. */
export interface SendWorkerScope {
  onmessage: ((event: MessageEvent<ToWorker>) => unknown) | null;
  postMessage(message: FromWorker): void;
}

const scope = self as unknown as SendWorkerScope;
let client: DeliveryClient | null = null;
const deadlines = new Deadlines(systemClock);
const aborts = new Map<number, AbortController>();
let outcomes: { id: number; result: AttemptResult }[] = [];

function post(message: FromWorker): void {
  scope.postMessage(message);
}

function flush(): void {
  const batch = outcomes;
  outcomes = [];
  post({ type: "done", outcomes: batch });
}

async function run(request: WireRequest, client: DeliveryClient) {
  const abort = new AbortController();
  aborts.set(request.id, abort);
  const result = await attempt({
    ...request,
    signal: abort.signal,
    deadlines,
    client,
  });
  aborts.delete(request.id);
  if (outcomes.length === 0) queueMicrotask(flush);
  outcomes.push({ id: request.id, result });
}

scope.onmessage = async (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.type) {
    case "init":
      client = createDeliveryClient(message.options);
      post({ type: "ready" });
      return;
    case "send":
      for (const request of message.requests) void run(request, client!);
      return;
    case "abort":
      for (const id of message.ids) aborts.get(id)?.abort();
      return;
    case "close":
      for (const abort of aborts.values()) abort.abort();
      deadlines.close();
      await client?.close();
      post({ type: "closed" });
      return;
  }
};
