/**
 * Run by `tests/http/listener_test.ts` under a low descriptor limit
 * (`deno run -A tests/support/listener_exhaustion.ts HOLD_MS shutdown|recover|again`):
 * serves through `listen`, takes every free descriptor but one and connects
 * with that one, so that accepting fails (EMFILE) and the server stops. Then
 * it frees the descriptors and takes the port itself, so that listening
 * again fails for `HOLD_MS`; then it either shuts the listener down
 * (`shutdown`) or gives the port back and waits until the listener answers
 * again (`recover`), and with `again` then stops the server once more right
 * away and waits for the answer again. Prints one JSON line: the log
 * messages, the waits the stops announced, the restarts metric and what it
 * timed.
 *
 * @module
 */

import { Registry } from "prom-client";
import { listen } from "../../http/listener.ts";
import { createLogger } from "../../observability/logger.ts";

const [holdMs, then] = Deno.args as [string, "shutdown" | "recover" | "again"];
const messages: string[] = [];
/** `retryInMs` of each "stopped accepting" line. */
const stopWaits: number[] = [];
const log = createLogger({
  level: "debug",
  sink: (line) => {
    const entry = JSON.parse(line);
    messages.push(entry["msg"]);
    if (entry["msg"].includes("stopped accepting")) {
      stopWaits.push(entry["retryInMs"]);
    }
  },
});
// As the node does at start: Deno sets up its signal handling with the
// first listener, and panics if that falls when descriptors have run out.
const onTerm = () => {};
Deno.addSignalListener("SIGTERM", onTerm);
const registry = new Registry();
const hostname = "127.0.0.1";
const listener = await listen({
  hostname,
  port: 0,
  tls: null,
  handler: () => new Response("ok"),
  log,
  registry,
});
const { port } = listener.addr;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Makes the server fail to accept, and waits until the listener says so. */
async function stopServer(): Promise<void> {
  const stops = stopWaits.length;
  const files: Deno.FsFile[] = [];
  try {
    while (true) files.push(await Deno.open("/dev/null"));
  } catch {
    // Out of descriptors.
  }
  files.pop()?.close();
  // The server fails to accept it and drops it: the connect may be reset.
  const conn = await Deno.connect({ hostname, port }).catch(() => null);
  for (const file of files) file.close();
  conn?.close();
  while (stopWaits.length === stops) await sleep(1);
}

/** The listener's answer, once it answers again. */
async function answer(): Promise<string> {
  while (true) {
    try {
      return await (await fetch(`http://${hostname}:${port}/`)).text();
    } catch {
      await sleep(50);
    }
  }
}

await stopServer();
const result: Record<string, unknown> = {};
let blocker: Deno.Listener | null = null;
try {
  blocker = Deno.listen({ hostname, port });
} catch {
  // Listening again came first: the test fails on `blocked`.
}
result["blocked"] = blocker !== null;
await sleep(Number(holdMs));

if (then === "shutdown") {
  const started = performance.now();
  await listener.shutdown();
  result["shutdownMs"] = performance.now() - started;
  blocker?.close();
} else {
  blocker?.close();
  result["answer"] = await answer();
  if (then === "again") {
    // Out of descriptors again soon after listening again.
    await stopServer();
    result["answerAgain"] = await answer();
  }
  await listener.shutdown();
}
result["stopWaits"] = stopWaits;
result["restarts"] = (await registry.getSingleMetricAsString(
  "miranda_http_listener_restarts_total",
)).split("\n").at(-1);
result["log"] = messages;
Deno.removeSignalListener("SIGTERM", onTerm);
Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(result) + "\n"));
