/**
 * What a running checkpointer worker costs in memory: this process's RSS
 * with a SQLite store's checkpointer worker running, then after it retired
 * (the same file, nothing else changed). Each figure is the median of 5
 * samples 200 ms apart.
 *
 * `deno run -A bench/probes/checkpointer_rss.ts`
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { say } from "../log.ts";
import { startCheckpointer } from "../../store/sqlite/checkpointer.ts";

const MB = 1024 * 1024;

async function rssMB(): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    samples.push(Deno.memoryUsage().rss / MB);
  }
  return samples.sort((a, b) => a - b)[2]!;
}

const dir = await Deno.makeTempDir({ prefix: "checkpointer-rss-" });
try {
  const path = `${dir}/miranda.db`;
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("CREATE TABLE t (a INTEGER PRIMARY KEY)");
  const without = await rssMB();
  let checkpointing = false;
  const checkpointer = startCheckpointer(path, {
    idleMs: 60_000,
    inline: (on) => (checkpointing = !on),
    onFailure: (error) => {
      throw new Error(error);
    },
  });
  checkpointer.wrote();
  while (!checkpointing) await new Promise((r) => setTimeout(r, 20));
  const running = await rssMB();
  await checkpointer.close();
  const retired = await rssMB();
  db.close();
  say(`RSS before the worker: ${without.toFixed(1)} MB`);
  say(`RSS with the worker running: ${running.toFixed(1)} MB`);
  say(`RSS after it retired: ${retired.toFixed(1)} MB`);
  say(`the running worker: +${(running - retired).toFixed(1)} MB`);
} finally {
  await Deno.remove(dir, { recursive: true });
}
