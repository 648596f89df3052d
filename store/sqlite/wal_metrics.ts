/**
 * The write-ahead log's size as a Prometheus gauge, read from the file at
 * each scrape: it stays at `walPreallocateBytes` while commits overwrite the
 * zero-filled log, and is above it while checkpoints lag and the store
 * extends the log with zeros ahead of its last frame (`wal_reserve.ts`; a
 * size that keeps rising means checkpoints cannot keep up).
 *
 * @module
 */

import { Gauge, type Registry } from "prom-client";

/** Registers `miranda_store_wal_bytes`, the size of the file at `walPath` (0 while there is none). */
export function registerWalMetrics(registry: Registry, walPath: string): void {
  new Gauge({
    name: "miranda_store_wal_bytes",
    help:
      "Size of the embedded store's write-ahead log file; above walPreallocateBytes while checkpoints lag (the store extends it with zeros ahead of its last frame)",
    registers: [registry],
    collect() {
      try {
        this.set(Deno.statSync(walPath).size);
      } catch {
        this.set(0);
      }
    },
  });
}
