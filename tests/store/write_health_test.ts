import assert from "node:assert/strict";
import {
  isStorageFailure,
  WriteHealth,
  type WriteState,
} from "../../store/sqlite/write_health.ts";
import { WalFlushFailed } from "../../store/sqlite/wal_sync.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(done: () => boolean, ms = 2_000): Promise<void> {
  const end = performance.now() + ms;
  while (!done()) {
    if (performance.now() > end) throw new Error("timed out");
    await sleep(5);
  }
}

Deno.test("write health: storage failures are told from a statement's own errors", () => {
  for (
    const message of [
      "database or disk is full",
      "disk I/O error",
      "attempt to write a readonly database",
      "database disk image is malformed",
      "unable to open database file",
      "Read-only file system (os error 30)",
      "No space left on device (os error 28)",
      "Input/output error (os error 5)",
    ]
  ) {
    assert.equal(isStorageFailure(new Error(message)), true, message);
  }
  for (
    const message of [
      "UNIQUE constraint failed: topics.name",
      "FOREIGN KEY constraint failed",
      "Permission denied (os error 13)",
      "database is locked",
    ]
  ) {
    assert.equal(isStorageFailure(new Error(message)), false, message);
  }
  assert.equal(isStorageFailure("disk I/O error"), false, "not an Error");
});

Deno.test("write health: a storage failure marks it failing until a probe write succeeds; other errors do not", async () => {
  const changes: WriteState[] = [];
  let probeFails = 2;
  let probes = 0;
  const health = new WriteHealth({
    intervalMs: 10,
    probe: () => {
      probes++;
      if (probeFails-- > 0) {
        return Promise.reject(new Error("database or disk is full"));
      }
      return Promise.resolve();
    },
    onChange: (state) => changes.push(state),
  });
  try {
    health.failed(new Error("UNIQUE constraint failed: topics.name"));
    assert.deepEqual(health.state(), { ok: true, detail: "writes succeed" });
    await sleep(30);
    assert.equal(probes, 0, "no probe while healthy");

    health.failed(new Error("disk I/O error"));
    const failing = health.state();
    assert.equal(failing.ok, false);
    assert.match(failing.detail, /^writes failing since .*: disk I\/O error$/);
    // A second failure while failing is not a second change.
    health.failed(new Error("database or disk is full"));
    await until(() => health.state().ok);
    assert.equal(probes, 3, "two probes failed, the third got through");
    assert.deepEqual(changes.map((c) => c.ok), [false, true]);
    await sleep(30);
    assert.equal(probes, 3, "no probe once healthy again");
  } finally {
    health.close();
  }
});

Deno.test("write health: close stops the probes", async () => {
  let probes = 0;
  const health = new WriteHealth({
    intervalMs: 10,
    probe: () => {
      probes++;
      return Promise.reject(new Error("disk I/O error"));
    },
  });
  health.failed(new Error("disk I/O error"));
  await until(() => probes >= 1);
  health.close();
  const seen = probes;
  await sleep(40);
  assert.equal(probes, seen);
  assert.equal(health.state().ok, false);
});

Deno.test("write health: a failed WAL flush fails it for good — no probe, no way back, later failures change nothing", async () => {
  let probes = 0;
  const changes: WriteState[] = [];
  const health = new WriteHealth({
    intervalMs: 10,
    probe: () => {
      probes++;
      return Promise.resolve();
    },
    onChange: (state) => changes.push(state),
  });
  try {
    // Already failing (and probing) when the flush fails.
    health.failed(new Error("database or disk is full"));
    health.failed(
      new WalFlushFailed(new Error("Input/output error (os error 5)")),
    );
    health.failed(new Error("disk I/O error"));
    await sleep(50);
    const state = health.state();
    assert.equal(state.ok, false);
    assert.match(
      state.detail,
      /could not be flushed .*until the node restarts/,
    );
    assert.equal(probes, 0);
    assert.deepEqual(changes.map((c) => c.ok), [false, false]);
  } finally {
    health.close();
  }
});
