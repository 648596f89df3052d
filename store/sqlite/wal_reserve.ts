/**
 * Keeps zero-filled room ahead of the write-ahead log's last frame, so that
 * commits keep overwriting allocated blocks after the log outgrows its
 * zero-fill at start (`wal_preallocation.ts` says why appends are unsafe).
 *
 * The log grows past that fill whenever checkpoints cannot start it over
 * in time: a writer faster than the checkpointer's interval, readers that
 * hold old frames, a restart that cannot get the write lock. Before each
 * write transaction the store asks for room: where SQLite's next frame goes
 * is read from the WAL-index header in the `-shm` file (`mxFrame` and the
 * page size, in the layout SQLite documents and has kept since 3.7.0), and
 * when that end plus the bytes the transaction may write plus a headroom
 * would pass the file's size, zeros are written past its end and flushed —
 * on the node's thread, between transactions, while no frame can be
 * written there (the store's connection is the only one that appends
 * frames). Flushing the zeros before any frame lands on them matters: the
 * blocks' allocation must be on disk before a commit's flush relies on it.
 *
 * A transaction larger than its estimate plus the headroom may still append
 * its tail; so may every commit while an extension fails (a full disk),
 * which is logged once and tried again a second later.
 *
 * @module
 */

import type { Logger } from "../../observability/logger.ts";
import { writeZeros } from "./wal_preallocation.ts";

const MiB = 1024 * 1024;
/** Room kept beyond what a transaction says it may write, at most. */
const MAX_HEADROOM_BYTES = 8 * MiB;
/** What an extension adds at least, and at most when nothing needs more. */
const MIN_STEP_BYTES = MiB;
const MAX_STEP_BYTES = 8 * MiB;

/**
 * The headroom and step for a log zero-filled to `fillBytes` at start: a
 * quarter of it, at most 8 MiB (a small fill on a small disk keeps a small
 * reserve), and a step of at least 1 MiB.
 */
export function reserveSizes(
  fillBytes: number,
): { headroomBytes: number; stepBytes: number } {
  const quarter = Math.floor(fillBytes / 4);
  return {
    headroomBytes: Math.min(MAX_HEADROOM_BYTES, quarter),
    stepBytes: Math.max(MIN_STEP_BYTES, Math.min(MAX_STEP_BYTES, quarter)),
  };
}

/** After a failed extension, how long before trying again, in ms. */
const RETRY_AFTER_MS = 1_000;
/** The WAL file's header, before the first frame. */
const WAL_HEADER_BYTES = 32;
/** Each frame's header, before its page. */
const FRAME_HEADER_BYTES = 24;

/** The two copies of the WAL-index header at the start of the `-shm` file. */
const WAL_INDEX_HEADERS_BYTES = 96;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Where SQLite writes its next frame, as the WAL-index header says. */
export interface WalEnd {
  /** Frames in the log (`mxFrame`). */
  frames: number;
  pageSize: number;
  /** Byte offset just past the last frame. */
  bytes: number;
}

/**
 * Reads the WAL-index header at the start of a `-shm` file; null while it
 * is not initialised or cannot be read. The two copies of the header must
 * agree, as SQLite itself requires.
 */
export function readWalEnd(
  shm: Deno.FsFile,
  header: Uint8Array = new Uint8Array(WAL_INDEX_HEADERS_BYTES),
): WalEnd | null {
  shm.seekSync(0, Deno.SeekMode.Start);
  let read = 0;
  while (read < header.length) {
    const n = shm.readSync(header.subarray(read));
    if (n === null || n === 0) return null;
    read += n;
  }
  const half = WAL_INDEX_HEADERS_BYTES / 2;
  for (let i = 0; i < half; i++) {
    if (header[i] !== header[i + half]) return null;
  }
  // Native byte order (SQLite's wal-index is never moved between machines).
  const view = new DataView(header.buffer, header.byteOffset, header.length);
  const isInit = header[12];
  if (isInit !== 1) return null;
  const rawPageSize = view.getUint16(14, LITTLE_ENDIAN);
  const pageSize = rawPageSize === 1 ? 65_536 : rawPageSize;
  if (pageSize < 512) return null;
  const frames = view.getUint32(16, LITTLE_ENDIAN);
  return {
    frames,
    pageSize,
    bytes: WAL_HEADER_BYTES + frames * (FRAME_HEADER_BYTES + pageSize),
  };
}

