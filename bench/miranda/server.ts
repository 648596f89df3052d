/**
 * Miranda as a real process for the bench: `mod.ts start --insecure-http` on a
 * free loopback port with a fresh temporary data directory, the admin logged
 * in through `mod.ts login`, and the few API calls the figures need.
 *
 * @module
 */

import { fromFileUrl } from "../paths.ts";
import {
  type Child,
  cpuSeconds,
  type CpuTime,
  rssBytes,
  sleep,
  spawnDeno,
} from "../procs.ts";
import { makeBody } from "../wrk.ts";

const ROOT = fromFileUrl(new URL("../../", import.meta.url));
const MOD = fromFileUrl(new URL("../../mod.ts", import.meta.url));
/** The passphrase bench servers are started with; the data is thrown away. */
const PASSPHRASE = "miranda bench passphrase, not secret";
/**
 * Extra `deno run` flags for the Miranda server, from
 * `MIRANDA_BENCH_SERVER_FLAGS` (space-separated), e.g. `--cpu-prof
 * --cpu-prof-dir=/tmp/prof` to profile a scenario; when set, the server is
 * stopped with SIGTERM (so profiles are written) rather than SIGKILL.
 */
const SERVER_FLAGS = (Deno.env.get("MIRANDA_BENCH_SERVER_FLAGS") ?? "")
  .split(" ").filter((flag) => flag !== "");

/** A running Miranda with an admin token. */
export interface Miranda extends AsyncDisposable {
  url: string;
  dataDir: string;
  child: Child;
  token: string;
  /** `Authorization` header value. */
  bearer: string;
  /** Trusts the node's CA when the server speaks TLS; null for plain HTTP. */
  client: Deno.HttpClient | null;
  pid(): number;
  rss(): Promise<number>;
  /** CPU seconds the server has used, all threads and the main thread. */
  cpuSeconds(): Promise<CpuTime>;
  api(method: string, path: string, body?: unknown): Promise<ApiAnswer>;
  /** SIGKILL, then start again on the same data directory; ms to `/readyz` 200. */
  killAndRecover(): Promise<number>;
}

/** A JSON answer. */
export interface ApiAnswer {
  status: number;
  body: unknown;
}

/** Options of {@linkcode startMiranda}. */
export interface MirandaOptions {
  tls?: boolean;
}

