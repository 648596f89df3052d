/**
 * The layout of a data directory: one place that names every file Miranda
 * keeps there, and owner-only writes.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { SQLITE_FILE } from "../store/sqlite/open.ts";

/** Paths of the files in a data directory. */
export interface DataDirLayout {
  dir: string;
  /** The wrapped key hierarchy (`keyring.json`). */
  keyfile: string;
  /** The local certificate authority's certificate (public). */
  caCert: string;
  /** The node's TLS certificate, signed by the local CA. */
  nodeCert: string;
  /** The node's TLS private key (0600; needed to listen while sealed). */
  nodeKey: string;
  /** The embedded store. */
  database: string;
  /** A passphrase generated for an unattended first `start` (unfit for production). */
  generatedPassphrase: string;
}

/** The layout of the data directory at `dir`. */
export function dataDirLayout(dir: string): DataDirLayout {
  return {
    dir,
    keyfile: join(dir, "keyring.json"),
    caCert: join(dir, "ca.pem"),
    nodeCert: join(dir, "node.pem"),
    nodeKey: join(dir, "node-key.pem"),
    database: join(dir, SQLITE_FILE),
    generatedPassphrase: join(dir, "GENERATED-PASSPHRASE-NOT-FOR-PRODUCTION"),
  };
}

/** True when `dir` exists and holds a keyfile (an initialised data directory). */
export async function isInitialised(dir: string): Promise<boolean> {
  try {
    await Deno.stat(dataDirLayout(dir).keyfile);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Writes a new file readable by the owner only and makes it durable (the
 * file, then its directory, flushed to disk): key material and the admin's
 * key must survive a machine or file-system failure right after `init`.
 * Refuses to overwrite.
 */
export async function writePrivateFile(
  path: string,
  data: string | Uint8Array,
): Promise<void> {
  const bytes = typeof data === "string"
    ? new TextEncoder().encode(data)
    : data;
  {
    using file = await Deno.open(path, {
      write: true,
      createNew: true,
      mode: 0o600,
    });
    await Deno.chmod(path, 0o600);
    for (let written = 0; written < bytes.length;) {
      written += await file.write(bytes.subarray(written));
    }
    await file.sync();
  }
  await syncDirectory(dirname(path));
}

/** Flushes a directory's entries (files created or renamed in it) to disk. */
export async function syncDirectory(dir: string): Promise<void> {
  using handle = await Deno.open(dir, { read: true });
  await handle.sync();
}
