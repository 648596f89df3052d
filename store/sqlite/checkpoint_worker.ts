/**
 * Worker body of {@linkcode startCheckpointer}: opens its own connection to
 * one SQLite file and runs a passive WAL checkpoint at a fixed interval, so
 * copying WAL pages into the database (and its fsync) never stalls the
 * node's event loop. Passive checkpoints wait for no lock and block no
 * reader or writer.
 *
 * Under steady writes a passive checkpoint never catches up with the end of
 * the WAL, and SQLite starts the WAL file over only once every frame in it
 * has been copied: the file would grow for as long as the writes go on
 * (5.4 GB for a 634 MB database after a million events at full rate, and a
 * restart after `kill -9` then reads all of it). So once the WAL holds more
 * than `restartFrames` frames and a passive checkpoint has copied nearly all
 * of them, it is followed at once by a `RESTART` one, which copies the few
 * frames written meanwhile under the write lock, so that the next commit
 * starts the WAL from its beginning. It waits up to 100 ms (on this thread)
 * for a gap between the node's commits, failing which it does what a
 * passive one does and the next tick tries again. A commit that comes while
 * it holds the lock waits for it: at the node's full rate that did not show
 * in its latency, while a writer several times faster
 * (`bench/probes/wal_growth.ts`) waited up to 0.25–0.35 s at a restart.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { CheckpointerReply, CheckpointerRequest } from "./checkpointer.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<CheckpointerRequest>) => void) | null;
  postMessage(message: CheckpointerReply): void;
};

/** How long a `RESTART` checkpoint waits for the write lock, in ms. */
const RESTART_WAIT_MS = 100;

/**
 * Frames a passive checkpoint may have left uncopied for a `RESTART` to
 * follow it: more, and the restart would copy them under the write lock
 * while the node's commits wait.
 */
const RESTART_BEHIND_FRAMES = 1_000;

let db: DatabaseSync | null = null;
let passive: StatementSync | null = null;
let restartFrames = Infinity;
let timer: ReturnType<typeof setInterval> | undefined;
/** The last checkpoint failed (e.g. the disk is full); said once per spell. */
let failing = false;

function checkpoint(): void {
  if (db === null || passive === null) return;
  try {
    const result = passive.get();
    const frames = Number(result?.["log"]);
    const behind = frames - Number(result?.["checkpointed"]);
    if (frames > restartFrames && behind <= RESTART_BEHIND_FRAMES) {
      // Waits (on this thread) for a gap between the node's commits.
      db.exec(`PRAGMA busy_timeout = ${RESTART_WAIT_MS}`);
      try {
        db.exec("PRAGMA wal_checkpoint(RESTART)");
      } finally {
        db.exec("PRAGMA busy_timeout = 0");
      }
    }
    if (failing) scope.postMessage({ type: "recovered" });
    failing = false;
  } catch (error) {
    if (!failing) {
      scope.postMessage({
        type: "failed",
        fatal: false,
        error: error instanceof Error ? error.message : String(error),
      });
    }
    failing = true;
  }
}

scope.onmessage = (event) => {
  const request = event.data;
  if (request.type === "start") {
    try {
      db = new DatabaseSync(request.path);
      // A checkpoint that cannot get a lock gives up at once and tries at
      // the next tick instead of waiting.
      db.exec("PRAGMA busy_timeout = 0");
      passive = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
      failing = request.failing;
      restartFrames = request.restartFrames;
      timer = setInterval(checkpoint, request.intervalMs);
      scope.postMessage({ type: "started" });
    } catch (error) {
      scope.postMessage({
        type: "failed",
        fatal: true,
        error: error instanceof Error ? error.message : String(error),
      });
    }
    return;
  }
  clearInterval(timer);
  checkpoint();
  passive = null;
  db?.close();
  db = null;
  scope.postMessage({ type: "stopped" });
};
