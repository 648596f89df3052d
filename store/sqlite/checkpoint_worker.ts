/**
 * Worker body of {@linkcode startCheckpointer}: opens its own connection to
 * one SQLite file and runs a passive WAL checkpoint at a fixed interval, so
 * copying WAL pages into the database (and its fsync) never stalls the
 * node's event loop. Passive checkpoints wait for no lock and block no
 * reader or writer.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import type { CheckpointerReply, CheckpointerRequest } from "./checkpointer.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<CheckpointerRequest>) => void) | null;
  postMessage(message: CheckpointerReply): void;
};

let db: DatabaseSync | null = null;
let timer: ReturnType<typeof setInterval> | undefined;
/** The last checkpoint failed (e.g. the disk is full); said once per spell. */
let failing = false;

function checkpoint(): void {
  if (db === null) return;
  try {
    db.exec("PRAGMA wal_checkpoint(PASSIVE)");
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
      failing = request.failing;
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
  db?.close();
  db = null;
  scope.postMessage({ type: "stopped" });
};
