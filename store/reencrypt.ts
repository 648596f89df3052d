/**
 * The re-encryption job after a data-key rotation: walks every sealed cell
 * still under an older data key, opens it and seals it again under the
 * active key, in small batches. It keeps no progress of its own — the cells
 * under old keys *are* the progress — so an interrupted run resumes by
 * running again.
 *
 * @module
 */

import type { Cipher, ReencryptionStore } from "./mod.ts";

/** What one run did. */
export interface ReencryptReport {
  reencrypted: number;
  /** Cells changed by someone else between read and swap (they are re-read next batch). */
  raced: number;
}

/** Re-seals every cell not under the active key; stops early when `signal` aborts. */
export async function reencryptAll(
  store: ReencryptionStore,
  cipher: () => Cipher,
  options: {
    batchSize?: number;
    signal?: AbortSignal;
    onBatch?: (report: ReencryptReport) => void;
  } = {},
): Promise<ReencryptReport> {
  const batchSize = options.batchSize ?? 256;
  const report: ReencryptReport = { reencrypted: 0, raced: 0 };
  while (!options.signal?.aborted) {
    const keys = cipher();
    const cells = await store.underOtherKeys(keys.activeKeyId, batchSize);
    if (cells.length === 0) break;
    let swapped = 0;
    for (const cell of cells) {
      const plaintext = await keys.open(cell.ciphertext, cell.ref);
      const ciphertext = await keys.seal(plaintext, cell.ref);
      if (await store.replace(cell, ciphertext, keys.activeKeyId)) swapped++;
      else report.raced++;
    }
    report.reencrypted += swapped;
    options.onBatch?.(report);
    if (swapped === 0 && cells.length > 0 && report.raced > 10 * batchSize) {
      throw new Error(
        "Re-encryption keeps racing with writers; try again later",
      );
    }
  }
  return report;
}
