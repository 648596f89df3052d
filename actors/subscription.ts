/**
 * The `subscription` actor: subscriptions (versioned), their signing
 * secrets (sealed; rotatable with a grace period during which both
 * secrets sign), pause/resume, the failed list and replays, and the
 * destination check against SSRF. It tells the delivery side to start,
 * update and stop couriers.
 *
 * Who may ask it: the HTTP layer, and couriers (through `markGone`).
 *
 * @module
 */

import type { Behavior, Reply } from "./types.ts";
import {
  authorize,
  authorizeOnTopic,
  type Caller,
  type Identity,
} from "../identity/authorize.ts";
import { auditBy, changeBy, recordAudit } from "../store/audit.ts";
import type {
  DeliveryRecord,
  FailedRecord,
  FailurePolicy,
  SigningSecrets,
  Store,
  SubscriptionPatch,
  SubscriptionRecord,
  VersionRecord,
} from "../store/mod.ts";

/** A failure answer; codes map to problem codes. */
export type SubscriptionFailure = {
  ok: false;
  code: "forbidden" | "not_found" | "conflict" | "validation_failed";
  detail: string;
};

/** A subscription-actor answer. */
export type SubscriptionResult<T> =
  | { ok: true; value: T }
  | SubscriptionFailure;

/** The settings a subscriber chooses. */
export interface SubscriptionSettings {
  url: string;
  livenessUrl: string;
  ordered: boolean;
  maxInFlight: number;
  failurePolicy: FailurePolicy;
  record: "async" | "sync";
  timeoutMs: number;
  headers: Record<string, string>;
}

/** A subscription as the API shows it. */
export interface SubscriptionView extends SubscriptionRecord {
  topic: string;
}

/** Messages of the subscription actor. */
export type SubscriptionMsg =
  | Caller & {
    type: "create";
    topic: string;
    settings: SubscriptionSettings;
    reply: Reply<SubscriptionResult<SubscriptionView & { secret: string }>>;
  }
  | Caller & {
    type: "get";
    id: string;
    reply: Reply<SubscriptionResult<SubscriptionView>>;
  }
  | Caller & {
    type: "list";
    reply: Reply<SubscriptionResult<SubscriptionView[]>>;
  }
  | Caller & {
    type: "update";
    id: string;
    patch: Partial<SubscriptionSettings>;
    expectedVersion: number | undefined;
    reply: Reply<SubscriptionResult<SubscriptionView>>;
  }
  | Caller & {
    type: "setPaused";
    id: string;
    paused: boolean;
    reply: Reply<SubscriptionResult<SubscriptionView>>;
  }
  | Caller & {
    type: "delete";
    id: string;
    reply: Reply<SubscriptionResult<{ deleted: string; undelivered: number }>>;
  }
  | Caller & {
    type: "versions";
    id: string;
    reply: Reply<SubscriptionResult<VersionRecord[]>>;
  }
  | Caller & {
    type: "secret";
    id: string;
    reply: Reply<
      SubscriptionResult<{ secret: string; previousUntil: string | null }>
    >;
  }
  | Caller & {
    type: "rotateSecret";
    id: string;
    graceMs: number;
    reply: Reply<
      SubscriptionResult<{ secret: string; previousUntil: string | null }>
    >;
  }
  | Caller & {
    type: "deliveries";
    id: string;
    afterSeq: number;
    limit: number;
    reply: Reply<SubscriptionResult<DeliveryRecord[]>>;
  }
  | Caller & {
    type: "failed";
    id: string;
    afterSeq: number;
    limit: number;
    reply: Reply<SubscriptionResult<FailedRecord[]>>;
  }
  | Caller & {
    type: "replay";
    id: string;
    eventId: string | null;
    reply: Reply<SubscriptionResult<{ replaying: number }>>;
  }
  /** A courier met 410 Gone: pause the subscription as gone. */
  | { type: "markGone"; id: string };

/** What the delivery side is told. */
export interface CourierControl {
  started(subscription: SubscriptionRecord, topicName: string): void;
  updated(subscription: SubscriptionRecord): void;
  stopped(subscriptionId: string): void;
  replayed(subscriptionId: string): void;
}

/** The outcome of checking a destination URL. */
export type DestinationCheck = { ok: true } | { ok: false; detail: string };

/** What the subscription actor needs. */
export interface SubscriptionDeps {
  store: Store;
  couriers: CourierControl;
  /** SSRF check of a URL's resolved addresses; `allowPrivate` for admins. */
  checkDestination(
    url: string,
    options: { allowPrivate: boolean },
  ): Promise<DestinationCheck>;
  newSecret(): string;
}

/** Whether `identity` may point deliveries at loopback and private addresses. */
function mayUsePrivate(identity: Identity): boolean {
  return identity.roles.includes("admin");
}

