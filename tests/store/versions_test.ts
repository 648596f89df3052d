import assert from "node:assert/strict";
import { nextVersion } from "../../store/sqlite/versions.ts";

interface Thing {
  version: number;
  name: string;
  limit: number | null;
}

Deno.test("versions: the next version takes the defined fields of the patch and keeps the rest", () => {
  const current: Thing = { version: 3, name: "a", limit: 5 };
  assert.deepEqual(nextVersion(current, { name: "b" }, undefined), {
    ok: true,
    next: { version: 4, name: "b", limit: 5 },
  });
  assert.deepEqual(nextVersion(current, { limit: null }, 3), {
    ok: true,
    next: { version: 4, name: "a", limit: null },
  }, "null is a value, not an absence");
  const undefinedName = { name: undefined } as unknown as Partial<Thing>;
  assert.deepEqual(nextVersion(current, undefinedName, undefined), {
    ok: true,
    next: { version: 4, name: "a", limit: 5 },
  });
});

Deno.test("versions: a stale expected version and a missing record are refused", () => {
  assert.deepEqual(
    nextVersion<Thing>({ version: 3, name: "a", limit: 1 }, {}, 2),
    {
      ok: false,
      code: "version_conflict",
    },
  );
  assert.deepEqual(nextVersion<Thing>(null, {}, undefined), {
    ok: false,
    code: "not_found",
  });
});
