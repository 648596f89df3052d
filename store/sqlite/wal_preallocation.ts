/**
 * Zero-fills the write-ahead log when the store opens, as PostgreSQL does
 * with new WAL segments (`wal_init_zero`), so that commits overwrite blocks
 * the file system has already allocated instead of appending.
 *
 * An append needs file-system metadata (the new blocks, the file's size),
 * and on ext4 that metadata rides in a journal transaction: when ext4 aborts
 * its journal on an error (`errors=remount-ro`), an `fdatasync` racing the
 * abort can return success although the transaction holding the append's
 * blocks was dropped — after the check the acknowledged frames are gone
 * (`deno run -A bench/probes/ext4_abort_appends.ts` shows it: appends lose
 * acknowledged writes in some rounds, overwrites of a zero-filled file in
 * none). An overwrite of allocated blocks needs no metadata, and its flush
 * writes the data itself.
 *
 * SQLite writes frames from the start of the file whatever its size (a
 * zeroed header reads as an empty log, zeroed frames after the last one as
 * its end), and with `journal_size_limit` at least as large it never cuts
 * the file below this size. It deletes the file when its last connection
 * closes cleanly, so this runs at every start; after a crash the file is
 * still there and nothing is written. It must run while no connection
 * can write the log (the store holds SQLite's write lock around it): zeros
 * written past the end of the file while SQLite appends could land on a
 * frame.
 *
 * @module
 */

/** Writes are made in chunks of this many bytes. */
const CHUNK_BYTES = 1024 * 1024;

/** What a preallocation did. */
export type WalPreallocation =
  | { kind: "filled"; fromBytes: number; toBytes: number }
  | { kind: "already"; bytes: number }
  /** The fill failed (no space, say); the file was cut back to its old size. */
  | { kind: "failed"; error: unknown };

/**
 * Extends the file at `walPath` (created owner-only if missing) to `bytes`
 * with written zeros, flushes it and its directory.
 * Content already there is kept; a file at least this large is left alone.
 * A failure (a full disk) leaves the file as it was and is returned, not
 * thrown: the store runs without preallocation rather than not at all.
 */
export function preallocateWal(
  walPath: string,
  bytes: number,
): WalPreallocation {
  let created = false;
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(walPath, { read: true, write: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      return { kind: "failed", error };
    }
    try {
      file = Deno.openSync(walPath, {
        write: true,
        createNew: true,
        mode: 0o600,
      });
      created = true;
    } catch (error) {
      return { kind: "failed", error };
    }
  }
  const fromBytes = file.statSync().size;
  if (fromBytes >= bytes) {
    file.close();
    return { kind: "already", bytes: fromBytes };
  }
  try {
    writeZeros(file, fromBytes, bytes);
    syncDirectorySync(parentOf(walPath));
    file.close();
    return { kind: "filled", fromBytes, toBytes: bytes };
  } catch (error) {
    try {
      if (created) {
        file.close();
        Deno.removeSync(walPath);
      } else {
        file.truncateSync(fromBytes);
        file.close();
      }
    } catch { /* the error below says what went wrong */ }
    return { kind: "failed", error };
  }
}

/**
 * Writes zeros over `[from, to)` of `file` (real zeros, not a sparse hole:
 * the blocks get allocated) and flushes its data. Throws what the writes
 * or the flush throw (no space, say), leaving the caller to cut it back.
 */
export function writeZeros(file: Deno.FsFile, from: number, to: number): void {
  const zeros = new Uint8Array(CHUNK_BYTES);
  file.seekSync(from, Deno.SeekMode.Start);
  for (let at = from; at < to;) {
    at += file.writeSync(zeros.subarray(0, Math.min(CHUNK_BYTES, to - at)));
  }
  file.syncDataSync();
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? (slash === 0 ? "/" : ".") : path.slice(0, slash);
}

function syncDirectorySync(dir: string): void {
  const handle = Deno.openSync(dir, { read: true });
  try {
    handle.syncSync();
  } finally {
    handle.close();
  }
}