/** The subscription actor's behavior (stateless: the store holds everything). */
export function subscriptionBehavior(
  deps: SubscriptionDeps,
): Behavior<null, SubscriptionMsg> {
  const { store } = deps;

  async function view(sub: SubscriptionRecord): Promise<SubscriptionView> {
    const topic = await store.topics.getById(sub.topicId);
    return { ...sub, topic: topic?.name ?? "" };
  }

  async function load(
    msg: Caller & { id: string },
    action: "subscriptions:read" | "subscriptions:write",
  ): Promise<SubscriptionResult<SubscriptionRecord>> {
    const sub = await store.subscriptions.get(msg.id);
    const notFound: SubscriptionFailure = {
      ok: false,
      code: "not_found",
      detail: `No subscription "${msg.id}"`,
    };
    if (!sub) return notFound;
    const decision = authorize(msg.identity, action, { owner: sub.owner });
    if (decision.ok) return { ok: true, value: sub };
    // Only the owner's other-scope tokens learn that it exists.
    return sub.owner === msg.identity.user
      ? { ok: false, code: "forbidden", detail: decision.detail }
      : notFound;
  }

  async function checkUrls(
    identity: Identity,
    urls: readonly string[],
  ): Promise<SubscriptionFailure | null> {
    const allowPrivate = mayUsePrivate(identity);
    for (const url of urls) {
      const check = await deps.checkDestination(url, { allowPrivate });
      if (!check.ok) {
        return { ok: false, code: "validation_failed", detail: check.detail };
      }
    }
    return null;
  }

  function audit(
    msg: Caller,
    action: string,
    id: string,
    extra: { version?: number; detail?: object } = {},
  ) {
    return auditBy(store.audit, msg, {
      action,
      resource: `subscription:${id}`,
      ...extra,
    });
  }

  async function update(
    msg: Caller & { id: string },
    patch: SubscriptionPatch,
    expectedVersion: number | undefined,
    action: string,
  ): Promise<SubscriptionResult<SubscriptionView>> {
    const updated = await store.subscriptions.update(msg.id, patch, {
      ...changeBy(msg),
      ...(expectedVersion !== undefined ? { expectedVersion } : {}),
    });
    if (!updated.ok) {
      return updated.code === "not_found"
        ? {
          ok: false,
          code: "not_found",
          detail: `No subscription "${msg.id}"`,
        }
        : {
          ok: false,
          code: "conflict",
          detail:
            `Subscription "${msg.id}" has changed since version ${expectedVersion}`,
        };
    }
    deps.couriers.updated(updated.subscription);
    await audit(msg, action, msg.id, {
      version: updated.subscription.version,
      detail: patch,
    });
    return { ok: true, value: await view(updated.subscription) };
  }

  async function secretView(id: string) {
    const secrets = await store.subscriptions.secrets(id);
    return {
      secret: secrets?.current ?? "",
      previousUntil: secrets?.previous
        ? new Date(secrets.previous.until).toISOString()
        : null,
    };
  }

  async function handle(msg: SubscriptionMsg): Promise<void> {
    switch (msg.type) {
      case "create": {
        const topic = await store.topics.get(msg.topic);
        if (!topic) {
          return msg.reply({
            ok: false,
            code: "not_found",
            detail: `No topic "${msg.topic}"`,
          });
        }
        const decision = authorizeOnTopic(
          msg.identity,
          "subscriptions:create",
          topic,
        );
        if (!decision.ok) return msg.reply(decision);
        const refused = await checkUrls(msg.identity, [
          msg.settings.url,
          msg.settings.livenessUrl,
        ]);
        if (refused) return msg.reply(refused);
        const sub: SubscriptionRecord = {
          id: crypto.randomUUID(),
          topicId: topic.id,
          owner: msg.identity.user,
          ...msg.settings,
          paused: null,
          privateAllowed: mayUsePrivate(msg.identity),
          createdAt: new Date().toISOString(),
          version: 1,
        };
        const secret = deps.newSecret();
        await store.subscriptions.create(sub, {
          current: secret,
          previous: null,
        }, changeBy(msg));
        await audit(msg, "subscription.create", sub.id, {
          version: 1,
          detail: { topic: topic.name, url: sub.url },
        });
        deps.couriers.started(sub, topic.name);
        return msg.reply({
          ok: true,
          value: { ...sub, topic: topic.name, secret },
        });
      }
      case "get": {
        const loaded = await load(msg, "subscriptions:read");
        return msg.reply(
          loaded.ok ? { ok: true, value: await view(loaded.value) } : loaded,
        );
      }
      case "list": {
        const all =
          msg.identity.roles.includes("admin") && msg.identity.scopes === null
            ? await store.subscriptions.list()
            : await store.subscriptions.list({ owner: msg.identity.user });
        const mine = all.filter((s) =>
          authorize(msg.identity, "subscriptions:read", { owner: s.owner }).ok
        );
        return msg.reply({
          ok: true,
          value: await Promise.all(mine.map(view)),
        });
      }
      case "update": {
        const loaded = await load(msg, "subscriptions:write");
        if (!loaded.ok) return msg.reply(loaded);
        const urls = [msg.patch.url, msg.patch.livenessUrl].filter((
          u,
        ): u is string => u !== undefined);
        const refused = await checkUrls(msg.identity, urls);
        if (refused) return msg.reply(refused);
        // New URLs were checked under this caller's rights; deliveries to
        // them are held to the same at every connection.
        const patch = urls.length > 0
          ? { ...msg.patch, privateAllowed: mayUsePrivate(msg.identity) }
          : msg.patch;
        return msg.reply(
          await update(
            msg,
            patch,
            msg.expectedVersion,
            "subscription.update",
          ),
        );
      }
      case "setPaused": {
        const loaded = await load(msg, "subscriptions:write");
        if (!loaded.ok) return msg.reply(loaded);
        return msg.reply(
          await update(
            msg,
            { paused: msg.paused ? "manual" : null },
            undefined,
            msg.paused ? "subscription.pause" : "subscription.resume",
          ),
        );
      }
      case "delete": {
        const loaded = await load(msg, "subscriptions:write");
        if (!loaded.ok) return msg.reply(loaded);
        const removed = await store.subscriptions.delete(msg.id);
        if (!removed) {
          return msg.reply({
            ok: false,
            code: "not_found",
            detail: `No subscription "${msg.id}"`,
          });
        }
        deps.couriers.stopped(msg.id);
        await audit(msg, "subscription.delete", msg.id, { detail: removed });
        return msg.reply({
          ok: true,
          value: { deleted: msg.id, undelivered: removed.undelivered },
        });
      }
      case "versions": {
        const loaded = await load(msg, "subscriptions:read");
        if (!loaded.ok) return msg.reply(loaded);
        return msg.reply({
          ok: true,
          value: await store.subscriptions.versions(msg.id),
        });
      }
      case "secret": {
        const loaded = await load(msg, "subscriptions:write");
        if (!loaded.ok) return msg.reply(loaded);
        return msg.reply({ ok: true, value: await secretView(msg.id) });
      }
      case "rotateSecret": {
        const loaded = await load(msg, "subscriptions:write");
        if (!loaded.ok) return msg.reply(loaded);
        const old = await store.subscriptions.secrets(msg.id);
        const secrets: SigningSecrets = {
          current: deps.newSecret(),
          previous: old && msg.graceMs > 0
            ? { secret: old.current, until: Date.now() + msg.graceMs }
            : null,
        };
        await store.subscriptions.setSecrets(msg.id, secrets);
        deps.couriers.updated(loaded.value);
        await audit(msg, "subscription.secret.rotate", msg.id, {
          detail: { graceMs: msg.graceMs },
        });
        return msg.reply({ ok: true, value: await secretView(msg.id) });
      }
      case "deliveries": {
        const loaded = await load(msg, "subscriptions:read");
        if (!loaded.ok) return msg.reply(loaded);
        return msg.reply({
          ok: true,
          value: await store.deliveries.listDelivered(
            msg.id,
            msg.afterSeq,
            msg.limit,
          ),
        });
      }
      case "failed": {
        const loaded = await load(msg, "subscriptions:read");
        if (!loaded.ok) return msg.reply(loaded);
        return msg.reply({
          ok: true,
          value: await store.deliveries.listFailed(
            msg.id,
            msg.afterSeq,
            msg.limit,
          ),
        });
      }
      case "replay": {
        const loaded = await load(msg, "subscriptions:write");
        if (!loaded.ok) return msg.reply(loaded);
        const count = await store.deliveries.markReplay(
          msg.id,
          msg.eventId === null ? null : [msg.eventId],
        );
        if (msg.eventId !== null && count === 0) {
          return msg.reply({
            ok: false,
            code: "not_found",
            detail:
              `Event "${msg.eventId}" is not in the failed list (or it expired and cannot be replayed)`,
          });
        }
        deps.couriers.replayed(msg.id);
        await audit(msg, "subscription.replay", msg.id, {
          detail: { eventId: msg.eventId, count },
        });
        return msg.reply({ ok: true, value: { replaying: count } });
      }
      case "markGone": {
        const updated = await store.subscriptions.update(msg.id, {
          paused: "gone",
        }, {
          actor: "system",
          requestId: "courier",
          time: new Date().toISOString(),
        });
        if (updated.ok) {
          deps.couriers.updated(updated.subscription);
          await recordAudit(store.audit, {
            actor: "system",
            action: "subscription.gone",
            resource: `subscription:${msg.id}`,
            requestId: "courier",
            version: updated.subscription.version,
          });
        }
        return;
      }
      default: {
        const _exhaustive: never = msg;
      }
    }
  }

  return {
    name: "subscription",
    init: () => null,
    async handle(state, msg) {
      await handle(msg);
      return state;
    },
  };
}
