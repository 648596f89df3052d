/**
 * One running Miranda node: the vault, the store, the actor system, the
 * HTTP app and the listener, started in order and stopped in reverse.
 * `startNode` is what `serve` runs; tests may run it in-process too.
 *
 * @module
 */

import type { Registry } from "prom-client";
import { ActorSystem } from "../actors/system.ts";
import { parseListen } from "../config/load.ts";
import type { Config } from "../config/keys.ts";
import { createApp } from "../http/app.ts";
import { RateLimiter } from "../http/rate_limit.ts";
import { sealRoutes } from "../http/routes/seal.ts";
import { errorFields, type Logger } from "../observability/logger.ts";
import { createRegistry } from "../observability/metrics.ts";
import { Readiness } from "../observability/readiness.ts";
import { readKeyfile } from "../security/keyfile.ts";
import type { Store } from "../store/mod.ts";
import { reencryptAll } from "../store/reencrypt.ts";
import { openSqliteStore } from "../store/sqlite/store.ts";
import { dataDirLayout, isInitialised } from "./data_dir.ts";
import { Vault } from "./vault.ts";

/** A started node; dispose it to stop it gracefully. */
export interface RunningNode extends AsyncDisposable {
  /** The base URL the node answers on (actual port when 0 was asked for). */
  url: string;
  registry: Registry;
  readiness: Readiness;
  system: ActorSystem;
  vault: Vault;
  store: Store;
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

/** The data directory has not been initialised. */
export class NotInitialisedError extends Error {
  override name = "NotInitialisedError";
  constructor(readonly dataDir: string) {
    super(
      `The data directory "${dataDir}" is not initialised: run "miranda init" (or "miranda start")`,
    );
  }
}

/** Starts a node from `config`; unseals it when `passphrase` is given. Resolves once it listens. */
export async function startNode(
  config: Config,
  options: { log: Logger; exit: ExitHandler; passphrase: string | null },
): Promise<RunningNode> {
  const { log } = options;
  const listen = parseListen(config.listen);
  if (!listen) throw new Error(`Invalid listen address "${config.listen}"`);
  if (!(await isInitialised(config.dataDir))) {
    throw new NotInitialisedError(config.dataDir);
  }
  const layout = dataDirLayout(config.dataDir);

  const registry = createRegistry();
  const readiness = new Readiness();
  const vault = new Vault(await readKeyfile(layout.keyfile), { log, registry });
  const store = openSqliteStore(layout.database, () => vault.cipher());
  const reencryption = new AbortController();
  const resumeReencryption = () => {
    reencryptAll(store.reencryption, () => vault.cipher(), {
      signal: reencryption.signal,
    }).then(
      (report) =>
        report.reencrypted > 0 &&
        log.info("re-encryption under the active data key done", { ...report }),
      (error) => log.warn("re-encryption paused", errorFields(error)),
    );
  };
  if (options.passphrase !== null) {
    const unsealed = await vault.unsealWithPassphrase(options.passphrase);
    if (!unsealed.ok) {
      await store.close();
      throw new WrongPassphraseAtStart();
    }
    resumeReencryption();
  }

  readiness.register(
    "store",
    () =>
      store.healthy()
        ? { ok: true, detail: "open" }
        : { ok: false, detail: "closed" },
  );
  readiness.register("seal", () => {
    const state = vault.state();
    return state.sealed
      ? {
        ok: false,
        detail:
          `sealed; ${state.progress} of ${state.threshold} shares received`,
      }
      : { ok: true, detail: "unsealed" };
  });
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

  const control = {
    state: () => vault.state(),
    seal: (reason: string) => vault.seal(reason),
    unsealWithPassphrase: async (passphrase: string) => {
      const result = await vault.unsealWithPassphrase(passphrase);
      if (result.ok && !result.state.sealed) resumeReencryption();
      return result;
    },
    addShare: async (share: string) => {
      const result = await vault.addShare(share);
      if (result.ok && !result.state.sealed) resumeReencryption();
      return result;
    },
  };
  const app = createApp({
    config,
    log,
    registry,
    readiness,
    isSealed: () => vault.sealed,
    routes: [
      sealRoutes({
        control,
        unsealLimiter: new RateLimiter({
          limit: config.unsealAttemptsPerMinute,
          windowMs: 60_000,
        }),
      }),
    ],
  });
  const tls = config.insecureHttp ? null : {
    cert: await Deno.readTextFile(layout.nodeCert),
    key: await Deno.readTextFile(layout.nodeKey),
  };
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: listen.hostname,
    port: listen.port,
    onListen: (addr) => listening.resolve(addr),
    ...(tls ?? {}),
  }, app.fetch);
  const addr = await listening.promise;
  const host = addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  const url = `${tls ? "https" : "http"}://${host}:${addr.port}`;
  if (!tls) {
    log.warn(
      "serving plain HTTP (insecureHttp): run behind a TLS-terminating proxy",
    );
  }

  let stopping: Promise<void> | undefined;
  function shutdown(): Promise<void> {
    stopping ??= (async () => {
      await server.shutdown();
      reencryption.abort();
      await system.stop({ timeoutMs: config.shutdownTimeoutMs });
      await store.close();
    })();
    return stopping;
  }
  return {
    url,
    registry,
    readiness,
    system,
    vault,
    store,
    shutdown,
    finished: server.finished,
    [Symbol.asyncDispose]: shutdown,
  };
}

/** The passphrase given at start does not unlock the keys. */
export class WrongPassphraseAtStart extends Error {
  override name = "WrongPassphraseAtStart";
  constructor() {
    super("The passphrase does not unlock this node's keys");
  }
}
