import assert from "node:assert/strict";

const STORE_FILES = ["pipeline.ts", "store.ts"];
const BARE_LIMIT = /LIMIT\s+\?\d*/i;

Deno.test("store statements bind no bare LIMIT parameter (it costs a re-plan per run)", async () => {
  // The check itself: it would see a bare one.
  assert.ok(BARE_LIMIT.test("SELECT 1 LIMIT ?2"));
  for (const file of STORE_FILES) {
    const source = await Deno.readTextFile(
      new URL(`../../store/sqlite/${file}`, import.meta.url),
    );
    const bare = source.split("\n").flatMap((line, i) =>
      !line.trim().startsWith("//") && BARE_LIMIT.test(line)
        ? [`${file}:${i + 1}: ${line.trim()}`]
        : []
    );
    assert.deepEqual(bare, [], "use LIMIT CAST(? AS INTEGER)");
  }
});
