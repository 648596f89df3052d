/**
 * One running Miranda node: the vault, the store, the actor system (the
 * `session` and `user` actors), the HTTP app and the listener, started in
 * order and stopped in reverse. `startNode` is what `serve` runs.
 *
 * @module
 */

import type { Registry } from "prom-client";
import { sessionBehavior, type SessionMsg } from "../actors/session.ts";
import { deliveryBehavior, type DeliveryMsg } from "../actors/delivery.ts";
import { retentionBehavior } from "../actors/retention.ts";
import {
  subscriptionBehavior,
  type SubscriptionMsg,
} from "../actors/subscription.ts";
import { eventBehavior, type EventMsg } from "../actors/event.ts";
import type { FaultInjection } from "../actors/fault_injection.ts";
import { ActorSystem, tell } from "../actors/system.ts";
import { topicBehavior, type TopicMsg } from "../actors/topic.ts";
import type { ActorRef } from "../actors/types.ts";
import { userBehavior, type UserMsg } from "../actors/user.ts";
import { decoyEncryption } from "../identity/login_token.ts";
import { parseListen } from "../config/load.ts";
import type { Config } from "../config/keys.ts";
import { createApp } from "../http/app.ts";
import { ReadDeadlines } from "../http/read_deadlines.ts";
import { TokenBuckets } from "../http/token_buckets.ts";
import { systemClock } from "../actors/clock.ts";
import { listen as listenHttp } from "../http/listener.ts";
import { authenticate } from "../http/middleware/auth.ts";
import { RateLimiter } from "../http/rate_limit.ts";
import { actorRoutes } from "../http/routes/actors.ts";
import { authRoutes } from "../http/routes/auth.ts";
import { eventRoutes } from "../http/routes/events.ts";
import { subscriptionRoutes } from "../http/routes/subscriptions.ts";
import { newSigningSecret } from "../delivery/signature.ts";
import { createDeliveryClient } from "../delivery/client.ts";
import { localSender, type Sender } from "../delivery/sender.ts";
import { createWorkerSender } from "../delivery/worker_sender.ts";
import { registerWorkerSenderMetrics } from "../delivery/metrics.ts";
import { checkDestination, parseCidrs } from "../delivery/ssrf.ts";
import { Slots } from "../delivery/slots.ts";
import { topicRoutes } from "../http/routes/topics.ts";
import { sealRoutes } from "../http/routes/seal.ts";
import { userRoutes } from "../http/routes/users.ts";
import { errorFields, type Logger } from "../observability/logger.ts";
import { createRegistry } from "../observability/metrics.ts";
import { Readiness } from "../observability/readiness.ts";
import { readKeyfile } from "../security/keyfile.ts";
import { recordAudit } from "../store/audit.ts";
import type { Store } from "../store/mod.ts";
import { reencryptAll } from "../store/reencrypt.ts";
import { openSqliteStore } from "../store/sqlite/store.ts";
import { registerWalMetrics } from "../store/sqlite/wal_metrics.ts";
import { dataDirLayout, isInitialised } from "./data_dir.ts";
import { externalVerifiers } from "./external_issuers.ts";
import { SecretCache } from "./secret_cache.ts";
import { TokenKeys } from "./token_keys.ts";
import { sealControl } from "./seal_control.ts";
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

/** The passphrase given at start does not unlock the keys. */
export class WrongPassphraseAtStart extends Error {
  override name = "WrongPassphraseAtStart";
  constructor() {
    super("The passphrase does not unlock this node's keys");
  }
}

