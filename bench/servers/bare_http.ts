/**
 * The HTTP ceiling: a bare `Deno.serve` handler that reads the request body
 * and answers 202 with a small JSON body, as Miranda's ingest does, and
 * nothing else. Run as its own process (`deno run`) so that it has the
 * process to itself, like Miranda. Prints `listening on URL`.
 *
 * @module
 */

import { say } from "../log.ts";

const ANSWER = JSON.stringify({ id: "00000000-0000-4000-8000-000000000000" });
const HEADERS = { "content-type": "application/json" };

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ hostname, port }) =>
    say(`listening on http://${hostname}:${port}/`),
}, async (request) => {
  await request.arrayBuffer();
  return new Response(ANSWER, { status: 202, headers: HEADERS });
});

Deno.addSignalListener("SIGTERM", () => {
  void server.shutdown().then(() => Deno.exit(0));
});