/** What an extension did, for the log and for tests. */
export type WalExtension =
  | { kind: "room" }
  | { kind: "extended"; fromBytes: number; toBytes: number }
  | { kind: "unknown" }
  | { kind: "waiting" }
  | { kind: "failed"; error: unknown };

/** Room ahead of a WAL's last frame; see the module doc. */
export class WalReserve {
  #dbPath: string;
  #headroom: number;
  #step: number;
  #log: Logger | undefined;
  #now: () => number;
  #shm: Deno.FsFile | null = null;
  #wal: Deno.FsFile | null = null;
  /** The WAL file's size as last seen or made; null until read. */
  #size: number | null = null;
  #lastFrames = 0;
  #retryAt = -Infinity;
  #failing = false;
  #header = new Uint8Array(WAL_INDEX_HEADERS_BYTES);

  /**
   * `dbPath` is the database file; the log and index are beside it. The
   * sizes come from {@linkcode reserveSizes} in the store.
   */
  constructor(
    dbPath: string,
    options: {
      headroomBytes: number;
      stepBytes: number;
      log?: Logger;
      now?: () => number;
    },
  ) {
    this.#dbPath = dbPath;
    this.#headroom = options.headroomBytes;
    this.#step = options.stepBytes;
    this.#log = options.log;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Makes sure the log has zero-filled room for a transaction that may
   * write about `bytes` of frames, plus the headroom. Never throws: without
   * room the transaction appends, as with no reserve at all.
   */
  ensure(bytes = 0): WalExtension {
    let end: WalEnd | null;
    try {
      this.#shm ??= Deno.openSync(`${this.#dbPath}-shm`, { read: true });
      this.#wal ??= Deno.openSync(`${this.#dbPath}-wal`, {
        read: true,
        write: true,
      });
      end = readWalEnd(this.#shm, this.#header);
      if (end === null) return { kind: "unknown" };
      // SQLite started the log over, and may have cut the file back to
      // `journal_size_limit`: read its size again.
      if (this.#size === null || end.frames < this.#lastFrames) {
        this.#size = this.#wal.statSync().size;
      }
    } catch {
      this.close();
      return { kind: "unknown" };
    }
    this.#lastFrames = end.frames;
    const needed = end.bytes + bytes + this.#headroom;
    if (needed <= this.#size) return { kind: "room" };
    if (this.#now() < this.#retryAt) return { kind: "waiting" };
    // Zeros go only past the file's real end: a transaction larger than
    // its estimate may have appended beyond the size remembered.
    let size: number;
    try {
      size = this.#wal.statSync().size;
    } catch {
      this.close();
      return { kind: "unknown" };
    }
    this.#size = size;
    if (needed <= size) return { kind: "room" };
    const target = Math.max(needed, size + this.#step);
    const done = this.#extend(this.#wal, size, target);
    if (done.kind === "failed") {
      this.#retryAt = this.#now() + RETRY_AFTER_MS;
      if (!this.#failing) {
        this.#failing = true;
        this.#log?.warn(
          "write-ahead log could not be extended with zeros; commits append to it until it can",
          { error: String(done.error) },
        );
      }
    } else if (this.#failing) {
      this.#failing = false;
      this.#log?.info("write-ahead log extended with zeros again");
    }
    return done;
  }

  #extend(wal: Deno.FsFile, from: number, to: number): WalExtension {
    try {
      writeZeros(wal, from, to);
      this.#size = to;
      return { kind: "extended", fromBytes: from, toBytes: to };
    } catch (error) {
      try {
        wal.truncateSync(from);
      } catch { /* the failure below says what went wrong */ }
      this.#size = null;
      return { kind: "failed", error };
    }
  }

  /** Closes the files it holds; a later `ensure` opens them again. */
  close(): void {
    try {
      this.#shm?.close();
    } catch { /* already closed */ }
    try {
      this.#wal?.close();
    } catch { /* already closed */ }
    this.#shm = null;
    this.#wal = null;
    this.#size = null;
  }
}
