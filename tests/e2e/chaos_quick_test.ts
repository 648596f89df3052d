/**
 * The chaos scenarios the crash tests do not cover, in their `--quick`
 * form: each runs real processes on loopback and must lose nothing and
 * keep every expectation of its own (the row's `failure`).
 */

import assert from "node:assert/strict";
import { diskReadOnly } from "../../chaos/disk_read_only.ts";
import { type AccountingRow, report } from "../../chaos/lib/report.ts";
import {
  bodies,
  diskFull,
  hostile,
  slowBodies,
  slowloris,
} from "../../chaos/scenarios.ts";

function assertKept(row: AccountingRow): void {
  report(
    `${row.scenario}: accepted ${row.accepted}, lost ${row.lost}; ${
      row.notes ?? row.skipped
    }`,
  );
  assert.equal(row.lost, 0, `lost ${row.lost} accepted deliveries`);
  assert.equal(row.failure, undefined, row.failure);
}

Deno.test("chaos e2e: hostile subscribers (500s dead-lettered, hangs, resets, slow, flapping) end delivered or dead-lettered, with liveness probes and no actor restart", async () => {
  assertKept(await hostile({ quick: true }));
});

/** Kept, or skipped where the scenario cannot mount — never in CI (root). */
function assertKeptUnlessSkipped(row: AccountingRow): void {
  if (row.skipped !== undefined) {
    assert.notEqual(
      Deno.env.get("CI"),
      "true",
      `${row.scenario} could not run in CI: ${row.skipped}`,
    );
    report(`${row.scenario} skipped: ${row.skipped}`);
    return;
  }
  assertKept(row);
}

Deno.test("chaos e2e: a full disk gets 503 store_unavailable and /readyz 503, the node stays up, loses nothing it accepted and is ready and accepting again once space returns", async () => {
  assertKeptUnlessSkipped(await diskFull({ quick: true }));
});

Deno.test("chaos e2e: a file system turned read-only under the node (an ext4 error) gets 503s and /readyz 503, and after a check and a restart every accepted event is delivered", async () => {
  assertKeptUnlessSkipped(await diskReadOnly({ quick: true }));
});

Deno.test("chaos e2e: idle and slow connections plus floods over the rate limits: well-behaved publishes are still answered, the floods meet 429s, the node stays up", async () => {
  assertKept(await slowloris({ quick: true }));
});

Deno.test("chaos e2e: many publishers of bodies at the size limit to a received topic: the surplus is refused 503 overloaded, the node stays up and delivers everything it accepted", async () => {
  assertKept(await bodies({ quick: true }));
});

Deno.test("chaos e2e: one user's slow uploads are answered 408 past the body deadline or 429 past the user's share, while another user's publishes are accepted and delivered", async () => {
  assertKept(await slowBodies({ quick: true }));
});
