/**
 * One running Miranda node: the store, the actor system, the HTTP app and
 * the listener, started in order and stopped in reverse. `startNode` is what
 * `serve` runs; tests may run it in-process too.
 *
 * @module
 */

import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import type { Registry } from "prom-client";
import { ActorSystem } from "../actors/system.ts";
import { parseListen } from "../config/load.ts";
import type { Config } from "../config/keys.ts";
import { createApp } from "../http/app.ts";
import type { Logger } from "../observability/logger.ts";
import { createRegistry } from "../observability/metrics.ts";
import { Readiness } from "../observability/readiness.ts";
import { openSqlite, SQLITE_FILE } from "../store/sqlite/open.ts";

/** A started node; dispose it to stop it gracefully. */
export interface RunningNode extends AsyncDisposable {
  /** The base URL the node answers on (actual port when 0 was asked for). */
  url: string;
  registry: Registry;
  readiness: Readiness;
  system: ActorSystem;
  /** Stops accepting, finishes in-flight requests, drains actors, closes the store. */
  shutdown(): Promise<void>;
  /** Resolves when the listener has closed. */
  finished: Promise<void>;
}

/** What the node does when its root supervisor escalates under `halt`/`shutdown`. */
export type ExitHandler = (
  code: number,
  reason: string,
) => void | Promise<void>;

/** Starts a node from `config`; resolves once it listens. */
export async function startNode(
  config: Config,
  options: { log: Logger; exit: ExitHandler },
): Promise<RunningNode> {
  const { log } = options;
  const listen = parseListen(config.listen);
  if (!listen) throw new Error(`Invalid listen address "${config.listen}"`);
  await Deno.mkdir(config.dataDir, { recursive: true, mode: 0o700 });

  const registry = createRegistry();
  const readiness = new Readiness();
  const db: DatabaseSync = openSqlite(join(config.dataDir, SQLITE_FILE));
  let storeOpen = true;
  readiness.register(
    "store",
    () =>
      storeOpen
        ? { ok: true, detail: "open" }
        : { ok: false, detail: "closed" },
  );

  const system = new ActorSystem({
    log,
    registry,
    panicMode: config.panicMode,
    intensity: {
      maxRestarts: config.maxRestarts,
      periodMs: config.restartPeriodMs,
    },
    mailboxCapacity: config.mailboxCapacity,
    exit: options.exit,
  });
  readiness.register(
    "actors",
    () =>
      system.healthy
        ? { ok: true, detail: "up" }
        : { ok: false, detail: "the root supervisor escalated" },
  );

  const app = createApp({ config, log, registry, readiness });
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: listen.hostname,
    port: listen.port,
    onListen: (addr) => listening.resolve(addr),
  }, app.fetch);
  const addr = await listening.promise;
  const host = addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  const url = `http://${host}:${addr.port}`;

  let stopping: Promise<void> | undefined;
  function shutdown(): Promise<void> {
    stopping ??= (async () => {
      await server.shutdown();
      await system.stop({ timeoutMs: config.shutdownTimeoutMs });
      storeOpen = false;
      db.close();
    })();
    return stopping;
  }
  return {
    url,
    registry,
    readiness,
    system,
    shutdown,
    finished: server.finished,
    [Symbol.asyncDispose]: shutdown,
  };
}