/** Starts Miranda on a fresh data directory and logs in as admin. */
export async function startMiranda(
  options: MirandaOptions = {},
): Promise<Miranda> {
  const root = await Deno.makeTempDir({ prefix: "miranda-bench-" });
  const dataDir = `${root}/data`;
  let child = await launch(dataDir, options.tls ?? false);
  try {
    const url = (await child.waitFor(/Miranda listening on (\S+)/, 60_000))[1]!
      .replace(/\/+$/, "");
    const client = url.startsWith("https:")
      ? Deno.createHttpClient({
        caCerts: [await Deno.readTextFile(`${dataDir}/ca.pem`)],
      })
      : null;
    const tlsInit = client === null ? {} : { client };
    await waitReady(url, 30_000, child, client);
    const token = await login(url, `${root}/admin-key.pem`, dataDir);
    const bearer = `Bearer ${token}`;
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${url}${path}`, {
        ...tlsInit,
        method,
        headers: {
          authorization: bearer,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch { /* not JSON */ }
      return { status: res.status, body: parsed };
    };
    const self: Miranda = {
      url,
      dataDir,
      get child() {
        return child;
      },
      token,
      bearer,
      client,
      pid: () => child.pid,
      rss: () => rssBytes(child.pid),
      cpuSeconds: () => cpuSeconds(child.pid),
      api,
      killAndRecover: async () => {
        await child.stop("SIGKILL");
        const started = performance.now();
        child = await launch(dataDir, options.tls ?? false, url);
        await waitReady(url, 120_000, child, client);
        return performance.now() - started;
      },
      [Symbol.asyncDispose]: async () => {
        await child.stop(SERVER_FLAGS.length > 0 ? "SIGTERM" : "SIGKILL");
        client?.close();
        await Deno.remove(root, { recursive: true }).catch(() => {});
      },
    };
    return self;
  } catch (error) {
    await child.stop("SIGKILL");
    await Deno.remove(root, { recursive: true }).catch(() => {});
    throw error;
  }
}

/** Starts `mod.ts start`; on a restart, on the same address as before. */
function launch(
  dataDir: string,
  tls: boolean,
  previousUrl?: string,
): Promise<Child> {
  const listen = previousUrl === undefined
    ? "127.0.0.1:0"
    : new URL(previousUrl).host;
  const child = spawnDeno(MOD, [
    "start",
    ...(tls ? [] : ["--insecure-http"]),
    "--listen",
    listen,
    "--data-dir",
    dataDir,
    "--log-level",
    "error",
  ], {
    env: { MIRANDA_PASSPHRASE: PASSPHRASE },
    cwd: ROOT,
    flags: SERVER_FLAGS,
  });
  return Promise.resolve(child);
}

/** Polls `/readyz` until 200 (every 10 ms). */
export async function waitReady(
  url: string,
  timeoutMs: number,
  child: Child,
  client: Deno.HttpClient | null = null,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let exited = false;
  void child.status.then(() => (exited = true));
  while (performance.now() < deadline) {
    if (exited) {
      throw new Error(`Miranda exited\n${child.stderr().slice(-2000)}`);
    }
    try {
      const res = await fetch(
        `${url}/readyz`,
        client === null ? {} : { client },
      );
      await res.body?.cancel();
      if (res.status === 200) return;
    } catch { /* not listening yet */ }
    await sleep(10);
  }
  throw new Error(`Miranda was not ready within ${timeoutMs} ms`);
}

async function login(
  url: string,
  keyFile: string,
  dataDir: string,
): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      MOD,
      "login",
      "--user",
      "admin",
      "--key",
      keyFile,
      "--url",
      url,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1", MIRANDA_DATA_DIR: dataDir },
    stdin: "null",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout).trim();
  if (!out.success || stdout === "") {
    throw new Error(
      `mod.ts login failed (${out.code}): ${
        new TextDecoder().decode(out.stderr).slice(-1000)
      }`,
    );
  }
  return stdout.split("\n").at(-1)!.trim();
}

/** Creates a topic; throws unless 201/200. */
export async function createTopic(
  m: Miranda,
  name: string,
  ack: "persisted" | "received",
): Promise<void> {
  const res = await m.api("POST", "/api/v1/topics", { name, ack });
  if (res.status !== 201 && res.status !== 200) {
    throw new Error(
      `POST /api/v1/topics ${name}: ${res.status} ${JSON.stringify(res.body)}`,
    );
  }
}

/** Creates a subscription and returns its id. */
export async function createSubscription(
  m: Miranda,
  settings: {
    topic: string;
    url: string;
    ordered: boolean;
    maxInFlight: number;
  },
): Promise<string> {
  const res = await m.api("POST", "/api/v1/subscriptions", settings);
  const id = (res.body as { id?: unknown } | null)?.id;
  if ((res.status !== 201 && res.status !== 200) || typeof id !== "string") {
    throw new Error(
      `POST /api/v1/subscriptions: ${res.status} ${JSON.stringify(res.body)}`,
    );
  }
  return id;
}

/**
 * Starts a loopback sink that answers every delivery 204 and subscribes it
 * to `topic` (unordered, 64 in flight); `onDelivery` hears each arrival.
 * Disposing the result stops the sink.
 */
export async function subscribeLoopbackSink(
  m: Miranda,
  topic: string,
  onDelivery: () => void = () => {},
): Promise<Deno.HttpServer> {
  const sink = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    async (request) => {
      await request.arrayBuffer();
      onDelivery();
      return new Response(null, { status: 204 });
    },
  );
  await createSubscription(m, {
    topic,
    url: `http://127.0.0.1:${sink.addr.port}/in`,
    ordered: false,
    maxInFlight: 64,
  });
  return sink;
}

/** Pauses or resumes a subscription. */
export async function setPaused(
  m: Miranda,
  id: string,
  paused: boolean,
): Promise<void> {
  const action = paused ? "pause" : "resume";
  const res = await m.api("POST", `/api/v1/subscriptions/${id}/${action}`);
  if (res.status >= 300) {
    throw new Error(
      `${action} ${id}: ${res.status} ${JSON.stringify(res.body)}`,
    );
  }
}

/** Publishes `count` events with `concurrency` fetch loops; returns the 202 count. */
export async function publishMany(
  m: Miranda,
  topic: string,
  count: number,
  options: { concurrency?: number; bodyBytes?: number } = {},
): Promise<number> {
  const body = makeBody(options.bodyBytes ?? 256);
  let next = 0;
  let accepted = 0;
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: options.concurrency ?? 32 }, async () => {
      while (next < count) {
        next++;
        const res = await fetch(`${m.url}/topics/${topic}`, {
          ...(m.client === null ? {} : { client: m.client }),
          method: "POST",
          headers: {
            authorization: m.bearer,
            "content-type": "application/json",
          },
          body,
        });
        const text = await res.text();
        if (res.status === 202) accepted++;
        else if (failures.length < 3) {
          failures.push(`${res.status} ${text.slice(0, 200)}`);
        }
      }
    }),
  );
  if (accepted < count) {
    throw new Error(
      `Only ${accepted} of ${count} events accepted: ${failures.join("; ")}`,
    );
  }
  return accepted;
}

/** Runs `work` over `items` with `concurrency` workers. */
export async function forEachConcurrently<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}
