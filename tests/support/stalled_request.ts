/**
 * A request whose body is still arriving: sent over a raw TCP connection
 * with all of its body but the last byte, while whatever the server answers
 * meanwhile is read and kept; and what the body-limit tests share around it
 * (JSON bodies of a given size, probing beside a stalled request).
 *
 * @module
 */

import type { Answer } from "./identity_client.ts";
import { eventually } from "./pipeline_client.ts";

/** The `content-type` of a JSON body. */
export const json = { "content-type": "application/json" };

/** A JSON body of exactly `bytes` bytes (at least 10). */
export function bodyOf(bytes: number): string {
  return JSON.stringify({ pad: "x".repeat(bytes - 10) });
}

/** What the server answered, parsed from the raw HTTP/1.1 response. */
export interface RawAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/** A request held one byte short of its declared body. */
export interface StalledRequest {
  /** The answer once a whole one has arrived, else null. */
  answer(): RawAnswer | null;
  /** Sends the last byte and returns the answer's status. */
  finish(): Promise<number>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** What to send. */
export interface StalledRequestOptions {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** Starts `options` against `url` (http only) and holds back its last byte. */
export async function stalledRequest(
  url: string,
  options: StalledRequestOptions,
): Promise<StalledRequest> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const encoder = new TextEncoder();
  const { body } = options;
  const lines = [
    `${options.method} ${options.path} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    ...Object.entries(options.headers).map(([k, v]) => `${k}: ${v}`),
    `Content-Length: ${body.length}`,
    "Connection: close",
  ];
  await conn.write(encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
  await conn.write(body.subarray(0, body.length - 1));
  let raw = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    const buffer = new Uint8Array(16_384);
    try {
      for (let n = await conn.read(buffer); n !== null;) {
        raw += decoder.decode(buffer.subarray(0, n), { stream: true });
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
    answer: () => parseAnswer(raw),
    async finish() {
      await conn.write(body.subarray(body.length - 1));
      await reading;
      await close();
      return Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
    },
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Holds a stalled publish (started again whenever the node answered it: a
 * probe got there first) and probes beside it until a probe is answered
 * `status`; that answer and the stalled publish, still held.
 */
export async function probeBesideStalled(
  start: () => Promise<StalledRequest>,
  probe: () => Promise<Answer>,
  status: number,
  what: string,
): Promise<{ refused: Answer; stalled: StalledRequest }> {
  let stalled = await start();
  try {
    const refused = await eventually(what, async () => {
      if (stalled.answer() !== null) {
        await stalled[Symbol.asyncDispose]();
        stalled = await start();
        return undefined;
      }
      const answer = await probe();
      return answer.status === status ? answer : undefined;
    });
    return { refused, stalled };
  } catch (error) {
    await stalled[Symbol.asyncDispose]();
    throw error;
  }
}

/** A whole response (its headers and `content-length` bytes of body), else null. */
function parseAnswer(raw: string): RawAnswer | null {
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const [statusLine, ...fields] = raw.slice(0, end).split("\r\n");
  const headers = new Headers();
  for (const field of fields) {
    const colon = field.indexOf(":");
    headers.append(field.slice(0, colon), field.slice(colon + 1).trim());
  }
  const text = raw.slice(end + 4);
  const length = Number(headers.get("content-length") ?? text.length);
  if (new TextEncoder().encode(text).length < length) return null;
  return { status: Number(statusLine!.split(" ")[1]), headers, text };
}
