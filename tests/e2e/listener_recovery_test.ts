import assert from "node:assert/strict";
import { request, startServer } from "./harness.ts";
import {
  answersOnNewConnection,
  openUntilRefused,
} from "../support/idle_connections.ts";

/** The node's descriptor limit here: a few dozen its own, the rest connections. */
const MAX_OPEN_FILES = 256;

Deno.test("listener: a node that runs out of file descriptors (idle connections) listens again, and counts it", async () => {
  await using server = await startServer({
    args: ["--insecure-http"],
    maxOpenFiles: MAX_OPEN_FILES,
  });
  // More idle connections than the node has descriptors: accepting one
  // fails (EMFILE), which stops `Deno.serve` for good on its own, and the
  // next connection is refused.
  const { idle, refused } = await openUntilRefused(
    server.url,
    MAX_OPEN_FILES * 4,
  );
  try {
    assert.ok(
      refused,
      `${idle.length} idle connections did not exhaust the node's descriptors; its log:\n${server.stderr()}`,
    );
  } finally {
    for (const conn of idle) conn.close();
  }

  assert.ok(
    await answersOnNewConnection(server.url, 20_000),
    `the node did not answer again; its log:\n${server.stderr()}`,
  );
  assert.match(server.stderr(), /HTTP server listening again/);
  const metrics = await request(`${server.url}/metrics`);
  const restarts = /^miranda_http_listener_restarts_total (\d+)$/m.exec(
    metrics.text,
  );
  assert.ok(restarts, "the restarts metric is exported");
  assert.ok(Number(restarts[1]) >= 1, `restarts: ${restarts[1]}`);
  const ready = await request(`${server.url}/readyz`);
  assert.equal(ready.status, 200, ready.text);
});
