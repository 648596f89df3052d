import assert from "node:assert/strict";
import { request, startServer } from "./harness.ts";

const PROBLEM = "application/problem+json";

Deno.test("serve: healthz, readyz and metrics answer on a fresh data directory", async () => {
  await using server = await startServer({ args: ["--insecure-http"] });
  const health = await request(`${server.url}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(health.json(), { status: "ok" });

  const ready = await request(`${server.url}/readyz`);
  assert.equal(ready.status, 200, ready.text);
  assert.equal((ready.json() as { status: string }).status, "ready");

  const metrics = await request(`${server.url}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get("content-type") ?? "", /text\/plain/);
  assert.match(metrics.text, /^process_resident_memory_bytes /m);
  assert.match(
    metrics.text,
    /miranda_http_requests_total\{method="GET",route="\/healthz",status="200"\} 1/,
  );
});

Deno.test("serve: every answer carries x-request-id, keeping a well-formed incoming one", async () => {
  await using server = await startServer({ args: ["--insecure-http"] });
  const kept = await request(`${server.url}/healthz`, {
    headers: { "x-request-id": "abc-123" },
  });
  assert.equal(kept.headers.get("x-request-id"), "abc-123");
  const fresh = await request(`${server.url}/healthz`, {
    headers: { "x-request-id": "bad id\twith spaces" },
  });
  assert.match(fresh.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  const missing = await request(`${server.url}/nowhere`);
  assert.match(missing.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
});

Deno.test("serve: unknown route 404, wrong method 405, oversized body 413, header flood 431, all problem+json", async () => {
  await using server = await startServer({
    args: [
      "--insecure-http",
      "--max-body-bytes",
      "1000",
      "--max-header-count",
      "20",
    ],
  });

  const notFound = await request(`${server.url}/no/such/route`);
  assert.equal(notFound.status, 404);
  assert.equal(notFound.headers.get("content-type"), PROBLEM);
  const body = notFound.json() as Record<string, unknown>;
  assert.equal(body["type"], "urn:miranda:problem:not_found");
  assert.equal(body["status"], 404);
  assert.equal(body["requestId"], notFound.headers.get("x-request-id"));
  assert.equal(typeof body["detail"], "string");
  assert.equal(typeof body["title"], "string");

  const wrongMethod = await request(`${server.url}/healthz`, {
    method: "DELETE",
  });
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get("content-type"), PROBLEM);
  assert.match(wrongMethod.headers.get("allow") ?? "", /GET/);

  const tooLarge = await request(`${server.url}/healthz`, {
    method: "POST",
    body: "x".repeat(1001),
  });
  assert.equal(tooLarge.status, 413);
  assert.equal(tooLarge.headers.get("content-type"), PROBLEM);
  // Without content-length (chunked) the body is counted as it arrives.
  const chunked = (bytes: number) =>
    request(`${server.url}/healthz`, {
      method: "POST",
      body: ReadableStream.from([new TextEncoder().encode("x".repeat(bytes))]),
    });
  const tooLargeChunked = await chunked(1001);
  assert.equal(tooLargeChunked.status, 413);
  assert.equal(tooLargeChunked.headers.get("content-type"), PROBLEM);
  assert.equal((await chunked(1000)).status, 405, "within the limit");

  const headers = new Headers();
  for (let i = 0; i < 30; i++) headers.set(`x-flood-${i}`, "1");
  const flood = await request(`${server.url}/healthz`, { headers });
  assert.equal(flood.status, 431);
  assert.equal(flood.headers.get("content-type"), PROBLEM);

  const health = await request(`${server.url}/healthz`);
  assert.equal(health.status, 200, "the server still answers after bad input");
});

Deno.test("serve: SIGTERM shuts down gracefully and exits 0", async () => {
  const server = await startServer({
    args: ["--insecure-http", "--shutdown-timeout-ms", "5000"],
  });
  assert.equal((await request(`${server.url}/healthz`)).status, 200);
  const status = await server.stop("SIGTERM");
  assert.equal(status.code, 0, server.stderr());
  assert.match(server.stderr(), /"msg":"stopped"/);
});

Deno.test("serve: a bad flag value exits 2 with a message naming the key", async () => {
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("../../mod.ts", import.meta.url).pathname,
      "serve",
      "--listen",
      "nope",
    ],
    stdout: "piped",
    stderr: "piped",
  });
  const out = await command.output();
  assert.equal(out.code, 2);
  assert.match(
    new TextDecoder().decode(out.stderr),
    /"listen" must be HOST:PORT/,
  );
});
