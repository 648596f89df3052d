/**
 * Property-based fuzzing of every route with `fast-check`: generated
 * requests (malformed JSON, wrong types, huge and deep bodies, bad UTF-8,
 * odd methods, header floods, path traversal, SQL-looking strings, forged
 * and truncated tokens) sent to a live node, each answer checked: never a
 * 5xx, and every refusal a problem+json 4xx. Requests with no valid
 * credentials must be refused; the admin's may succeed (counted). A few
 * malformed HTTP messages go over a bare socket: the HTTP server answers
 * those itself (a bare 400), which is counted apart.
 *
 * @module
 */

import fc from "fast-check";

/** The routes, with `{param}` placeholders (seal is left out: it would seal the node). */
export const ROUTES: readonly [string, string][] = [
  ["GET", "/api/v1/topics"],
  ["POST", "/api/v1/topics"],
  ["GET", "/api/v1/topics/{name}"],
  ["PATCH", "/api/v1/topics/{name}"],
  ["DELETE", "/api/v1/topics/{name}"],
  ["GET", "/api/v1/topics/{name}/versions"],
  ["PUT", "/api/v1/topics/{name}/grants/{name}"],
  ["DELETE", "/api/v1/topics/{name}/grants/{name}"],
  ["GET", "/api/v1/topics/{name}/events"],
  ["POST", "/api/v1/subscriptions"],
  ["GET", "/api/v1/subscriptions"],
  ["GET", "/api/v1/subscriptions/{id}"],
  ["PATCH", "/api/v1/subscriptions/{id}"],
  ["DELETE", "/api/v1/subscriptions/{id}"],
  ["POST", "/api/v1/subscriptions/{id}/pause"],
  ["POST", "/api/v1/subscriptions/{id}/resume"],
  ["GET", "/api/v1/subscriptions/{id}/versions"],
  ["GET", "/api/v1/subscriptions/{id}/secret"],
  ["POST", "/api/v1/subscriptions/{id}/secret/rotate"],
  ["GET", "/api/v1/subscriptions/{id}/deliveries"],
  ["GET", "/api/v1/subscriptions/{id}/failed"],
  ["POST", "/api/v1/subscriptions/{id}/failed/{id}/replay"],
  ["POST", "/api/v1/subscriptions/{id}/failed/replay"],
  ["POST", "/api/v1/users"],
  ["GET", "/api/v1/users"],
  ["GET", "/api/v1/users/{name}"],
  ["PATCH", "/api/v1/users/{name}"],
  ["DELETE", "/api/v1/users/{name}"],
  ["GET", "/api/v1/users/{name}/versions"],
  ["POST", "/api/v1/users/{name}/keys"],
  ["DELETE", "/api/v1/users/{name}/keys/{id}"],
  ["POST", "/api/v1/groups"],
  ["GET", "/api/v1/groups"],
  ["DELETE", "/api/v1/groups/{name}"],
  ["POST", "/api/v1/agent-tokens"],
  ["GET", "/api/v1/agent-tokens"],
  ["DELETE", "/api/v1/agent-tokens/{id}"],
  ["GET", "/api/v1/audit"],
  ["POST", "/api/v1/login"],
  ["GET", "/api/v1/session"],
  ["POST", "/api/v1/token"],
  ["POST", "/api/v1/unseal"],
  ["GET", "/api/v1/events/{id}"],
  ["POST", "/topics/{name}"],
  ["PUT", "/topics/{name}/{name}"],
  ["DELETE", "/topics/{name}/{name}/{name}"],
];

/** Routes anyone may call: their answers may be 2xx without credentials. */
const PUBLIC = new Set(["/api/v1/login", "/api/v1/token", "/api/v1/unseal"]);

const SQLISH = [
  "' OR '1'='1",
  "'; DROP TABLE events; --",
  '" OR 1=1 --',
  "1; SELECT * FROM secrets",
  "admin'--",
  "%' UNION SELECT key FROM keyring --",
];
const TRAVERSAL = [
  "..",
  "../../etc/passwd",
  "..%2f..%2fetc%2fpasswd",
  "%2e%2e",
  "%2e%2e%2f%2e%2e",
  "....//....//",
  "%252e%252e%252f",
  "..\\..\\windows",
  "%00",
  "a%00b",
];

