/**
 * A {@linkcode Sender} whose HTTP work runs on a worker thread: the worker
 * owns the undici client (connection pools, parsing, socket I/O) while the
 * couriers' reads, signing and bookkeeping stay on the node's thread. Each
 * attempt crosses as a small message (requests and outcomes are batched per
 * turn of either thread), so the two threads share a delivery's work.
 *
 * The worker (an isolate of its own, ~25 MB) starts with the first attempt
 * it is to carry and is retired once no attempt has been in flight for
 * {@linkcode IDLE_MS}; the next attempt it is to carry starts another. That
 * wait is long: `new Worker` alone holds the node's thread 11–18 ms and
 * undici then loads for ~100 ms, while a terminated worker gives back only
 * ~6 of the ~17 MB it took (`deno run -A bench/probes/worker_start.ts`).
 *
 * Given a sender on the node's thread (`fallback`), a light load — up to
 * {@linkcode DIRECT_IN_FLIGHT} attempts at once — goes through it and
 * starts no worker: at 1,000 events/s one at a time, the process then
 * spends 817–898 µs of CPU per event against 970–985 µs through the worker
 * (three alternating pairs of `deno task bench --runs 1 --only latency`,
 * the details' `processMicrosPerEvent`), and the p50 falls from 1.5–1.7 to
 * 1.1–1.4 ms. Beyond it, attempts made while the worker starts go through
 * the fallback too instead of waiting while undici loads in the new
 * isolate, and the worker is started {@linkcode START_DELAY_MS} after the
 * first of them rather than on its way. The first event after the node
 * starts reached its subscriber 148 ms after it was sent without the
 * fallback, 34–36 ms with it, 21–22 ms with the delay
 * (`deno run -A bench/probes/sporadic_latency.ts`). After a worker failed,
 * attempts go through the fallback for
 * {@linkcode RESTART_AFTER_FAILURE_MS} before another worker is started.
 *
 * An attempt still answers when the worker cannot: a worker that fails
 * answers its attempts `unreachable` (the courier retries them) and the next
 * attempt starts a new one; each attempt also has a backstop a few seconds
 * past its own timeout on the caller's deadlines.
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
import { hasFreeDescriptors } from "../observability/descriptors.ts";

/** How long past its timeout an attempt waits for the worker's answer. */
export const BACKSTOP_MS = 5_000;
/** How long the worker stays without attempts before it is retired: 10 minutes. */
export const IDLE_MS = 600_000;
/**
 * With a fallback, how long after the attempt that needs it the worker is
 * started, in ms: `new Worker` holds the thread 11–18 ms, which should not
 * fall on that attempt's event while it is still being answered.
 */
export const START_DELAY_MS = 50;
/**
 * With a fallback, the attempts it carries at once before the worker takes
 * the rest. A light load never starts the worker: handing an attempt to it
 * and back costs more CPU than the attempt (at 1,000 events/s one at a
 * time, ~150 µs per event over the process), and its isolate ~17 MB.
 */
export const DIRECT_IN_FLIGHT = 8;
/** With a fallback, how long after a worker failed no other is started, in ms. */
export const RESTART_AFTER_FAILURE_MS = 10_000;
/** How long a retiring worker has to close its connections. */
const CLOSE_WAIT_MS = 5_000;

/** How the worker is run; the defaults serve the node, the rest is for tests. */
export interface WorkerSenderOptions {
  /** The worker's module; `delivery/send_worker.ts` by default. */
  workerUrl?: string;
  /** How long past its timeout an attempt waits; {@linkcode BACKSTOP_MS} by default. */
  backstopMs?: number;
  /**
   * How long without attempts before the worker is retired;
   * {@linkcode IDLE_MS} by default, and never before the client's keep-alive
   * has closed its idle connections.
   */
  idleMs?: number;
}

/** A {@linkcode Sender} through a delivery worker. */
export interface WorkerSender extends Sender {
  /** Whether a worker is running now (none before the first attempt and once retired). */
  readonly workerRunning: boolean;
  /** Workers started so far. */
  readonly workerStarts: number;
  /** Attempts handed to a worker so far (the rest went through the fallback). */
  readonly workerAttempts: number;
}

/**
 * A sender whose attempts run on a delivery worker, started when needed;
 * attempts made before it is ready go through `fallback` when one is given.
 */
