import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  hasFreeDescriptors,
  WORKER_DESCRIPTOR_RESERVE,
} from "../../observability/descriptors.ts";
import { runWithFileLimit } from "../support/file_limit.ts";

const FIXTURE = fileURLToPath(
  new URL("../support/workers_without_descriptors.ts", import.meta.url),
);

/** What the fixture printed: what each place did instead of starting a worker. */
interface WorkerStarts {
  heldDescriptors: number;
  sealerReady: boolean;
  checkpointerRunning: boolean;
  inline: boolean[];
  delivery: unknown;
  argon2: string;
}

/** This process's soft descriptor limit, read on its own. */
function softLimit(): number {
  const text = Deno.readTextFileSync("/proc/self/limits");
  return Number(/^Max open files\s+(\d+)/m.exec(text)![1]);
}

Deno.test("descriptors: room for a worker while the reserve is free, none once it would not be", () => {
  assert.ok(softLimit() > 1_000, "this test wants a roomy limit");
  assert.equal(hasFreeDescriptors(), true);
  assert.equal(hasFreeDescriptors(WORKER_DESCRIPTOR_RESERVE), true);
  // More than the limit can ever leave free.
  assert.equal(hasFreeDescriptors(softLimit() + 1), false);
});

Deno.test("descriptors: with none free, every worker start is declined and its work goes on without it — the process is not aborted", async () => {
  const result = await runWithFileLimit(FIXTURE, 64) as WorkerStarts;
  assert.ok(result.heldDescriptors > 0);
  assert.equal(result.sealerReady, false);
  assert.equal(result.checkpointerRunning, false);
  assert.deepEqual(result.inline, [true], "SQLite keeps checkpointing inline");
  assert.deepEqual(result.delivery, {
    kind: "unreachable",
    error: "The delivery worker could not start: no file descriptor free",
  });
  assert.match(result.argon2, /no file descriptor is free/);
});
