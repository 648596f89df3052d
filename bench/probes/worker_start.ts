/**
 * What starting a worker costs: for the seal worker and the delivery worker,
 * the time `new Worker` holds this thread, how long after it the worker says
 * it is ready, and this process's RSS before, with the worker and after it
 * was terminated (each RSS the median of 5 samples 200 ms apart). Three
 * rounds of each, one worker at a time. Then what `FsFile.syncData()` costs
 * the calling thread per call, beside the whole flush.
 *
 * `deno run -A bench/probes/worker_start.ts`
 *
 * @module
 */

import { say } from "../log.ts";
import { median } from "../stats.ts";

const MB = 1024 * 1024;

async function rssMB(): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    samples.push(Deno.memoryUsage().rss / MB);
  }
  return median(samples);
}

const workers: [string, URL, unknown | null][] = [
  [
    "seal worker",
    new URL("../../security/seal_worker.ts", import.meta.url),
    null,
  ],
  [
    "delivery worker",
    new URL("../../delivery/send_worker.ts", import.meta.url),
    { type: "init", options: {} },
  ],
];

for (const [name, url, init] of workers) {
  for (let round = 1; round <= 3; round++) {
    const before = await rssMB();
    const t0 = performance.now();
    const worker = new Worker(url.href, { type: "module" });
    const created = performance.now() - t0;
    const ready = Promise.withResolvers<void>();
    worker.onmessage = (event) => {
      if (event.data?.type === "ready") ready.resolve();
    };
    if (init !== null) worker.postMessage(init);
    await ready.promise;
    const readyAfter = performance.now() - t0 - created;
    const running = await rssMB();
    worker.terminate();
    const after = await rssMB();
    say(
      `${name}, round ${round}: new Worker ${created.toFixed(1)} ms of this ` +
        `thread, ready ${readyAfter.toFixed(1)} ms later; RSS ${
          before.toFixed(1)
        } → ${running.toFixed(1)} MB with it → ${
          after.toFixed(1)
        } MB after terminate`,
    );
  }
}

const dir = await Deno.makeTempDir({ prefix: "sync-data-" });
try {
  const file = await Deno.open(`${dir}/wal`, { create: true, write: true });
  const page = new Uint8Array(4096).fill(1);
  const CALLS = 300;
  let onThread = 0;
  let whole = 0;
  for (let i = 0; i < CALLS; i++) {
    await file.write(page);
    const t0 = performance.now();
    const flushing = file.syncData();
    const t1 = performance.now();
    await flushing;
    onThread += t1 - t0;
    whole += performance.now() - t0;
  }
  file.close();
  say(
    `FsFile.syncData(): ${(onThread * 1000 / CALLS).toFixed(1)} µs of this ` +
      `thread per call, ${(whole * 1000 / CALLS).toFixed(0)} µs per flush`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
