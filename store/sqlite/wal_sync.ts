/**
 * Group fsync of the write-ahead log, off the JavaScript thread.
 *
 * Event batches commit with `synchronous=NORMAL` — the WAL frames are
 * written, not yet flushed — and are acknowledged only after an
 * `fdatasync` of the WAL file, which runs on Deno's blocking thread pool.
 * That is what `synchronous=FULL` does at commit (sync the WAL), but the
 * event loop keeps serving requests during the flush, and one flush covers
 * every batch committed before it started (group fsync).
 *
 * A flush that fails stops the log for good. Linux reports a failed
 * writeback once and may leave the pages it could not write marked clean,
 * so a later `fdatasync` succeeds without them: commits appended after the
 * gap would be acknowledged, and on a power loss SQLite's recovery, which
 * stops at the first frame whose checksum fails, would drop them with it.
 * After a failure every caller is refused (`WalFlushFailed`) until the
 * store is opened again — as PostgreSQL panics on a failed WAL fsync.
 * (Failing to open the file flushed nothing, and stops nothing.)
 *
 * @module
 */

/** The WAL could not be flushed: the store takes no more writes until it is opened again. */
export class WalFlushFailed extends Error {
  /** When the flush failed (ms since the epoch). */
  readonly at: number;

  constructor(cause: unknown) {
    super(
      `The write-ahead log could not be flushed (${
        cause instanceof Error ? cause.message : String(cause)
      }); what it held may not be on disk, and the store takes no writes until the node restarts`,
      { cause },
    );
    this.name = "WalFlushFailed";
    this.at = Date.now();
  }
}

/** Flushes the WAL file to disk; concurrent callers share flushes. */
export class WalSync {
  #path: string;
  #file: Deno.FsFile | null = null;
  /** The flush now running, if any. */
  #running: Promise<void> | null = null;
  /** The flush queued behind it: it covers commits made while `#running` ran. */
  #next: Promise<void> | null = null;

  #flushFile: (file: Deno.FsFile) => Promise<void>;
  #onFailure: (error: unknown) => void;
  #failed: WalFlushFailed | null = null;

  /**
   * `path` is the WAL file, i.e. the database path + `-wal`; `onFailure`
   * hears every failed flush or open (before its callers do); `flush` is
   * for tests.
   */
  constructor(
    path: string,
    options: {
      flush?: (file: Deno.FsFile) => Promise<void>;
      onFailure?: (error: unknown) => void;
    } = {},
  ) {
    this.#path = path;
    this.#flushFile = options.flush ?? ((file) => file.syncData());
    this.#onFailure = options.onFailure ?? (() => {});
  }

  /** The failed flush that stopped the log, if one did. */
  get failed(): WalFlushFailed | null {
    return this.#failed;
  }

  /** Resolves once everything committed before the call is on disk. */
  sync(): Promise<void> {
    if (this.#failed !== null) return Promise.reject(this.#failed);
    if (this.#running === null) return this.#start();
    // The running flush may have started before our commit: queue one more.
    this.#next ??= this.#running.then(
      () => this.#startQueued(),
      () => this.#startQueued(),
    );
    return this.#next;
  }

  #startQueued(): Promise<void> {
    this.#next = null;
    return this.#start();
  }

  #start(): Promise<void> {
    const running = this.#flush().finally(() => {
      if (this.#running === running) this.#running = null;
    });
    this.#running = running;
    return running;
  }

  async #flush(): Promise<void> {
    if (this.#failed !== null) throw this.#failed;
    try {
      this.#file ??= await Deno.open(this.#path, { read: true });
    } catch (error) {
      this.#onFailure(error);
      throw error;
    }
    try {
      await this.#flushFile(this.#file);
    } catch (error) {
      this.#failed ??= new WalFlushFailed(error);
      this.#onFailure(this.#failed);
      throw this.#failed;
    }
  }

  /** Waits for flushes under way, then closes the file handle. */
  async close(): Promise<void> {
    await Promise.allSettled([this.#running, this.#next]);
    this.#file?.close();
    this.#file = null;
  }
}
