import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  hasFreeDescriptors,
  WORKER_DESCRIPTOR_RESERVE,
} from "../../observability/descriptors.ts";

const FIXTURE = fileURLToPath(
  new URL("../support/workers_without_descriptors.ts", import.meta.url),
);

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
  const out = await new Deno.Command("/bin/sh", {
    args: [
      "-c",
      `ulimit -n 64 && exec "$0" run --allow-all "$1"`,
      Deno.execPath(),
      FIXTURE,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(
    out.code,
    0,
    `the fixture ended with ${out.code}:\n${stdout}\n${
      new TextDecoder().decode(out.stderr)
    }`,
  );
  const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
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
