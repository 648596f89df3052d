/**
 * WAL checkpoints off the JavaScript thread. SQLite's automatic checkpoint
 * runs inside whichever commit crosses the threshold (1,000 pages), on the
 * event loop: measured here, a commit that usually takes 0.02 ms then takes
 * 7–10 ms, the p99.9 of every request behind it. While the store writes, a
 * worker with its own connection checkpoints instead and the automatic
 * checkpoint is off. Past `WAL_RESTART_FRAMES` the worker also makes SQLite
 * start the WAL over, which steady writes would otherwise never let it do
 * (see `checkpoint_worker.ts`), and the store cuts the file back to that
 * size or to its zero-filled size if larger (`wal_preallocation.ts`).
 *
 * The worker is started by the first write and retired, after one last
 * checkpoint, once nothing has been written for {@linkcode CHECKPOINT_IDLE_MS}
 * — a long wait, since a retired isolate gives back only ~4 of the ~17 MB it
 * took (`deno run -A bench/probes/checkpointer_rss.ts`), while starting one
 * holds up the write that starts it (`new Worker` takes 8–18 ms of the
 * node's thread: `deno run -A bench/probes/worker_start.ts`). While no
 * worker is running, or while it cannot checkpoint (the disk full, say),
 * SQLite's automatic checkpoint is on, so the WAL never grows without bound
 * — a quiet node's rare writes may then checkpoint inline, a busy node's
 * never do.
 *
 * @module
 */

import { hasFreeDescriptors } from "../../observability/descriptors.ts";

/** What the worker is told. */
export type CheckpointerRequest =
  | {
    type: "start";
    path: string;
    intervalMs: number;
    /** A WAL with more frames than this is started over after a checkpoint. */
    restartFrames: number;
    /** Checkpoints were failing: the first success is reported as `recovered`. */
    failing: boolean;
  }
  | { type: "stop" };

/** What the worker answers. */
export type CheckpointerReply =
  | { type: "started" }
  | { type: "stopped" }
  /** A checkpoint failed (`fatal`: the worker could not open the file). */
  | { type: "failed"; fatal: boolean; error: string }
  /** Checkpoints succeed again after a failure. */
  | { type: "recovered" };

/** A checkpointer: a worker while the store writes, none while it is quiet. */
export interface Checkpointer {
  /** Notes a commit; starts the worker when none is running. */
  wrote(): void;
  /** Whether a worker is running now. */
  readonly running: boolean;
  /** Retires the worker (after one last checkpoint); later writes start none. */
  close(): Promise<void>;
}

/** After finding no descriptor to spare for the worker, how long before asking again, in ms. */
const NO_ROOM_RETRY_MS = 1_000;

/** How often the worker checkpoints by default, in ms. */
export const CHECKPOINT_INTERVAL_MS = 250;
/**
 * WAL frames (pages) beyond which the worker makes SQLite start the WAL
 * over, by default: 16,384, 64 MiB at SQLite's 4 KiB pages.
 */
export const WAL_RESTART_FRAMES = 16_384;
/** How long without a write before the worker is retired, by default, in ms (10 minutes). */
export const CHECKPOINT_IDLE_MS = 600_000;
/** How long a stopping worker gets for its last checkpoint, in ms. */
const STOP_BOUND_MS = 5_000;

/** What {@linkcode startCheckpointer} reports to the store. */
export interface CheckpointerOptions {
  intervalMs?: number;
  /** See {@linkcode WAL_RESTART_FRAMES}. */
  restartFrames?: number;
  idleMs?: number;
  /**
   * Whether SQLite must checkpoint inline: true while no worker is running
   * or its checkpoints fail, false while one checkpoints. Called on every
   * change, first at once.
   */
  inline: (on: boolean) => void;
  /** The worker cannot open the file (for good) or a checkpoint failed; once per spell. */
  onFailure: (error: string) => void;
  /** Checkpoints succeed again after `onFailure`. */
  onRecovery?: () => void;
}

