/**
 * Whether the store can write. A full disk, a file system turned read-only
 * or a failing device makes commits (or the WAL's flush) fail; until a
 * write gets through again the node takes no events, so `/readyz` should
 * say so. Nothing may wait for the next publish to find out it can write
 * again — a load balancer that reads `/readyz` sends none — so while
 * failing, a small durable write (`probe`) is tried every `intervalMs`,
 * and its success alone makes the store healthy again.
 *
 * Only storage failures count (SQLite's I/O, full, read-only, corrupt and
 * cannot-open results, and the file system's own errors); a constraint
 * broken by a request says nothing of the store's health. A failed flush of
 * the WAL ({@linkcode WalFlushFailed}) is not probed: the store takes no
 * writes after it until the node restarts (see `wal_sync.ts`).
 *
 * @module
 */

import { WalFlushFailed } from "./wal_sync.ts";

/** What `/readyz` shows of the store's writes. */
export interface WriteState {
  ok: boolean;
  detail: string;
}

/**
 * SQLite's messages for the results that mean the storage, not the
 * statement, failed (READONLY, IOERR, CORRUPT, FULL, CANTOPEN, NOTADB):
 * `node:sqlite` in Deno gives the message, not the result code.
 */
const SQLITE_STORAGE_MESSAGES =
  /attempt to write a readonly database|disk I\/O error|database disk image is malformed|database or disk is full|unable to open database file|file is not a database/;

/** Errors of the file system itself: EIO, ENOSPC, EROFS, EDQUOT. */
const OS_STORAGE_ERRORS = /\(os error (5|28|30|122)\)/;

/** True when `error` is a failure of the storage under the database. */
export function isStorageFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return SQLITE_STORAGE_MESSAGES.test(error.message) ||
    OS_STORAGE_ERRORS.test(error.message);
}

/** Tracks the store's write failures and probes for their end. */
export class WriteHealth {
  #failing: { since: number; error: string; final: boolean } | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  readonly #probe: () => Promise<void>;
  readonly #intervalMs: number;
  readonly #onChange: (state: WriteState) => void;

  /**
   * `probe` makes a small durable write and throws when it fails;
   * `onChange` hears each turn from healthy to failing and back.
   */
  constructor(options: {
    probe: () => Promise<void>;
    intervalMs?: number;
    onChange?: (state: WriteState) => void;
  }) {
    this.#probe = options.probe;
    this.#intervalMs = options.intervalMs ?? 1_000;
    this.#onChange = options.onChange ?? (() => {});
  }

  /** The current state, for `/readyz`. */
  state(): WriteState {
    if (this.#failing === null) return { ok: true, detail: "writes succeed" };
    return {
      ok: false,
      detail: `writes failing since ${
        new Date(this.#failing.since).toISOString()
      }: ${this.#failing.error}`,
    };
  }

  /**
   * Reports a failed write; storage failures mark the store failing, and a
   * failed WAL flush for good.
   */
  failed(error: unknown): void {
    if (this.#closed || this.#failing?.final) return;
    const final = error instanceof WalFlushFailed;
    if (!final && !isStorageFailure(error)) return;
    const message = error instanceof Error ? error.message : String(error);
    if (this.#failing !== null && !final) {
      this.#failing.error = message;
      return;
    }
    const first = this.#failing === null;
    this.#failing = {
      since: final ? error.at : Date.now(),
      error: message,
      final,
    };
    this.#onChange(this.state());
    if (final) clearTimeout(this.#timer);
    else if (first) this.#schedule();
  }

  /** Stops probing. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    this.#timer = setTimeout(() => this.#tryProbe(), this.#intervalMs);
  }

  async #tryProbe(): Promise<void> {
    if (this.#closed || this.#failing === null || this.#failing.final) return;
    try {
      await this.#probe();
    } catch (error) {
      if (this.#closed) return;
      if (this.#failing === null || this.#failing.final) return;
      this.#failing.error = error instanceof Error
        ? error.message
        : String(error);
      this.#schedule();
      return;
    }
    if (this.#closed || this.#failing?.final) return;
    this.#failing = null;
    this.#onChange(this.state());
  }
}
