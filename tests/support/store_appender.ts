/**
 * A process that appends events to a real SQLite store one at a time and
 * prints `ok <id>` once each append has resolved (the moment a node would
 * answer 202), until an append fails (`failed <error>`). For tests that
 * make the file system fail under it.
 *
 * `deno run -A tests/support/store_appender.ts <database path> <WAL bytes to zero-fill>`
 *
 * @module
 */

import { openSqliteStore } from "../../store/sqlite/store.ts";
import { topicRecord } from "../store/pipeline_contract.ts";
import { testKeyfile } from "./keys.ts";

const [path, walBytes] = Deno.args;
const encoder = new TextEncoder();
const emit = (line: string): void => {
  Deno.stdout.writeSync(encoder.encode(`${line}\n`));
};
const { keyring } = await testKeyfile();
const store = openSqliteStore(path!, () => keyring, {
  walPreallocateBytes: Number(walBytes),
});
const time = "2026-01-01T00:00:00.000Z";
await store.topics.create(
  topicRecord("appends", { id: "t1", owner: "root" }),
  { actor: "root", requestId: "r1", time },
);
const body = new Uint8Array(1_000);
for (let n = 1;; n++) {
  const id = `e${n}`;
  try {
    await store.events.append([{
      id,
      topicId: "t1",
      method: "POST",
      path: "",
      query: "",
      contentType: "application/octet-stream",
      headers: {},
      body,
      sender: "root",
      receivedAt: Date.parse(time),
      idempotencyKey: null,
    }]);
  } catch (error) {
    emit(`failed ${error instanceof Error ? error.message : error}`);
    break;
  }
  emit(`ok ${id}`);
}
Deno.exit(0);