/** One generated request. */
export interface FuzzRequest {
  method: string;
  /** Path and query, already percent-encoded where needed. */
  path: string;
  headers: [string, string][];
  body: Uint8Array<ArrayBuffer> | null;
  /** What was generated, for the report of a failure. */
  label: string;
  /** Sent with the admin's valid token (may then succeed). */
  authorised: boolean;
}

const segment = fc.oneof(
  fc.constantFrom(...SQLISH, ...TRAVERSAL).map(encodeURIComponent),
  fc.constantFrom(...TRAVERSAL),
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  fc.string({ unit: "binary", maxLength: 20 }).map(encodeURIComponent),
  fc.uuid(),
  // Not "admin": the admin deleting itself would end the run (see the README).
  fc.constantFrom("fuzz", "a".repeat(300), "-", "_", "x.y"),
  fc.integer({ min: 200, max: 3000 }).map((n) => "z".repeat(n)),
);

const enc = {
  encode: (s: string) => new TextEncoder().encode(s) as Uint8Array<ArrayBuffer>,
};

const jsonValue = fc.jsonValue({ maxDepth: 4 });
const body = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null) },
  // Malformed JSON.
  fc.string({ maxLength: 200 }).map((s) => enc.encode(`{${s}`)),
  fc.constantFrom("{", "[1,2", '{"a":}', "nul", "{'a':1}", '{"a":1,}', "\u0000")
    .map((s) => enc.encode(s)),
  // Valid JSON of any shape (wrong types for most routes).
  jsonValue.map((v) => enc.encode(JSON.stringify(v))),
  // Objects with the routes' field names and hostile values.
  fc.record({
    name: fc.oneof(fc.constantFrom(...SQLISH), fc.string(), fc.integer()),
    topic: fc.oneof(fc.constantFrom(...SQLISH), fc.constant(null)),
    url: fc.constantFrom(
      "http://169.254.169.254/latest/meta-data",
      "file:///etc/passwd",
      "javascript:alert(1)",
      "http://[::1]:1/",
      "not a url",
    ),
    ack: fc.constantFrom("received", "replicated", 7, null),
    retention: fc.constantFrom("7d", "-1d", "99999999999d", "", []),
    publicKey: fc.string({ maxLength: 100 }),
    user: fc.oneof(fc.constantFrom(...SQLISH), fc.string()),
    assertion: fc.string({ maxLength: 300 }),
    passphrase: fc.oneof(fc.string({ maxLength: 50 }), fc.integer()),
    roles: fc.array(fc.string(), { maxLength: 3 }),
  }, { requiredKeys: [] }).map((v) => enc.encode(JSON.stringify(v))),
  // Deep nesting.
  fc.integer({ min: 1_000, max: 200_000 }).map((depth) =>
    enc.encode("[".repeat(depth) + "]".repeat(depth))
  ),
  fc.integer({ min: 1_000, max: 50_000 }).map((depth) =>
    enc.encode('{"a":'.repeat(depth) + "1" + "}".repeat(depth))
  ),
  // Huge (over the 1 MiB default limit) and bad UTF-8.
  fc.integer({ min: 1_048_577, max: 1_300_000 }).map((n) =>
    new Uint8Array(n).fill(0x61)
  ),
  fc.uint8Array({ minLength: 1, maxLength: 200 }).map((bytes) =>
    Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, ...bytes, 0xc3, 0x28, 0x7d])
  ),
);

const contentType = fc.constantFrom(
  "application/json",
  "application/json; charset=latin1",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/json\u0000",
  "",
);

/** Forged, truncated or malformed credentials; "admin" is the real token. */
function authorization(validBearer: string) {
  const b64 = fc.base64String({ minLength: 4, maxLength: 200 }).map((s) =>
    s.replaceAll("=", "")
  );
  const admin: fc.Arbitrary<string | null> = fc.constant("admin");
  return fc.oneof(
    fc.constant<string | null>(null),
    { weight: 6, arbitrary: admin },
    fc.integer({ min: 1, max: Math.max(1, validBearer.length - 1) }).map((n) =>
      `Bearer ${validBearer.slice(0, n)}`
    ),
    fc.tuple(b64, b64, b64).map(([h, p, s]) => `Bearer ${h}.${p}.${s}`),
    fc.constant(
      `Bearer ${btoa('{"alg":"none"}')}.${btoa('{"sub":"admin"}')}.`,
    ),
    fc.constantFrom(
      "Basic YWRtaW46YWRtaW4=",
      "Bearer",
      "Bearer ",
      "bearer abcdefghijklmnopqrstuvwxyz",
      `Bearer ${"A".repeat(5000)}`,
      "Bearer mat_0000000000000000000000000000",
      `Bearer ${validBearer}x`,
    ),
  );
}

