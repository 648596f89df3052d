/**
 * WAL checkpoints off the JavaScript thread. SQLite's automatic checkpoint
 * runs inside whichever commit crosses the threshold (1,000 pages), on the
 * event loop: measured here, a commit that usually takes 0.02 ms then takes
 * 7–10 ms, the p99.9 of every request behind it. The store turns the
 * automatic checkpoint off and a worker with its own connection checkpoints
 * instead. While the worker cannot checkpoint (the disk full, say) the
 * automatic checkpoint comes back, so the WAL never grows without bound, and
 * it goes again once the worker's checkpoints succeed.
 *
 * @module
 */

/** What the worker is told. */
export type CheckpointerRequest =
  | { type: "start"; path: string; intervalMs: number }
  | { type: "stop" };

/** What the worker answers. */
export type CheckpointerReply =
  | { type: "started" }
  | { type: "stopped" }
  /** A checkpoint failed (`fatal`: the worker could not open the file). */
  | { type: "failed"; fatal: boolean; error: string }
  /** Checkpoints succeed again after a failure. */
  | { type: "recovered" };

/** A running checkpointer. */
export interface Checkpointer {
  /** Checkpoints once more, closes the worker's connection and ends it. */
  close(): Promise<void>;
}

/** How often the worker checkpoints by default, in ms. */
export const CHECKPOINT_INTERVAL_MS = 250;

/**
 * Starts checkpointing `path` from a worker. `onFailure` runs when the
 * worker cannot open the file (for good) or a checkpoint fails (until
 * `onRecovery`, which runs once checkpoints succeed again).
 */
export function startCheckpointer(
  path: string,
  options: {
    intervalMs?: number;
    onFailure: (error: string) => void;
    onRecovery?: () => void;
  },
): Checkpointer {
  const worker = new Worker(
    new URL("./checkpoint_worker.ts", import.meta.url).href,
    { type: "module" },
  );
  let failing = false;
  let dead = false;
  let stopped: (() => void) | null = null;
  const fail = (error: string, fatal: boolean) => {
    dead ||= fatal;
    if (failing) return;
    failing = true;
    options.onFailure(error);
  };
  worker.onmessage = (event: MessageEvent<CheckpointerReply>) => {
    const reply = event.data;
    if (reply.type === "failed") fail(reply.error, reply.fatal);
    if (reply.type === "recovered" && failing && !dead) {
      failing = false;
      options.onRecovery?.();
    }
    if (reply.type === "stopped") stopped?.();
  };
  worker.onerror = (event) => {
    event.preventDefault();
    fail(event.message, true);
  };
  worker.postMessage(
    {
      type: "start",
      path,
      intervalMs: options.intervalMs ?? CHECKPOINT_INTERVAL_MS,
    } satisfies CheckpointerRequest,
  );
  let closing: Promise<void> | null = null;
  return {
    close() {
      closing ??= (async () => {
        const { promise, resolve } = Promise.withResolvers<void>();
        stopped = resolve;
        worker.postMessage({ type: "stop" } satisfies CheckpointerRequest);
        // A worker that died already never answers.
        const timer = setTimeout(resolve, dead ? 0 : 5_000);
        await promise;
        clearTimeout(timer);
        worker.terminate();
      })();
      return closing;
    },
  };
}
