/**
 * `--max-body-bytes-in-flight` on the real binary: a publish whose body is
 * still arriving holds its declared size, a request that would take the
 * total past the limit is answered 503 `overloaded` (problem+json,
 * `Retry-After`) before its body is read, smaller ones and requests without
 * a body pass, and the budget is given back once the first is answered.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  createTopic,
  eventually,
  publish,
  startPipelineNode,
} from "../support/pipeline_client.ts";
import { request } from "./harness.ts";

const LIMIT = 100_000;
const json = { "content-type": "application/json" };

/** A JSON body of exactly `bytes` bytes. */
function bodyOf(bytes: number): string {
  return JSON.stringify({ pad: "x".repeat(bytes - 10) });
}

/** A publish whose body is still arriving. */
interface StalledPublish {
  /** Whether the node answered already (it refused the publish). */
  answered(): boolean;
  /** Sends the last byte and returns the answer's status. */
  finish(): Promise<number>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts a publish of `bytes` on a connection of its own and sends all of
 * its body but the last byte, reading whatever the node answers meanwhile.
 */
async function stalledPublish(
  url: string,
  bearer: string,
  topic: string,
  bytes: number,
): Promise<StalledPublish> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const encoder = new TextEncoder();
  const body = encoder.encode(bodyOf(bytes));
  await conn.write(encoder.encode(
    `POST /topics/${topic} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
      `Authorization: Bearer ${bearer}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
  ));
  await conn.write(body.subarray(0, body.length - 1));
  let text = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    const buffer = new Uint8Array(16_384);
    try {
      for (let n = await conn.read(buffer); n !== null;) {
        text += decoder.decode(buffer.subarray(0, n), { stream: true });
        n = await conn.read(buffer);
      }
    } catch { /* closed */ }
  })();
  let closed = false;
  const close = async () => {
    if (!closed) conn.close();
    closed = true;
    await reading;
  };
  return {
    answered: () => text !== "",
    async finish() {
      await conn.write(body.subarray(body.length - 1));
      await reading;
      await close();
      return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    },
    [Symbol.asyncDispose]: close,
  };
}

Deno.test("body budget e2e: a body still arriving holds its declared size; a publish past --max-body-bytes-in-flight gets 503 overloaded with Retry-After, smaller ones and bodiless requests pass, and the budget comes back once it is answered", async () => {
  await using node = await startPipelineNode([
    "--max-body-bytes-in-flight",
    String(LIMIT),
  ]);
  await createTopic(node, node.admin, { name: "big" });
  const stall = () => stalledPublish(node.url, node.admin, "big", 80_000);
  let stalled = await stall();
  try {
    // The stalled publish holds 80,000 bytes once the node has its headers.
    // Should a probe reach the node first, the stalled one is refused: then
    // it is started again.
    const refused = await eventually(
      "a publish refused as overloaded",
      async () => {
        if (stalled.answered()) {
          await stalled[Symbol.asyncDispose]();
          stalled = await stall();
          return undefined;
        }
        const answer = await publish(node, node.admin, "big", {
          body: bodyOf(40_000),
          headers: json,
        });
        return answer.status === 503 ? answer : undefined;
      },
    );
    assert.equal(refused.contentType, "application/problem+json");
    assert.equal(refused.body["code"], "overloaded", refused.text);
    assert.equal(refused.headers.get("retry-after"), "1");
    assert.match(String(refused.body["detail"]), /80000 bytes/);

    // 80,000 + 10,000 fit; a request without a body holds nothing.
    const small = await publish(node, node.admin, "big", {
      body: bodyOf(10_000),
      headers: json,
    });
    assert.equal(small.status, 202, small.text);
    const listed = await request(`${node.url}/api/v1/topics`, {
      headers: { authorization: `Bearer ${node.admin}` },
    });
    assert.equal(listed.status, 200, listed.text);

    assert.equal(await stalled.finish(), 202);
    const again = await publish(node, node.admin, "big", {
      body: bodyOf(40_000),
      headers: json,
    });
    assert.equal(again.status, 202, again.text);
  } finally {
    await stalled[Symbol.asyncDispose]();
  }
});