const extraHeaders = fc.oneof(
  { weight: 3, arbitrary: fc.constant<[string, string][]>([]) },
  fc.integer({ min: 10, max: 90 }).map((n) =>
    Array.from({ length: n }, (_, i) =>
      [`x-flood-${i}`, "y"] as [
        string,
        string,
      ])
  ),
  fc.constant<[string, string][]>([["x-big", "v".repeat(16_000)]]),
  fc.constant<[string, string][]>([["idempotency-key", "k".repeat(300)]]),
  fc.constant<[string, string][]>([["content-length", "5"]]),
  fc.constant<[string, string][]>([["x-forwarded-for", "' OR 1=1"]]),
);

/** The arbitrary of one request against a node whose admin holds `validBearer`. */
export function requestArbitrary(
  validBearer: string,
): fc.Arbitrary<FuzzRequest> {
  return fc.record({
    route: fc.constantFrom(...ROUTES),
    params: fc.array(segment, { minLength: 4, maxLength: 4 }),
    odd: fc.oneof(
      { weight: 5, arbitrary: fc.constant<string | null>(null) },
      fc.constantFrom("PROPFIND", "FOO", "OPTIONS", "HEAD", "PATCH", "PUT"),
    ),
    query: fc.oneof(
      fc.constant(""),
      fc.constantFrom(
        "?after=-1",
        "?limit=99999999999",
        "?after=abc&limit=0",
        `?q=${encodeURIComponent(SQLISH[1]!)}`,
        `?${"p=1&".repeat(2000)}`,
      ),
    ),
    auth: authorization(validBearer),
    body,
    contentType,
    extra: extraHeaders,
  }).map(({ route, params, odd, query, auth, body, contentType, extra }) => {
    let i = 0;
    const path = route[1].replace(/\{(name|id)\}/g, () => params[i++ % 4]!);
    const method = odd ?? route[0];
    const authorised = auth === "admin";
    const headers: [string, string][] = [...extra];
    if (auth !== null) {
      headers.push([
        "authorization",
        authorised ? `Bearer ${validBearer}` : auth,
      ]);
    }
    const sendsBody = body !== null && method !== "GET" && method !== "HEAD";
    if (sendsBody && contentType !== "") {
      headers.push(["content-type", contentType]);
    }
    return {
      method,
      path: path + query,
      headers,
      body: sendsBody ? body : null,
      authorised: authorised || PUBLIC.has(route[1]),
      label: `${method} ${route[1]} auth=${
        auth === null ? "none" : authorised ? "admin" : "forged"
      } body=${
        body === null ? "none" : `${body.byteLength}B`
      } headers=${extra.length}`,
    };
  });
}

/** Malformed HTTP messages sent over a bare socket. */
export const RAW_REQUESTS: readonly string[] = [
  "GET /api/v1/../../etc/passwd HTTP/1.1\r\nhost: x\r\n\r\n",
  "GET /topics/../api/v1/users HTTP/1.1\r\nhost: x\r\n\r\n",
  "GET /api/v1/topics/\xff\xfe HTTP/1.1\r\nhost: x\r\n\r\n",
  "GET /api/v1/topics HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\r\n\r\n",
  'POST /api/v1/topics HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{"a"',
  "POST /api/v1/topics HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
  "GET / HTTP/9.9\r\n\r\n",
  "GARBAGE\r\n\r\n",
  "GET /api/v1/topics HTTP/1.1\r\nno colon here\r\n\r\n",
  `GET /${"a".repeat(70_000)} HTTP/1.1\r\nhost: x\r\n\r\n`,
  "GET /healthz HTTP/1.1\r\nhost: x\r\n" +
  Array.from({ length: 150 }, (_, i) => `x-h${i}: y\r\n`).join("") + "\r\n",
  "POST /topics/fuzz HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n",
  "POST /topics/fuzz HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 7\r\n\r\nhello",
];

/** How answers were judged. */
export interface FuzzTally {
  sent: number;
  /** Status → count. */
  statuses: Map<number, number>;
  /** Requests the client could not complete (connection trouble). */
  transportErrors: number;
  /** Bare answers of the HTTP server to malformed messages (before Miranda). */
  bareAnswers: number;
  /** Broken promises: a 5xx, a non-problem refusal, an unauthorised 2xx. */
  failures: string[];
}