/** Starts a node from `config`; unseals it when `passphrase` is given. Resolves once it listens. */
export async function startNode(
  config: Config,
  options: {
    log: Logger;
    exit: ExitHandler;
    passphrase: string | null;
    /**
     * Asked for another passphrase after a wrong one (a terminal prompt);
     * null, or no function, gives up with {@linkcode WrongPassphraseAtStart}.
     */
    retryPassphrase?: () => Promise<string | null>;
    /** Chaos tests only (`MIRANDA_FAULT_INJECTION`); off when absent. */
    faultInjection?: FaultInjection | null;
  },
): Promise<RunningNode> {
  const { log } = options;
  const listen = parseListen(config.listen);
  if (!listen) throw new Error(`Invalid listen address "${config.listen}"`);
  if (!(await isInitialised(config.dataDir))) {
    throw new NotInitialisedError(config.dataDir);
  }
  const layout = dataDirLayout(config.dataDir);
  const externalIssuers = externalVerifiers(config.externalIssuers);

  const registry = createRegistry();
  const readiness = new Readiness();
  const vault = new Vault(await readKeyfile(layout.keyfile), { log, registry });
  const store = openSqliteStore(layout.database, () => vault.cipher(), {
    log,
    walPreallocateBytes: config.walPreallocateBytes,
  });
  registerWalMetrics(registry, `${layout.database}-wal`);
  const tokenKeys = new TokenKeys(store.secrets, {
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
  });
  const reencryption = new AbortController();
  // Set once the delivery actor exists: wakes every courier after an unseal.
  let wakeAll = async () => {};
  const afterUnseal = () => {
    wakeAll().catch((error) =>
      log.warn("could not wake couriers", errorFields(error))
    );
    reencryptAll(store.reencryption, () => vault.cipher(), {
      signal: reencryption.signal,
    }).then(
      (report) =>
        report.reencrypted > 0 &&
        log.info("re-encryption under the active data key done", { ...report }),
      (error) => log.warn("re-encryption paused", errorFields(error)),
    );
  };
  let passphrase = options.passphrase;
  while (passphrase !== null) {
    if ((await vault.unsealWithPassphrase(passphrase)).ok) {
      afterUnseal();
      break;
    }
    passphrase = await options.retryPassphrase?.() ?? null;
    if (passphrase === null) {
      await store.close();
      throw new WrongPassphraseAtStart();
    }
  }

  readiness.register("store", () => store.health());
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
    faultInjection: options.faultInjection ?? null,
  });
  readiness.register(
    "actors",
    () =>
      system.healthy
        ? { ok: true, detail: "up" }
        : { ok: false, detail: "the root supervisor escalated" },
  );
  const session: ActorRef<SessionMsg> = await system.spawn(sessionBehavior({
    store,
    tokenKeys,
    sessionTtlMs: config.sessionTtlMs,
    sweepMs: config.sessionSweepMs,
    accessTokenTtlSeconds: config.accessTokenTtlSeconds,
  }));
  const user: ActorRef<UserMsg> = await system.spawn(userBehavior({
    store,
    session,
    lookupHash: (kind, value) => vault.cipher().lookupHash(kind, value),
  }));

  // Make the decoy key now, so the first login of an unknown user does not
  // take a key generation longer than a known user's (user enumeration).
  await decoyEncryption();

  // The subscription and delivery actors refer to each other; the delivery
  // actor is spawned first and reaches the subscription actor through this ref.
  let subscription: ActorRef<SubscriptionMsg> | null = null;
  const allowCidrs = parseCidrs(config.allowedPrivateCidrs);
  const clientOptions = {
    allowCidrs,
    keepAliveMs: config.deliveryKeepAliveMs,
    connectionsPerOrigin: config.maxConcurrentDeliveries,
  };
  // Couriers sending one attempt at a time always send from this thread.
  const directClient = localSender(createDeliveryClient(clientOptions));
  let deliveryClient: Sender = directClient;
  if (config.deliveryThread === "worker") {
    const workerSender = createWorkerSender(clientOptions, {}, directClient);
    registerWorkerSenderMetrics(registry, workerSender);
    deliveryClient = workerSender;
  }
  const secretCache = new SecretCache(store.subscriptions);
  const delivery: ActorRef<DeliveryMsg> = await system.spawn(deliveryBehavior({
    system,
    events: store.events,
    deliveries: store.deliveries,
    secrets: (id) => secretCache.get(id),
    onGone: (sub) => {
      if (subscription) tell(subscription, { type: "markGone", id: sub.id });
    },
    registry,
    waits: {
      probeInitialMs: config.probeInitialMs,
      capMs: config.deliveryWaitCapMs,
      retryInitialMs: config.retryInitialMs,
    },
    recordFlushMs: config.recordFlushMs,
    slots: new Slots(config.maxConcurrentDeliveries),
    client: deliveryClient,
    directClient,
  }));
  const event: ActorRef<EventMsg> = await system.spawn(eventBehavior({
    store,
    maxBodyBytes: config.maxBodyBytes,
    batchMaxEvents: config.batchMaxEvents,
    batchMaxBytes: config.batchMaxBytes,
    batchMaxDelayMs: config.batchMaxDelayMs,
    registry,
    onCommitted: (topics) => {
      for (const topic of topics) tell(delivery, { type: "wake", ...topic });
    },
  }));
  subscription = await system.spawn(subscriptionBehavior({
    store,
    couriers: {
      started: (sub, topicName) =>
        tell(delivery, { type: "start", subscription: sub, topicName }),
      updated: (sub) => {
        secretCache.forget(sub.id);
        tell(delivery, { type: "update", subscription: sub });
      },
      stopped: (subscriptionId) => {
        secretCache.forget(subscriptionId);
        tell(delivery, { type: "stop", subscriptionId, deleted: true });
      },
      replayed: (subscriptionId) =>
        tell(delivery, { type: "replay", subscriptionId }),
    },
    checkDestination: (url, options) =>
      checkDestination(url, { ...options, allowCidrs }),
    newSecret: newSigningSecret,
  }));
  const retention = await system.spawn(
    retentionBehavior({
      store,
      sweepMs: config.retentionSweepMs,
      auditRetentionMs: config.auditRetentionDays * 86_400_000,
      registry,
    }),
  );
  const topic: ActorRef<TopicMsg> = await system.spawn(topicBehavior({
    store,
    supportsReplicated: false,
    listeners: {
      topicChanged: (name) => tell(event, { type: "topicChanged", name }),
      topicDeleted: (name) => {
        tell(event, { type: "topicDeleted", name });
        tell(retention, { type: "topicDeleted", name });
      },
      subscriptionsRemoved: (subs) => {
        for (const sub of subs) {
          tell(delivery, {
            type: "stop",
            subscriptionId: sub.id,
            deleted: true,
          });
        }
      },
    },
  }));
  const topicNames = new Map(
    (await store.topics.list()).map((t) => [t.id, t.name]),
  );
  for (const sub of await store.subscriptions.list()) {
    tell(delivery, {
      type: "start",
      subscription: sub,
      topicName: topicNames.get(sub.topicId) ?? "",
    });
  }
  wakeAll = async () => {
    for (const t of await store.topics.list()) {
      tell(delivery, { type: "wake", topicId: t.id });
    }
  };

  const control = sealControl(vault, store, {
    tokenKeys,
    secretCache,
    afterUnseal,
    onSeal: () => {
      store.events.forgetOpened();
      tell(delivery, { type: "sealed" });
    },
  });
  const failures = new RateLimiter({
    limit: config.authFailuresPerMinute,
    windowMs: 60_000,
  });
  // The body read deadlines' timers, stopped with the node.
  const bodyDeadlines = new ReadDeadlines(
    config.bodyReadTimeoutMs,
    systemClock,
  );
  const app = createApp({
    config,
    log,
    bodyDeadlines,
    registry,
    readiness,
    isSealed: () => vault.sealed,
    authenticate: authenticate({
      session,
      tokenKeys,
      externalIssuers,
      failures,
      askTimeoutMs: config.askTimeoutMs,
    }),
    routes: [
      sealRoutes({
        control,
        unsealLimiter: new RateLimiter({
          limit: config.unsealAttemptsPerMinute,
          windowMs: 60_000,
        }),
      }),
      authRoutes({
        session,
        tokenKeys,
        failures,
        askTimeoutMs: config.askTimeoutMs,
        audit: (entry) => recordAudit(store.audit, entry),
      }),
      userRoutes({ user, askTimeoutMs: config.askTimeoutMs }),
      topicRoutes({ topic, event, askTimeoutMs: config.askTimeoutMs }),
      eventRoutes({
        event,
        askTimeoutMs: config.askTimeoutMs,
        publishLimit: config.publishRatePerSecond > 0
          ? new TokenBuckets({
            ratePerSecond: config.publishRatePerSecond,
            burst: config.publishBurst > 0
              ? config.publishBurst
              : config.publishRatePerSecond,
          })
          : null,
      }),
      actorRoutes({ poison: () => system.poison() }),
      subscriptionRoutes({ subscription, askTimeoutMs: config.askTimeoutMs }),
    ],
  });
  const tls = config.insecureHttp ? null : {
    cert: await Deno.readTextFile(layout.nodeCert),
    key: await Deno.readTextFile(layout.nodeKey),
  };
  const server = await listenHttp({
    hostname: listen.hostname,
    port: listen.port,
    tls,
    handler: app.fetch,
    log,
    registry,
  });
  const addr = server.addr;
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
      bodyDeadlines.close();
      reencryption.abort();
      await system.stop({ timeoutMs: config.shutdownTimeoutMs });
      await deliveryClient.close();
      if (directClient !== deliveryClient) await directClient.close();
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
