/**
 * Run by `tests/observability/descriptors_test.ts` under a low descriptor
 * limit (`deno run -A tests/support/workers_without_descriptors.ts`): takes
 * every free descriptor, then asks each place that starts a worker to start
 * one — the seal worker, the checkpoint worker, the delivery worker and an
 * Argon2id hash. Deno aborts the process when a worker starts with no
 * descriptor free, so getting to the end is the test; it then frees the
 * descriptors and prints one JSON line of what each place did instead.
 *
 * @module
 */

import { deriveArgon2id } from "../../security/argon2.ts";
import { WorkerSealer } from "../../security/worker_sealer.ts";
import { startCheckpointer } from "../../store/sqlite/checkpointer.ts";
import { createWorkerSender } from "../../delivery/worker_sender.ts";

const dir = await Deno.makeTempDir({ prefix: "miranda-no-fds-" });
// As the node does at start: Deno sets up its signal handling with the
// first listener, and panics if that falls when descriptors have run out.
const onTerm = () => {};
Deno.addSignalListener("SIGTERM", onTerm);
const inline: boolean[] = [];
const checkpointer = startCheckpointer(`${dir}/probe.db`, {
  inline: (on) => inline.push(on),
  onFailure: () => {},
});
const sealer = new WorkerSealer();
const sender = createWorkerSender();

const files: Deno.FsFile[] = [];
try {
  while (true) files.push(await Deno.open("/dev/null"));
} catch {
  // Out of descriptors.
}
sealer.warm();
checkpointer.wrote();
const delivery = await sender.send({
  url: "http://127.0.0.1:9/",
  method: "POST",
  headers: [],
  body: null,
  timeoutMs: 1_000,
  privateAllowed: true,
});
const argon2 = await deriveArgon2id({
  password: "p",
  salt: new Uint8Array(16),
  memoryKiB: 64,
  iterations: 1,
  parallelism: 1,
  hashLength: 32,
}).then(() => "derived", (error: Error) => error.message);
await new Promise((resolve) => setTimeout(resolve, 300));
for (const file of files) file.close();

const result = {
  heldDescriptors: files.length,
  sealerReady: sealer.ready,
  checkpointerRunning: checkpointer.running,
  inline,
  delivery,
  argon2,
};
await checkpointer.close();
sealer.close(new Error("done"));
await sender.close();
await Deno.remove(dir, { recursive: true });
Deno.removeSignalListener("SIGTERM", onTerm);
Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(result) + "\n"));
