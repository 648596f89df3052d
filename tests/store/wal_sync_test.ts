import assert from "node:assert/strict";
import { WalFlushFailed, WalSync } from "../../store/sqlite/wal_sync.ts";

async function withWal(test: (path: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "miranda-wal-" });
  const path = `${dir}/db-wal`;
  await Deno.writeTextFile(path, "frames");
  try {
    await test(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Waits (5 s at most) until `gates` holds `n` flushes. */
async function gatesReach(gates: unknown[], n: number): Promise<void> {
  const until = performance.now() + 5_000;
  while (gates.length < n && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 1));
  }
}

Deno.test("wal sync: many concurrent callers share flushes, and each waits for one that started after its call", async () => {
  await withWal(async (path) => {
    const gates: PromiseWithResolvers<void>[] = [];
    const wal = new WalSync(path, {
      flush: () => {
        const gate = Promise.withResolvers<void>();
        gates.push(gate);
        return gate.promise;
      },
    });
    let firstDone = false;
    const first = wal.sync().then(() => (firstDone = true));
    // The first flush opens the file on the thread pool first: wait for it
    // (a fixed turn was not always long enough under a loaded machine).
    await gatesReach(gates, 1);
    assert.equal(gates.length, 1, "the first caller starts a flush");
    let laterDone = 0;
    const later = Array.from(
      { length: 50 },
      () => wal.sync().then(() => laterDone++),
    );
    gates[0]!.resolve();
    await first;
    assert.ok(firstDone);
    assert.equal(
      laterDone,
      0,
      "callers that came during the first flush wait for the next one",
    );
    await gatesReach(gates, 2);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(gates.length, 2, "fifty callers share one further flush");
    gates[1]!.resolve();
    await Promise.all(later);
    assert.equal(laterDone, 50);
    await wal.close();
  });
});

Deno.test("wal sync: a failed flush stops the log — its callers and every later one are refused, and nothing is flushed again", async () => {
  await withWal(async (path) => {
    let calls = 0;
    const heard: unknown[] = [];
    const wal = new WalSync(path, {
      flush: () => {
        calls++;
        return calls === 1
          ? Promise.reject(new Error("Input/output error (os error 5)"))
          : Promise.resolve();
      },
      onFailure: (error) => heard.push(error),
    });
    await assert.rejects(() => wal.sync(), WalFlushFailed);
    // A later fdatasync could succeed without the pages the failed one lost.
    await assert.rejects(
      () => wal.sync(),
      /os error 5.*until the node restarts/,
    );
    assert.equal(calls, 1);
    assert.ok(wal.failed instanceof WalFlushFailed);
    assert.equal(heard.length, 1);
    assert.ok(heard[0] instanceof WalFlushFailed);
    await wal.close();
  });
});

Deno.test("wal sync: failing to open the file flushed nothing and stops nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "miranda-wal-" });
  try {
    const path = `${dir}/later.db-wal`;
    const wal = new WalSync(path);
    await assert.rejects(() => wal.sync(), Deno.errors.NotFound);
    assert.equal(wal.failed, null);
    await Deno.writeFile(path, new Uint8Array(8));
    await wal.sync();
    await wal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("wal sync: the real flush syncs the file and close releases it", async () => {
  await withWal(async (path) => {
    const wal = new WalSync(path);
    await Promise.all([wal.sync(), wal.sync(), wal.sync()]);
    await wal.close();
  });
});
