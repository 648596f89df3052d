/**
 * Runs a fixture script in a process of its own with few file descriptors,
 * for tests of what happens when they run out.
 *
 * @module
 */

import assert from "node:assert/strict";

/**
 * Runs `deno run --allow-all FILE ARGS` with at most `maxOpenFiles`
 * descriptors (`ulimit -n`, soft and hard), fails unless it exits 0, and
 * returns the JSON of the last line it printed.
 */
export async function runWithFileLimit(
  file: string,
  maxOpenFiles: number,
  args: readonly string[] = [],
): Promise<unknown> {
  const out = await new Deno.Command("/bin/sh", {
    args: [
      "-c",
      `ulimit -n ${maxOpenFiles} && exec "$0" run --allow-all "$@"`,
      Deno.execPath(),
      file,
      ...args,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(
    out.code,
    0,
    `${file} ended with ${out.code}:\n${stdout}\n${
      new TextDecoder().decode(out.stderr)
    }`,
  );
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}
