import assert from "node:assert/strict";

const STORE_FILES = ["pipeline.ts", "store.ts"];

Deno.test("store statements bind no bare LIMIT parameter (it costs a re-plan per run)", async () => {
  for (const file of STORE_FILES) {
    const source = await Deno.readTextFile(
      new URL(`../../store/sqlite/${file}`, import.meta.url),
    );
    const bare = source.split("\n").flatMap((line, i) =>
      !line.trim().startsWith("//") && /LIMIT\s+\?\d*/i.test(line)
        ? [`${file}:${i + 1}: ${line.trim()}`]
        : []
    );
    assert.deepEqual(bare, [], "use LIMIT CAST(? AS INTEGER)");
    // The check itself: it would see a bare one.
    assert.ok(/LIMIT\s+\?\d*/i.test("SELECT 1 LIMIT ?2"));
  }
});