/**
 * Checkpoints `path` while it is written: the first {@linkcode Checkpointer.wrote}
 * starts the worker (a WAL left from before a restart waits for it, or for
 * the close, which checkpoints too).
 */
export function startCheckpointer(
  path: string,
  options: CheckpointerOptions,
): Checkpointer {
  const intervalMs = options.intervalMs ?? CHECKPOINT_INTERVAL_MS;
  const idleMs = options.idleMs ?? CHECKPOINT_IDLE_MS;
  const restartFrames = options.restartFrames ?? WAL_RESTART_FRAMES;
  let worker: Worker | null = null;
  let started = false;
  let failing = false;
  /** The file cannot be opened: no worker is started again. */
  let dead = false;
  let closed = false;
  let lastWrite = performance.now();
  // No worker is started before this time (descriptors were short).
  let noRoomUntil = -Infinity;
  let idleTimer: ReturnType<typeof setTimeout> | null = null;
  const stopping = new Set<Promise<void>>();
  let inline: boolean | null = null;

  const update = () => {
    const next = !(worker !== null && started && !failing);
    if (next === inline) return;
    inline = next;
    options.inline(next);
  };
  const fail = (error: string, fatal: boolean) => {
    dead ||= fatal;
    if (failing) return;
    failing = true;
    options.onFailure(error);
  };

  function spawn(): void {
    const w = new Worker(
      new URL("./checkpoint_worker.ts", import.meta.url).href,
      { type: "module" },
    );
    worker = w;
    started = false;
    // `retire` replaces both handlers, so these only hear the running worker.
    w.onmessage = (event: MessageEvent<CheckpointerReply>) => {
      const reply = event.data;
      if (reply.type === "started") started = true;
      if (reply.type === "failed") fail(reply.error, reply.fatal);
      if (reply.type === "recovered" && failing && !dead) {
        failing = false;
        options.onRecovery?.();
      }
      update();
    };
    w.onerror = (event) => {
      event.preventDefault();
      fail(event.message, true);
      update();
    };
    w.postMessage(
      {
        type: "start",
        path,
        intervalMs,
        restartFrames,
        failing,
      } satisfies CheckpointerRequest,
    );
    armIdle(idleMs);
  }

  function armIdle(ms: number): void {
    idleTimer = setTimeout(() => {
      idleTimer = null;
      const quiet = performance.now() - lastWrite;
      if (quiet >= idleMs) retire();
      else armIdle(idleMs - quiet);
    }, ms);
  }

  /** Stops the running worker after its last checkpoint. */
  function retire(): void {
    const w = worker;
    if (w === null) return;
    worker = null;
    if (idleTimer !== null) clearTimeout(idleTimer);
    idleTimer = null;
    update();
    const done = (async () => {
      const { promise, resolve } = Promise.withResolvers<void>();
      w.onmessage = (event: MessageEvent<CheckpointerReply>) => {
        if (event.data.type === "stopped") resolve();
      };
      w.onerror = (event) => {
        event.preventDefault();
        resolve();
      };
      w.postMessage({ type: "stop" } satisfies CheckpointerRequest);
      // A worker that died already never answers.
      const timer = setTimeout(resolve, dead ? 0 : STOP_BOUND_MS);
      await promise;
      clearTimeout(timer);
      w.terminate();
    })();
    stopping.add(done);
    void done.finally(() => stopping.delete(done));
  }

  const checkpointer: Checkpointer = {
    wrote() {
      lastWrite = performance.now();
      if (worker === null && !dead && !closed && lastWrite >= noRoomUntil) {
        // With no descriptor to spare, SQLite keeps checkpointing inline;
        // asked again a second later, not at every commit.
        if (hasFreeDescriptors()) spawn();
        else noRoomUntil = lastWrite + NO_ROOM_RETRY_MS;
      }
    },
    get running() {
      return worker !== null;
    },
    async close() {
      closed = true;
      retire();
      await Promise.all(stopping);
    },
  };
  update();
  return checkpointer;
}
