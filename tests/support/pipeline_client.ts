/**
 * Helpers for the event pipeline end-to-end tests: a real node with short
 * delivery waits and its admin logged in, users with Ed25519 keys and
 * access tokens, topic/subscription/publish calls, an independent
 * Standard Webhooks signature check (`node:crypto`, not Miranda's code),
 * a raw HTTP/1.1 request for paths `fetch` would normalise, and a bounded
 * wait on API-visible state.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";
import { dirname } from "node:path";
import { request, type ServerProcess, startServer } from "../e2e/harness.ts";
import {
  accessToken,
  type Answer,
  call,
  createUser,
  login,
} from "./identity_client.ts";

/** Short waits so probes, retries and records happen within a test's time. */
export const FAST_WAITS: readonly string[] = [
  "--probe-initial-ms",
  "50",
  "--retry-initial-ms",
  "20",
  "--delivery-wait-cap-ms",
  "400",
  "--record-flush-ms",
  "10",
  "--retention-sweep-ms",
  "200",
  "--auth-failures-per-minute",
  "100000",
];

/** A node started by `miranda start --insecure-http` with {@linkcode FAST_WAITS}. */
export interface PipelineNode extends AsyncDisposable {
  server: ServerProcess;
  url: string;
  /** The admin's session bearer. */
  admin: string;
  adminKeyPem: string;
  dataDir: string;
  /**
   * Stops the process gracefully (SIGTERM), runs `whileStopped`, and starts
   * it again on the same data directory.
   */
  restart(whileStopped?: () => void | Promise<void>): Promise<void>;
}

