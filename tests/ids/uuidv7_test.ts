import assert from "node:assert/strict";
import { uuidv7Generator, uuidv7Time } from "../../ids/uuidv7.ts";

Deno.test("uuidv7: ids are well-formed version 7, variant 10", () => {
  const next = uuidv7Generator();
  for (let i = 0; i < 100; i++) {
    assert.match(
      next(),
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  }
});

Deno.test("uuidv7: ids from one generator strictly increase, even within a millisecond and past the counter", () => {
  const next = uuidv7Generator(() => 1_700_000_000_000);
  let previous = next();
  for (let i = 0; i < 10_000; i++) {
    const id = next();
    assert.ok(id > previous, `${id} should sort after ${previous}`);
    previous = id;
  }
});

Deno.test("uuidv7: the time is encoded and readable", () => {
  const next = uuidv7Generator(() => 1_763_000_000_123);
  assert.equal(uuidv7Time(next()), 1_763_000_000_123);
});

Deno.test("uuidv7: a clock going backwards does not break ordering", () => {
  let t = 2_000;
  const next = uuidv7Generator(() => t);
  const a = next();
  t = 1_000;
  const b = next();
  assert.ok(b > a);
});
