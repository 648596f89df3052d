import assert from "node:assert/strict";
import {
  DEFAULT_CAP_MS,
  probeDelay,
  retryDelay,
} from "../../delivery/backoff.ts";

Deno.test("backoff: full jitter draws from [0, initial·2^(n-1)], capped", () => {
  const top = () => 0.999999;
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((n) =>
      retryDelay(n, { initialMs: 100, capMs: 1000, random: top })
    ),
    [100, 200, 400, 800, 1000],
  );
  assert.equal(retryDelay(3, { initialMs: 100, random: () => 0.5 }), 200);
  // Never zero, so a failing subscriber cannot be spun on.
  assert.equal(retryDelay(1, { initialMs: 100, random: () => 0 }), 1);
  assert.equal(
    retryDelay(60, { initialMs: 1000, random: top }),
    DEFAULT_CAP_MS,
  );
});

Deno.test("backoff: decorrelated jitter stays in [initial, 3·previous] and under the cap", () => {
  const options = {
    initialMs: 100,
    capMs: 5000,
    jitter: "decorrelated" as const,
  };
  assert.equal(retryDelay(1, { ...options, random: () => 0 }), 100);
  assert.equal(
    retryDelay(2, { ...options, previousMs: 400, random: () => 0.999999 }),
    1200,
  );
  assert.equal(
    retryDelay(9, { ...options, previousMs: 4000, random: () => 0.999999 }),
    5000,
  );
  let previous = 100;
  for (let n = 1; n < 50; n++) {
    previous = retryDelay(n, { ...options, previousMs: previous });
    assert.ok(previous >= 100 && previous <= 5000);
  }
});

Deno.test("backoff: probe waits double from the initial wait up to the cap, then stay there", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7].map((n) =>
      probeDelay(n, { initialMs: 1000, capMs: 10_000 })
    ),
    [1000, 2000, 4000, 8000, 10_000, 10_000, 10_000],
  );
  assert.equal(probeDelay(100, { initialMs: 1000 }), DEFAULT_CAP_MS);
});
