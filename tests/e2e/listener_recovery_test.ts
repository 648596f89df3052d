import assert from "node:assert/strict";
import { request, startServer } from "./harness.ts";

/** The node's descriptor limit here: a few dozen its own, the rest connections. */
const MAX_OPEN_FILES = 256;

async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Whether `/healthz` answers 200 within 2 s. */
async function answers(url: string): Promise<boolean> {
  try {
    const health = await request(`${url}/healthz`, {
      signal: AbortSignal.timeout(2_000),
    });
    return health.status === 200;
  } catch {
    return false;
  }
}

Deno.test("listener: a node that runs out of file descriptors (idle connections) listens again, and counts it", async () => {
  await using server = await startServer({
    args: ["--insecure-http"],
    maxOpenFiles: MAX_OPEN_FILES,
  });
  const { hostname, port } = new URL(server.url);
  const idle: Deno.Conn[] = [];
  let refused = false;
  try {
    // More idle connections than the node has descriptors: accepting one
    // fails (EMFILE), which stops `Deno.serve` for good on its own, and the
    // next connection is refused.
    // Past the limit, connections still complete into the kernel's backlog
    // until the stopped server's socket is closed: room for those too.
    for (let i = 0; i < MAX_OPEN_FILES * 4 && !refused; i++) {
      try {
        idle.push(await Deno.connect({ hostname, port: Number(port) }));
      } catch {
        refused = true;
      }
    }
    assert.ok(
      refused,
      `${idle.length} idle connections did not exhaust the node's descriptors; its log:\n${server.stderr()}`,
    );
  } finally {
    for (const conn of idle) conn.close();
  }

  await waitFor(
    () => answers(server.url),
    20_000,
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
