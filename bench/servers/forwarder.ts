/**
 * The latency baseline: the least a store-and-forward hop does. A bare
 * `Deno.serve` handler that reads the request body, hands it to the sink
 * with `fetch` (correlation id, content type, a fresh `webhook-id`) and
 * answers 202 with that id at once — no auth, no store, no fsync. The same
 * paced publisher and sink measure it as they measure Miranda, so what this
 * hop shows is what the machine, the publisher and the sink cost in the
 * same minute. Run as its own process: `deno run -A forwarder.ts SINK_URL`.
 * Prints `listening on URL`.
 *
 * @module
 */

import { say } from "../log.ts";

const target = Deno.args[0];
if (target === undefined) throw new Error("Usage: forwarder.ts SINK_URL");

const HEADERS = { "content-type": "application/json" };

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ hostname, port }) =>
    say(`listening on http://${hostname}:${port}/`),
}, async (request) => {
  const body = await request.arrayBuffer();
  const id = crypto.randomUUID();
  const headers: Record<string, string> = {
    "content-type": request.headers.get("content-type") ?? "",
    "webhook-id": id,
  };
  const correlation = request.headers.get("x-correlation-id");
  if (correlation !== null) headers["x-correlation-id"] = correlation;
  fetch(target, { method: "POST", headers, body })
    .then((response) => response.body?.cancel())
    .catch((error) => say(`forward failed: ${error}`));
  return new Response(JSON.stringify({ id }), {
    status: 202,
    headers: HEADERS,
  });
});

Deno.addSignalListener("SIGTERM", () => {
  void server.shutdown().then(() => Deno.exit(0));
});