/** Sends `count` generated requests to `url` with `concurrency` clients; judges each answer. */
export async function fuzz(
  url: string,
  validBearer: string,
  options: { count: number; concurrency: number; seed: number },
): Promise<FuzzTally> {
  // Header values fetch refuses to send (bytes over 0xff) never reach the node.
  const requests = fc.sample(requestArbitrary(validBearer), {
    numRuns: Math.ceil(options.count * 1.5),
    seed: options.seed,
  }).filter(sendable).slice(0, options.count);
  const tally: FuzzTally = {
    sent: 0,
    statuses: new Map(),
    transportErrors: 0,
    bareAnswers: 0,
    failures: [],
  };
  const client = Deno.createHttpClient({});
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const request = requests[next++]!;
      tally.sent++;
      let res: Response;
      try {
        res = await fetch(`${url}${request.path}`, {
          method: request.method,
          headers: request.headers,
          ...(request.body !== null ? { body: request.body } : {}),
          client,
        });
      } catch (error) {
        tally.transportErrors++;
        if (tally.transportErrors <= 5) {
          tally.failures.push(
            `transport error for ${request.label}: ${
              String(error).slice(0, 200)
            }`,
          );
        }
        continue;
      }
      const text = await res.text();
      judge(tally, request, res.status, res.headers, text);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    client.close();
  }
  for (const raw of RAW_REQUESTS) {
    tally.sent++;
    const answer = await sendRaw(url, raw);
    if (answer === null) {
      tally.transportErrors++;
      continue;
    }
    tally.statuses.set(
      answer.status,
      (tally.statuses.get(answer.status) ?? 0) + 1,
    );
    if (answer.status >= 500) {
      tally.failures.push(
        `${answer.status} for raw ${JSON.stringify(raw.slice(0, 60))}`,
      );
    } else if (!answer.problem) {
      tally.bareAnswers++;
    }
  }
  return tally;
}

function sendable(request: FuzzRequest): boolean {
  try {
    new Headers(request.headers);
    return true;
  } catch {
    return false;
  }
}

function judge(
  tally: FuzzTally,
  request: FuzzRequest,
  status: number,
  headers: Headers,
  text: string,
): void {
  tally.statuses.set(status, (tally.statuses.get(status) ?? 0) + 1);
  const problem = (headers.get("content-type") ?? "").startsWith(
    "application/problem+json",
  );
  const fail = (why: string): void => {
    tally.failures.push(
      `${why}: ${status} for ${request.label} ${request.path.slice(0, 80)} → ${
        text.slice(0, 160)
      }`,
    );
  };
  if (status >= 500) return fail("5xx");
  if (status >= 400) {
    if (!problem) return fail("refusal not problem+json");
    if (request.method !== "HEAD") {
      try {
        const body = JSON.parse(text) as { status?: number };
        if (body.status !== status) fail("problem status differs");
      } catch {
        fail("problem body not JSON");
      }
    }
    return;
  }
  if (!request.authorised) fail("accepted without valid credentials");
}

/** Sends `raw` on a new connection; the status and whether it was problem+json, or null. */
async function sendRaw(
  url: string,
  raw: string,
): Promise<{ status: number; problem: boolean } | null> {
  const { hostname, port } = new URL(url);
  let conn: Deno.Conn | undefined;
  try {
    conn = await Deno.connect({ hostname, port: Number(port) });
    // Latin-1 bytes as written (lets \xff through as one byte).
    await conn.write(Uint8Array.from(raw, (c) => c.charCodeAt(0) & 0xff));
    const buffer = new Uint8Array(8192);
    let text = "";
    const deadline = setTimeout(() => conn?.close(), 3_000);
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) break;
        text += new TextDecoder().decode(buffer.subarray(0, n));
        if (text.includes("\r\n\r\n")) break;
      }
    } finally {
      clearTimeout(deadline);
    }
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
    if (status === null) return null;
    return {
      status: Number(status[1]),
      problem: /content-type:\s*application\/problem\+json/i.test(text),
    };
  } catch {
    return null;
  } finally {
    try {
      conn?.close();
    } catch { /* closed by the deadline */ }
  }
}

/** Resident memory of process `pid` in MiB (Linux `/proc`), or NaN. */
export async function rssMiB(pid: number): Promise<number> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? NaN : Number(kb) / 1024;
  } catch {
    return NaN;
  }
}
