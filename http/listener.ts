/**
 * The node's HTTP listener, kept listening. `Deno.serve` stops for good when
 * accepting a connection fails — with `EMFILE` once the process is out of
 * file descriptors, say, which enough idle connections bring about, since
 * `Deno.serve` never closes them — and the node then stays up without
 * answering anything, `/healthz` included. Here such a stop is logged and
 * counted, and the same address is served again after a backoff
 * ({@linkcode RELISTEN_MIN_MS} doubling to {@linkcode RELISTEN_MAX_MS}) until
 * it works — a server that stops again within {@linkcode STABLE_MS} keeps
 * the wait growing. Connections already open when a server stops are still
 * served; only new ones wait for the next listen. Only
 * {@linkcode Listener.shutdown} ends it.
 *
 * @module
 */

import client from "prom-client";
import { hasFreeDescriptors } from "../observability/descriptors.ts";
import { errorFields, type Logger } from "../observability/logger.ts";

/**
 * Handles on `/dev/null` the listener holds while it listens and lets go of
 * the moment its server stops for want of descriptors: the process then has
 * some to work with (Deno aborts it when a few of its own internals find
 * none) until the server listens again, which waits for twice as many free.
 */
export const SPARE_DESCRIPTORS = 32;

/** The first wait before listening again, in ms. */
export const RELISTEN_MIN_MS = 100;
/** The longest wait between attempts to listen again, in ms. */
export const RELISTEN_MAX_MS = 5_000;
/** A server that listened this long before it stopped starts the waits over, in ms. */
export const STABLE_MS = 10_000;

/** What {@linkcode listen} needs. */
export interface ListenOptions {
  hostname: string;
  /** 0 for a free port; later listens reuse the port the first one got. */
  port: number;
  /** PEM certificate and key; null for plain HTTP. */
  tls: { cert: string; key: string } | null;
  handler: Deno.ServeHandler<Deno.NetAddr>;
  log: Logger;
  /** Where `miranda_http_listener_restarts_total` is registered. */
  registry: client.Registry;
}

/** A listener that listens again when its server stops. */
export interface Listener {
  /** The address of the first listen (later ones take the same). */
  addr: Deno.NetAddr;
  /** Settles once {@linkcode Listener.shutdown} has stopped it. */
  finished: Promise<void>;
  /** Stops listening again and shuts the current server down. */
  shutdown(): Promise<void>;
}

/** Serves `handler` on the address; throws when the first listen fails. */
export async function listen(options: ListenOptions): Promise<Listener> {
  const { log } = options;
  const restarts = new client.Counter({
    name: "miranda_http_listener_restarts_total",
    help:
      "Times the HTTP server stopped accepting connections (out of file descriptors, say) and listened again",
    registers: [options.registry],
  });
  let spares = takeSpares();
  const first = await serveOnce(options, options.port).catch((error) => {
    releaseSpares(spares);
    throw error;
  });
  let server = first.server;
  let stopping = false;
  const stopped = Promise.withResolvers<void>();
  let wake: (() => void) | null = null;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = null;
        resolve();
      }
      wake = done;
    });

  const finished = (async () => {
    let listeningSince = performance.now();
    // The wait before the latest listen; 0 before any restart.
    let lastWaitMs = 0;
    while (true) {
      let failure: unknown = new Error("the HTTP server stopped");
      try {
        await Promise.race([server.finished, stopped.promise]);
      } catch (error) {
        failure = error;
      }
      releaseSpares(spares);
      spares = [];
      if (stopping) return;
      restarts.inc();
      // A server that stops again soon after listening (the descriptors are
      // still used up) keeps the wait growing instead of starting over.
      let waitMs =
        lastWaitMs > 0 && performance.now() - listeningSince < STABLE_MS
          ? Math.min(lastWaitMs * 2, RELISTEN_MAX_MS)
          : RELISTEN_MIN_MS;
      log.error("HTTP server stopped accepting connections; listening again", {
        ...errorFields(failure),
        retryInMs: waitMs,
      });
      while (true) {
        await pause(waitMs);
        if (stopping) return;
        try {
          if (!hasFreeDescriptors(2 * SPARE_DESCRIPTORS)) {
            throw new Error(
              `fewer than ${2 * SPARE_DESCRIPTORS} file descriptors free`,
            );
          }
          spares = takeSpares();
          const next = (await serveOnce(options, first.addr.port)).server;
          if (stopping) {
            // Shut down while this one started: `shutdown` had the old one.
            await next.shutdown();
            return;
          }
          server = next;
          listeningSince = performance.now();
          lastWaitMs = waitMs;
          log.info("HTTP server listening again", { port: first.addr.port });
          break;
        } catch (error) {
          releaseSpares(spares);
          spares = [];
          waitMs = Math.min(waitMs * 2, RELISTEN_MAX_MS);
          log.warn("HTTP server could not listen again; retrying", {
            ...errorFields(error),
            retryInMs: waitMs,
          });
        }
      }
    }
  })();

  return {
    addr: first.addr,
    finished,
    async shutdown() {
      if (!stopping) {
        stopping = true;
        stopped.resolve();
        wake?.();
        await server.shutdown().catch(() => {});
      }
      await finished;
      releaseSpares(spares);
      spares = [];
    },
  };
}

/** One `Deno.serve` on `port`, resolved once it listens. */
async function serveOnce(
  options: ListenOptions,
  port: number,
): Promise<{ server: Deno.HttpServer<Deno.NetAddr>; addr: Deno.NetAddr }> {
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: options.hostname,
    port,
    onListen: (addr) => listening.resolve(addr),
    ...(options.tls ?? {}),
  }, options.handler);
  // A server that stops before it listens (it cannot bind) rejects here.
  server.finished.catch((error) => listening.reject(error));
  return { server, addr: await listening.promise };
}

/** Up to {@linkcode SPARE_DESCRIPTORS} handles on `/dev/null` (fewer if they cannot be had). */
function takeSpares(): Deno.FsFile[] {
  const spares: Deno.FsFile[] = [];
  try {
    while (spares.length < SPARE_DESCRIPTORS) {
      spares.push(Deno.openSync("/dev/null"));
    }
  } catch {
    // No `/dev/null`, or no descriptors: as many as there are.
  }
  return spares;
}

function releaseSpares(spares: Deno.FsFile[]): void {
  for (const spare of spares) spare.close();
}
