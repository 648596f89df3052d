/**
 * The pieces every chaos scenario ends with: its accounting row, its broken
 * expectations, and the wait for every accepted event to arrive.
 *
 * @module
 */

import type { Accounting } from "./publisher.ts";
import { waitFor } from "./publisher.ts";
import type { AccountingRow } from "./report.ts";
import type { Sink } from "./sink.ts";

/**
 * One row for several subscriptions of one topic: accepted counts events,
 * the other columns count (event, subscription) pairs.
 */
export function sumRows(
  scenario: string,
  results: Accounting[],
  seconds: number,
  notes: string,
  deadLettered = 0,
): AccountingRow {
  return {
    scenario: `${scenario}, × ${results.length} subs`,
    accepted: results[0]?.accepted ?? 0,
    delivered: results.reduce((a, r) => a + r.delivered, 0) - deadLettered,
    deadLettered,
    duplicated: results.reduce((a, r) => a + r.duplicated, 0),
    lost: results.reduce((a, r) => a + r.lost.length, 0),
    seconds,
    notes,
  };
}

/**
 * The row with its `failure` set to the scenario's broken expectations
 * (joined), or unchanged when every one held. Each entry of `broken` is a
 * reason, or `false` for an expectation that held.
 */
export function expecting(
  row: AccountingRow,
  broken: readonly (string | false)[],
): AccountingRow {
  const reasons = broken.filter((r): r is string => r !== false);
  return reasons.length === 0 ? row : { ...row, failure: reasons.join("; ") };
}

/** True once every hook path received every accepted id, false at `deadlineMs`. */
export async function drain(
  sink: Sink,
  paths: string[],
  accepted: readonly string[],
  deadlineMs: number,
): Promise<boolean> {
  return await waitFor(
    () =>
      paths.every((p) => {
        const log = sink.hook(p).accepted;
        return accepted.every((id) => log.has(id));
      }),
    { deadlineMs, everyMs: 250 },
  );
}
