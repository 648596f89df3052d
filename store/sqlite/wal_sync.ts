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
 * @module
 */

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

  /**
   * `path` is the WAL file, i.e. the database path + `-wal`; `onFailure`
   * hears every failed flush (before its callers do); `flush` is for tests.
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

  /** Resolves once everything committed before the call is on disk. */
  sync(): Promise<void> {
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
    try {
      this.#file ??= await Deno.open(this.#path, { read: true });
      await this.#flushFile(this.#file);
    } catch (error) {
      this.#onFailure(error);
      throw error;
    }
  }

  /** Waits for flushes under way, then closes the file handle. */
  async close(): Promise<void> {
    await Promise.allSettled([this.#running, this.#next]);
    this.#file?.close();
    this.#file = null;
  }
}