/** Starts a pipeline node (fresh data directory) with `args` after the fast waits. */
export async function startPipelineNode(
  args: string[] = [],
): Promise<PipelineNode> {
  const fullArgs = ["--insecure-http", ...FAST_WAITS, ...args];
  let server = await startServer({ args: fullArgs });
  const root = dirname(server.dataDir);
  const adminKeyPem = await Deno.readTextFile(`${root}/admin-key.pem`);
  const node: PipelineNode = {
    server,
    url: server.url,
    admin: await login(server.url, "admin", adminKeyPem),
    adminKeyPem,
    dataDir: server.dataDir,
    async restart(whileStopped) {
      const status = await server.stop("SIGTERM");
      assert.equal(status.code, 0, server.stderr());
      await whileStopped?.();
      server = await startServer({ args: fullArgs, dataDir: node.dataDir });
      node.server = server;
      node.url = server.url;
      node.admin = await login(server.url, "admin", adminKeyPem);
    },
    [Symbol.asyncDispose]: async () => {
      await server.stop("SIGKILL");
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
  return node;
}

/** A user made through the API, with a full-rights access token. */
export interface PipelineUser {
  name: string;
  bearer: string;
  privateKeyPem: string;
}

/** Creates `name` with `roles` (Ed25519, fast) and exchanges a token; `scope` narrows it. */
export async function pipelineUser(
  node: PipelineNode,
  name: string,
  roles: string[],
  options: { groups?: string[] } = {},
): Promise<PipelineUser> {
  const user = await createUser(node.url, node.admin, name, {
    algorithm: "Ed25519",
    roles,
    ...(options.groups ? { groups: options.groups } : {}),
  });
  return {
    name,
    bearer: await accessToken(node.url, user),
    privateKeyPem: user.privateKeyPem,
  };
}

/** Another token of `user`, carrying only `scope` (space-separated). */
export function scopedToken(
  node: PipelineNode,
  user: PipelineUser,
  scope: string,
): Promise<string> {
  return accessToken(
    node.url,
    {
      name: user.name,
      privateKeyPem: user.privateKeyPem,
      algorithm: "Ed25519",
    } as Parameters<typeof accessToken>[1],
    scope,
  );
}

/** `POST /api/v1/topics`; asserts 201. */
export async function createTopic(
  node: PipelineNode,
  bearer: string,
  body: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const answer = await call(node.url, "POST", "/api/v1/topics", {
    bearer,
    json: body,
  });
  assert.equal(answer.status, 201, answer.text);
  return answer.body;
}

/** `PUT /api/v1/topics/{topic}/grants/{principal}`; asserts 200. */
export async function grant(
  node: PipelineNode,
  bearer: string,
  topic: string,
  principal: string,
  rights: ("publish" | "subscribe")[],
): Promise<void> {
  const answer = await call(
    node.url,
    "PUT",
    `/api/v1/topics/${topic}/grants/${principal}`,
    { bearer, json: { rights } },
  );
  assert.equal(answer.status, 200, answer.text);
}

/** A created subscription: its id and signing secret. */
export interface CreatedSubscription {
  id: string;
  secret: string;
  body: Record<string, unknown>;
}

/** `POST /api/v1/subscriptions`; asserts 201 and a `whsec_` secret. */
export async function subscribe(
  node: PipelineNode,
  bearer: string,
  body: Record<string, unknown>,
): Promise<CreatedSubscription> {
  const answer = await call(node.url, "POST", "/api/v1/subscriptions", {
    bearer,
    json: body,
  });
  assert.equal(answer.status, 201, answer.text);
  const secret = String(answer.body["secret"]);
  assert.match(secret, /^whsec_[A-Za-z0-9+/]+=*$/);
  return { id: String(answer.body["id"]), secret, body: answer.body };
}

/** What {@linkcode publish} sends. */
export interface PublishOptions {
  method?: "POST" | "PUT" | "DELETE";
  /** Path suffix and query after `/topics/{name}`, e.g. `/a/b?x=1`. */
  suffix?: string;
  body?: string | Uint8Array;
  headers?: Record<string, string>;
}

/** Publishes to `topic` with `bearer`; the answer is not checked. */
export async function publish(
  node: PipelineNode,
  bearer: string | undefined,
  topic: string,
  options: PublishOptions = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (bearer !== undefined) headers["authorization"] = `Bearer ${bearer}`;
  const res = await request(
    `${node.url}/topics/${topic}${options.suffix ?? ""}`,
    {
      method: options.method ?? "POST",
      headers,
      ...(options.body !== undefined ? { body: options.body as BodyInit } : {}),
    },
  );
  let body: Record<string, unknown> = {};
  try {
    body = res.text === "" ? {} : res.json() as Record<string, unknown>;
  } catch { /* not JSON */ }
  return {
    status: res.status,
    headers: res.headers,
    text: res.text,
    body,
    requestId: res.headers.get("x-request-id") ?? "",
    contentType: res.headers.get("content-type") ?? "",
  };
}

/** Publishes and asserts 202 with a `Location`; returns the event id. */
export async function publishOk(
  node: PipelineNode,
  bearer: string,
  topic: string,
  options: PublishOptions = {},
): Promise<string> {
  const answer = await publish(node, bearer, topic, options);
  assert.equal(answer.status, 202, answer.text);
  const id = String(answer.body["id"]);
  assert.equal(answer.headers.get("location"), `/api/v1/events/${id}`);
  return id;
}

/**
 * Polls `probe` every 20 ms until it returns a value that is not
 * undefined; fails naming `what` after `timeoutMs`. For state only the
 * node's API shows (no subscriber request marks the moment it changes).
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  while (performance.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(
    `Not within ${timeoutMs} ms: ${what}${
      last ? ` (last error: ${last})` : ""
    }`,
  );
}

/**
 * Checks a Standard Webhooks `webhook-signature` header independently of
 * Miranda's signer: each `v1,<base64>` must equal HMAC-SHA256 keyed by the
 * base64-decoded secret over `id.timestamp.body`. Returns, per secret in
 * `secrets`, whether one of the header's signatures is valid under it.
 */
export function verifySignatures(
  header: string,
  secrets: readonly string[],
  signed: { id: string; timestamp: string; body: Uint8Array },
): boolean[] {
  const given = header.split(" ").map((part) => {
    const [version, value] = part.split(",", 2);
    assert.equal(version, "v1", `signature version in "${header}"`);
    return Buffer.from(value ?? "", "base64");
  });
  return secrets.map((secret) => {
    assert.ok(secret.startsWith("whsec_"), secret);
    const mac = createHmac(
      "sha256",
      Buffer.from(secret.slice("whsec_".length), "base64"),
    )
      .update(`${signed.id}.${signed.timestamp}.`)
      .update(signed.body)
      .digest();
    return given.some((g) =>
      g.length === mac.length && timingSafeEqual(g, mac)
    );
  });
}

/** Sends one raw HTTP/1.1 request (for a path `fetch` would normalise) and returns status and body. */
export async function rawRequest(
  baseUrl: string,
  head: string,
  body = "",
): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(baseUrl);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    const bytes = new TextEncoder().encode(
      `${head}\r\nHost: ${hostname}:${port}\r\nContent-Length: ${
        new TextEncoder().encode(body).length
      }\r\nConnection: close\r\n\r\n${body}`,
    );
    await conn.write(bytes);
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(16_384);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
    const text = new TextDecoder().decode(
      new Uint8Array(chunks.flatMap((c) => [...c])),
    );
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    return { status, text: text.slice(text.indexOf("\r\n\r\n") + 4) };
  } finally {
    conn.close();
  }
}

/**
 * The value of one Prometheus sample with exactly these labels (none: the
 * unlabelled series), or undefined.
 */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name} `)) {
      if (Object.keys(labels).length === 0) {
        return Number(line.slice(name.length + 1));
      }
      continue;
    }
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.indexOf("}");
    const found: Record<string, string> = {};
    for (
      const m of line.slice(name.length + 1, close).matchAll(
        /(\w+)="((?:[^"\\]|\\.)*)"/g,
      )
    ) found[m[1]!] = m[2]!;
    const wanted = Object.entries(labels);
    if (
      wanted.length === Object.keys(found).length &&
      wanted.every(([k, v]) => found[k] === v)
    ) {
      return Number(line.slice(close + 1).trim());
    }
  }
  return undefined;
}

/** `GET /metrics` text. */
export async function metrics(node: PipelineNode): Promise<string> {
  return (await request(`${node.url}/metrics`)).text;
}