export function createWorkerSender(
  options: WorkerClientOptions = {},
  run: WorkerSenderOptions = {},
  fallback?: Sender,
): WorkerSender {
  const workerUrl = run.workerUrl ??
    new URL("./send_worker.ts", import.meta.url).href;
  const backstopMs = run.backstopMs ?? BACKSTOP_MS;
  const idleMs = Math.max(run.idleMs ?? IDLE_MS, options.keepAliveMs ?? 0);
  let nextId = 1;
  // Each attempt's answer, by id, until it comes.
  const inFlight = new Map<number, (result: AttemptResult) => void>();
  let toSend: WireRequest[] = [];
  let toAbort: number[] = [];
  let worker: Worker | null = null;
  // Whether `worker` has said it has its client.
  let ready = false;
  let failedAt = -Infinity;
  let startTimer: ReturnType<typeof setTimeout> | null = null;
  let starts = 0;
  let attemptsToWorker = 0;
  // Attempts under way through the fallback.
  let direct = 0;
  let idleTimer: ReturnType<typeof setTimeout> | null = null;
  const retiring = new Set<Promise<void>>();
  let closing: Promise<void> | null = null;
  // Flushes at the end of this turn: every attempt a turn starts travels in
  // one message (a microtask would flush each on its own; a timer waits ms).
  const turn = new MessageChannel();
  turn.port1.onmessage = flush;

  /** A new worker, or null (a failure for now) when no descriptors are free. */
  function start(): Worker | null {
    if (!hasFreeDescriptors()) {
      failedAt = performance.now();
      return null;
    }
    const w = new Worker(workerUrl, { type: "module" });
    starts++;
    ready = false;
    w.onmessage = (event: MessageEvent<FromWorker>) => {
      if (event.data.type === "ready") {
        if (worker === w) ready = true;
        return;
      }
      answer(event.data);
    };
    w.onerror = (event) => {
      event.preventDefault();
      w.terminate();
      if (worker === w) {
        worker = null;
        ready = false;
        failedAt = performance.now();
      }
      failAll(`The delivery worker failed: ${event.message}`);
    };
    w.postMessage({ type: "init", options } satisfies ToWorker);
    return w;
  }

  /** Asks `w` to close its connections, then ends it. */
  function retire(w: Worker): Promise<void> {
    const closed = Promise.withResolvers<void>();
    w.onmessage = (event: MessageEvent<FromWorker>) => {
      if (event.data.type === "closed") closed.resolve();
      answer(event.data);
    };
    w.onerror = (event) => {
      event.preventDefault();
      closed.resolve();
    };
    w.postMessage({ type: "close" } satisfies ToWorker);
    const timer = setTimeout(closed.resolve, CLOSE_WAIT_MS);
    const done = closed.promise.then(() => {
      clearTimeout(timer);
      w.terminate();
      retiring.delete(done);
    });
    retiring.add(done);
    return done;
  }

  function flush(): void {
    if (toSend.length === 0 && toAbort.length === 0) return;
    worker ??= start();
    if (worker === null) {
      failAll("The delivery worker could not start: no file descriptor free");
      return;
    }
    if (toSend.length > 0) {
      worker.postMessage({ type: "send", requests: toSend } satisfies ToWorker);
      toSend = [];
    }
    if (toAbort.length > 0) {
      worker.postMessage({ type: "abort", ids: toAbort } satisfies ToWorker);
      toAbort = [];
    }
  }

  function schedule(): void {
    if (toSend.length + toAbort.length === 1) turn.port2.postMessage(null);
  }

  function answer(message: FromWorker): void {
    if (message.type !== "done") return;
    for (const { id, result } of message.outcomes) finish(id, result);
  }

  function finish(id: number, result: AttemptResult): void {
    const answer = inFlight.get(id);
    if (answer === undefined) return;
    inFlight.delete(id);
    answer(result);
    if (inFlight.size === 0) armIdle();
  }

  /** Retires the worker after `idleMs` unless attempts come meanwhile. */
  function armIdle(): void {
    if (closing !== null) return;
    if (idleTimer !== null) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      idleTimer = null;
      if (inFlight.size > 0 || worker === null) return;
      const w = worker;
      worker = null;
      ready = false;
      void retire(w);
    }, idleMs);
  }

  function failAll(error: string): void {
    toSend = [];
    toAbort = [];
    for (const id of [...inFlight.keys()]) {
      finish(id, { kind: "unreachable", error });
    }
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
    if (fallback !== undefined && (direct < DIRECT_IN_FLIGHT || !ready)) {
      // Beyond a light load the worker is wanted; until it has loaded it
      // would only keep the attempt waiting.
      const failedLately =
        performance.now() - failedAt < RESTART_AFTER_FAILURE_MS;
      if (
        direct >= DIRECT_IN_FLIGHT && worker === null && startTimer === null &&
        !failedLately
      ) {
        startTimer = setTimeout(() => {
          startTimer = null;
          if (worker !== null || closing !== null) return;
          worker = start();
          if (worker !== null && inFlight.size === 0) armIdle();
        }, START_DELAY_MS);
      }
      direct++;
      const done = () => direct--;
      return fallback.send(request).finally(done);
    }
    if (idleTimer !== null) {
      clearTimeout(idleTimer);
      idleTimer = null;
    }
    const id = nextId++;
    attemptsToWorker++;
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
    inFlight.set(id, (result) => {
      backstop?.cancel();
      signal?.removeEventListener("abort", onAbort);
      resolve(result);
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
      if (idleTimer !== null) clearTimeout(idleTimer);
      idleTimer = null;
      if (startTimer !== null) clearTimeout(startTimer);
      startTimer = null;
      // Attempts not yet posted are answered below; the worker aborts the rest.
      turn.port1.close();
      turn.port2.close();
      if (worker !== null) void retire(worker);
      worker = null;
      ready = false;
      await Promise.all(retiring);
      failAll("The delivery client is closed");
    })();
    return closing;
  }

  return {
    send,
    close,
    [Symbol.asyncDispose]: close,
    get workerRunning() {
      return worker !== null;
    },
    get workerStarts() {
      return starts;
    },
    get workerAttempts() {
      return attemptsToWorker;
    },
  };
}
