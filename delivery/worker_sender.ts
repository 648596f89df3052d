/**
 * A {@linkcode Sender} whose HTTP work runs on a worker thread: the worker
 * owns the undici client (connection pools, parsing, socket I/O) while the
 * couriers' reads, signing and bookkeeping stay on the node's thread. Each
 * attempt crosses as a small message (requests and outcomes are batched per
 * turn of either thread), so the two threads share a delivery's work.
 *
 * An attempt still answers when the worker cannot: a worker that fails
 * answers its attempts `unreachable` (the courier retries them) and is
 * started again for the next; each attempt also has a backstop a few
 * seconds past its own timeout on the caller's deadlines.
 *
 * @module
 */

import type { AttemptResult } from "./attempt.ts";
import type {
  FromWorker,
  ToWorker,
  WireRequest,
  WorkerClientOptions,
} from "./send_protocol.ts";
import type { Sender, SendRequest } from "./sender.ts";

/** How long past its timeout an attempt waits for the worker's answer. */
export const BACKSTOP_MS = 5_000;
/** How long `close` waits for the worker to close its connections. */
const CLOSE_WAIT_MS = 5_000;

/** How the worker is run; the defaults serve the node, the rest is for tests. */
export interface WorkerSenderOptions {
  /** The worker's module; `delivery/send_worker.ts` by default. */
  workerUrl?: string;
  /** How long past its timeout an attempt waits; {@linkcode BACKSTOP_MS} by default. */
  backstopMs?: number;
}

interface InFlight {
  resolve: (result: AttemptResult) => void;
}

/** Starts a delivery worker and answers for it. */
export function createWorkerSender(
  options: WorkerClientOptions = {},
  run: WorkerSenderOptions = {},
): Sender {
  const workerUrl = run.workerUrl ??
    new URL("./send_worker.ts", import.meta.url).href;
  const backstopMs = run.backstopMs ?? BACKSTOP_MS;
  let worker = start();
  let nextId = 1;
  const inFlight = new Map<number, InFlight>();
  let toSend: WireRequest[] = [];
  let toAbort: number[] = [];
  let closing: Promise<void> | null = null;
  // Flushes at the end of this turn: every attempt a turn starts travels in
  // one message (a microtask would flush each on its own; a timer waits ms).
  const turn = new MessageChannel();
  turn.port1.onmessage = flush;

  function start(): Worker {
    const w = new Worker(workerUrl, { type: "module" });
    w.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      if (message.type !== "done") return;
      for (const { id, result } of message.outcomes) finish(id, result);
    };
    w.onerror = (event) => {
      event.preventDefault();
      failAll(`The delivery worker failed: ${event.message}`);
      w.terminate();
      if (closing === null && worker === w) worker = start();
    };
    w.postMessage({ type: "init", options } satisfies ToWorker);
    return w;
  }

  function post(message: ToWorker): void {
    worker.postMessage(message);
  }

  function flush(): void {
    if (toSend.length > 0) {
      post({ type: "send", requests: toSend });
      toSend = [];
    }
    if (toAbort.length > 0) {
      post({ type: "abort", ids: toAbort });
      toAbort = [];
    }
  }

  function schedule(): void {
    if (toSend.length + toAbort.length === 1) turn.port2.postMessage(null);
  }

  function finish(id: number, result: AttemptResult): void {
    const flight = inFlight.get(id);
    if (flight === undefined) return;
    inFlight.delete(id);
    flight.resolve(result);
  }

  function failAll(error: string): void {
    for (const id of [...inFlight.keys()]) {
      finish(id, { kind: "unreachable", error });
    }
    toSend = [];
    toAbort = [];
  }

  function send(request: SendRequest): Promise<AttemptResult> {
    if (closing !== null) {
      return Promise.resolve({
        kind: "unreachable",
        error: "The delivery client is closed",
      });
    }
    if (request.signal?.aborted) {
      return Promise.resolve({ kind: "unreachable", error: "Attempt aborted" });
    }
    const id = nextId++;
    const { promise, resolve } = Promise.withResolvers<AttemptResult>();
    const signal = request.signal;
    const onAbort = () => {
      toAbort.push(id);
      schedule();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const backstop = request.deadlines?.add(
      request.timeoutMs + backstopMs,
      () =>
        finish(id, {
          kind: "unreachable",
          error: `No answer from the delivery worker within ${
            request.timeoutMs + backstopMs
          } ms`,
        }),
    );
    inFlight.set(id, {
      resolve: (result) => {
        backstop?.cancel();
        signal?.removeEventListener("abort", onAbort);
        resolve(result);
      },
    });
    toSend.push({
      id,
      url: request.url,
      method: request.method,
      headers: request.headers,
      body: request.body,
      timeoutMs: request.timeoutMs,
      privateAllowed: request.privateAllowed,
    });
    schedule();
    return promise;
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      const closed = Promise.withResolvers<void>();
      const w = worker;
      w.onmessage = (event: MessageEvent<FromWorker>) => {
        if (event.data.type === "closed") closed.resolve();
        else {
          for (const { id, result } of event.data.outcomes) finish(id, result);
        }
      };
      w.onerror = (event) => {
        event.preventDefault();
        closed.resolve();
      };
      flush();
      turn.port1.close();
      turn.port2.close();
      w.postMessage({ type: "close" } satisfies ToWorker);
      const timer = setTimeout(closed.resolve, CLOSE_WAIT_MS);
      await closed.promise;
      clearTimeout(timer);
      w.terminate();
      failAll("The delivery client is closed");
    })();
    return closing;
  }

  return { send, close, [Symbol.asyncDispose]: close };
}
