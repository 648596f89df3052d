/**
 * Probe: do writes whose `fdatasync` succeeded survive ext4 aborting its
 * journal? A writer process appends records and flushes after each one,
 * printing each acknowledged record; mid-run ext4 is made to report an error
 * (`errors=remount-ro`), then the file system is checked and mounted again,
 * and every acknowledged record must be there. Four ways of writing:
 *
 * - `append`: 1 KiB records appended to a file;
 * - `overwrite`: the same records written over a file zero-filled first;
 * - `sqlite`: rows committed to SQLite in WAL mode, `synchronous=NORMAL` and
 *   an `fdatasync` of the WAL after each commit — the store's event commits;
 * - `sqlite-zeroed`: the same with the WAL zero-filled first
 *   (`store/sqlite/wal_preallocation.ts`).
 *
 * Needs root (a loop device). Usage:
 * `deno run -A bench/probes/ext4_abort_appends.ts [rounds] [mode…]`
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { say } from "../log.ts";
import { mountExt4Loop } from "../../tests/support/ext4_loop.ts";
import { preallocateWal } from "../../store/sqlite/wal_preallocation.ts";

type Mode = "append" | "overwrite" | "sqlite" | "sqlite-zeroed";
const MODES: readonly Mode[] = [
  "append",
  "overwrite",
  "sqlite",
  "sqlite-zeroed",
];
const RECORD = 1024;
const encoder = new TextEncoder();

/** The writer process: writes and flushes until a call fails; prints `ok <n>` per acknowledged record. */
function write(path: string, mode: Mode): void {
  const emit = (line: string): void => {
    Deno.stdout.writeSync(encoder.encode(`${line}\n`));
  };
  if (mode === "append" || mode === "overwrite") {
    const file = Deno.openSync(path, { write: true, create: true });
    if (mode === "overwrite") {
      file.writeSync(new Uint8Array(8 << 20));
      file.syncSync();
      file.seekSync(0, Deno.SeekMode.Start);
    }
    for (let n = 1;; n++) {
      const record = new Uint8Array(RECORD).fill(0xab);
      new DataView(record.buffer).setUint32(0, n);
      try {
        file.writeSync(record);
        file.syncDataSync();
      } catch (error) {
        return emit(`failed ${n} ${error}`);
      }
      emit(`ok ${n}`);
    }
  }
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  db.exec(
    "CREATE TABLE IF NOT EXISTS records (n INTEGER PRIMARY KEY, body BLOB)",
  );
  // After opening: SQLite deletes a log it finds beside an empty database.
  if (mode === "sqlite-zeroed") preallocateWal(`${path}-wal`, 8 << 20);
  const insert = db.prepare("INSERT INTO records (n, body) VALUES (?, ?)");
  const wal = Deno.openSync(`${path}-wal`, { read: true });
  for (let n = 1;; n++) {
    try {
      insert.run(n, new Uint8Array(RECORD));
      wal.syncDataSync();
    } catch (error) {
      return emit(`failed ${n} ${error}`);
    }
    emit(`ok ${n}`);
  }
}

/** The highest `n` such that records 1…n are all on disk. */
function onDisk(path: string, mode: Mode): number {
  if (mode === "append" || mode === "overwrite") {
    const data = Deno.readFileSync(path);
    const view = new DataView(data.buffer);
    let n = 0;
    while (
      (n + 1) * RECORD <= data.length && view.getUint32(n * RECORD) === n + 1
    ) n++;
    return n;
  }
  const db = new DatabaseSync(path);
  const rows = db.prepare("SELECT n FROM records ORDER BY n").all().map((r) =>
    Number(r["n"])
  );
  db.close();
  let n = 0;
  while (rows[n] === n + 1) n++;
  return n;
}

async function round(
  mode: Mode,
): Promise<{ acknowledged: number; kept: number; ended: string }> {
  const root = await Deno.makeTempDir({ prefix: "miranda-ext4-abort-" });
  const fs = await mountExt4Loop(root, 64);
  if (typeof fs === "string") throw new Error(fs);
  try {
    const path = `${root}/${
      mode.startsWith("sqlite") ? "probe.db" : "records"
    }`;
    const writer = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", import.meta.filename!, "--write", path, mode],
      stdout: "piped",
    }).spawn();
    await new Promise((r) => setTimeout(r, 300 + Math.random() * 300));
    await fs.fail();
    const lines = new TextDecoder().decode((await writer.output()).stdout)
      .trim().split("\n");
    const acknowledged = Number(
      lines.filter((l) => l.startsWith("ok ")).at(-1)?.slice(3) ?? 0,
    );
    await fs.repair();
    return {
      acknowledged,
      kept: onDisk(path, mode),
      ended: lines.at(-1) ?? "",
    };
  } finally {
    await fs[Symbol.asyncDispose]();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

if (Deno.args[0] === "--write") {
  write(Deno.args[1]!, Deno.args[2] as Mode);
} else {
  const rounds = Number(Deno.args[0] ?? 20);
  const modes = Deno.args.length > 1 ? Deno.args.slice(1) as Mode[] : MODES;
  for (const mode of modes) {
    let lost = 0;
    for (let i = 0; i < rounds; i++) {
      const r = await round(mode);
      if (r.kept < r.acknowledged) {
        lost++;
        say(
          `  ${mode} round ${
            i + 1
          }: acknowledged ${r.acknowledged}, on disk ${r.kept}; the writer: ${r.ended}`,
        );
      }
    }
    say(
      `${mode}: ${lost} of ${rounds} rounds lost acknowledged writes`,
    );
  }
}
