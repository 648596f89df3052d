/**
 * A subscriber on loopback that records every delivery it accepts, by
 * `webhook-id`, per hook path (one path per subscription), and can be told
 * to misbehave: answer 500s, hang past the courier's timeout, reset the
 * connection, answer slowly, or flap between up and down. It outlives the
 * Miranda processes the chaos runs kill, so what it counted is the truth.
 *
 * @module
 */

/** How the sink answers deliveries on one hook path. */
export type SinkBehavior =
  /** 204 at once. */
  | { kind: "ok" }
  /** 500 every time. */
  | { kind: "fail" }
  /** 500 for a share of requests (by `rate`), 204 otherwise. */
  | { kind: "flaky"; rate: number }
  /** Never answers (until the request is aborted by its sender). */
  | { kind: "hang"; rate: number }
  /** 204 after `ms`. */
  | { kind: "slow"; ms: number }
  /** Alternates `upMs` of 204s and `downMs` of 503s (liveness down too). */
  | { kind: "flap"; upMs: number; downMs: number };

/** What the sink saw on one hook path. */
export interface HookLog {
  /** Accepted deliveries (2xx answered) per event id. */
  accepted: Map<string, number>;
  /** Every request received, whatever was answered. */
  requests: number;
  /** Requests answered with a failure on purpose. */
  refused: number;
}

/** A running sink; dispose it to stop it. */
export interface Sink extends AsyncDisposable {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** The log of `path` (created on first use). */
  hook(path: string): HookLog;
  /** Changes how `path` answers from now on. */
  behave(path: string, behavior: SinkBehavior): void;
  /** Liveness probes received (`GET /live/...`). */
  probes(): number;
  /** Deliveries accepted in total on every path (with repeats). */
  totalAccepted(): number;
}

/** Starts a sink on a free loopback port. */
export function startSink(
  options: { random?: () => number } = {},
): Sink {
  const random = options.random ?? Math.random;
  const hooks = new Map<string, HookLog>();
  const behaviors = new Map<string, SinkBehavior>();
  const hanging = new Set<PromiseWithResolvers<void>>();
  const started = performance.now();
  let probes = 0;
  let accepted = 0;

  const hook = (path: string): HookLog => {
    let log = hooks.get(path);
    if (log === undefined) {
      log = { accepted: new Map(), requests: 0, refused: 0 };
      hooks.set(path, log);
    }
    return log;
  };
  const isUp = (behavior: SinkBehavior): boolean => {
    if (behavior.kind !== "flap") return true;
    const cycle = behavior.upMs + behavior.downMs;
    return (performance.now() - started) % cycle < behavior.upMs;
  };

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const url = new URL(req.url);
      if (url.pathname.startsWith("/live/")) {
        probes++;
        const path = `/hook/${url.pathname.slice("/live/".length)}`;
        const behavior = behaviors.get(path) ?? { kind: "ok" };
        return new Response(null, { status: isUp(behavior) ? 200 : 503 });
      }
      // The hook path is the first two segments; the rest is the event's path suffix.
      const path = url.pathname.split("/").slice(0, 3).join("/");
      const log = hook(path);
      log.requests++;
      await req.body?.cancel();
      const behavior = behaviors.get(path) ?? { kind: "ok" };
      const ok = () => {
        const id = req.headers.get("webhook-id") ?? "(none)";
        log.accepted.set(id, (log.accepted.get(id) ?? 0) + 1);
        accepted++;
        return new Response(null, { status: 204 });
      };
      const refuse = (status: number) => {
        log.refused++;
        return new Response(null, { status });
      };
      switch (behavior.kind) {
        case "ok":
          return ok();
        case "fail":
          return refuse(500);
        case "flaky":
          return random() < behavior.rate ? refuse(500) : ok();
        case "hang": {
          if (random() >= behavior.rate) return ok();
          log.refused++;
          const wait = Promise.withResolvers<void>();
          hanging.add(wait);
          req.signal.addEventListener("abort", () => wait.resolve());
          await wait.promise;
          hanging.delete(wait);
          return new Response(null, { status: 504 });
        }
        case "slow": {
          await new Promise((r) => setTimeout(r, behavior.ms));
          return ok();
        }
        case "flap":
          return isUp(behavior) ? ok() : refuse(503);
        default: {
          const _exhaustive: never = behavior;
          return _exhaustive;
        }
      }
    },
  );
  const addr = server.addr;
  return {
    url: `http://127.0.0.1:${addr.port}`,
    hook,
    behave: (path, behavior) => behaviors.set(path, behavior),
    probes: () => probes,
    totalAccepted: () => accepted,
    [Symbol.asyncDispose]: async () => {
      for (const wait of hanging) wait.resolve();
      await server.shutdown();
    },
  };
}

/** A sink that closes the connection without answering, for a share of requests. */
export interface ResettingSink extends AsyncDisposable {
  url: string;
  log: HookLog;
}

/**
 * A bare TCP server speaking just enough HTTP/1.1: it reads one request per
 * connection and either drops the connection unanswered (a share `rate` of
 * them) or answers 204 and records the `webhook-id`.
 */
export function startResettingSink(
  rate: number,
  options: { random?: () => number } = {},
): ResettingSink {
  const random = options.random ?? Math.random;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const log: HookLog = { accepted: new Map(), requests: 0, refused: 0 };
  const conns = new Set<Deno.Conn>();
  const serveOne = async (conn: Deno.Conn) => {
    conns.add(conn);
    try {
      const head = await readRequest(conn);
      if (head === null) return;
      log.requests++;
      if (random() < rate) {
        log.refused++;
        return;
      }
      const id = /^webhook-id:\s*(\S+)\s*$/im.exec(head)?.[1] ?? "(none)";
      const isProbe = /^GET /.test(head);
      await conn.write(
        new TextEncoder().encode(
          `HTTP/1.1 ${
            isProbe ? 200 : 204
          } OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
        ),
      );
      if (!isProbe) log.accepted.set(id, (log.accepted.get(id) ?? 0) + 1);
    } catch {
      // The sender gave up first: nothing to record.
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) void serveOne(conn);
    } catch { /* listener closed */ }
  })();
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    [Symbol.asyncDispose]: async () => {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await accepting;
    },
  };
}

/** Reads the head and the content-length body of one request; null on EOF. */
async function readRequest(conn: Deno.Conn): Promise<string | null> {
  const buffer = new Uint8Array(64 * 1024);
  let text = "";
  let need = -1;
  const decoder = new TextDecoder();
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) return null;
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) continue;
    if (need < 0) {
      const length = /^content-length:\s*(\d+)/im.exec(text.slice(0, end));
      need = end + 4 + Number(length?.[1] ?? 0);
    }
    if (text.length >= need) return text.slice(0, end);
  }
}
