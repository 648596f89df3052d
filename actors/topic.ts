/**
 * The `topic` actor: topics, their settings (versioned), grants and
 * deletion. Every change is authorised here, versioned by the store and
 * audited. After a change it tells the `event` actor to forget its cached
 * copy; after a delete it tells the `delivery` actor to stop the couriers
 * of the removed subscriptions.
 *
 * Who may ask it: the HTTP layer. It tells `event` and `delivery`.
 *
 * @module
 */

import type { Behavior, Reply } from "./types.ts";
import {
  type Action,
  authorize,
  authorizeOnTopic,
  type Caller,
} from "../identity/authorize.ts";
import { auditBy, changeBy } from "../store/audit.ts";
import type {
  AckMode,
  GrantRight,
  Store,
  SubscriptionRecord,
  TopicDeletion,
  TopicGrant,
  TopicRecord,
  VersionRecord,
} from "../store/mod.ts";

/** A failure answer; codes map to problem codes. */
export type TopicFailure = {
  ok: false;
  code: "forbidden" | "not_found" | "conflict" | "validation_failed";
  detail: string;
};

/** A topic-actor answer. */
export type TopicResult<T> = { ok: true; value: T } | TopicFailure;

/** Messages of the topic actor. */
export type TopicMsg =
  | Caller & {
    type: "create";
    name: string;
    ack: AckMode;
    retentionMs: number;
    maxBodyBytes: number | null;
    reply: Reply<TopicResult<TopicRecord>>;
  }
  | Caller & {
    type: "get";
    name: string;
    reply: Reply<TopicResult<TopicRecord>>;
  }
  | Caller & { type: "list"; reply: Reply<TopicResult<TopicRecord[]>> }
  | Caller & {
    type: "update";
    name: string;
    ack: AckMode | undefined;
    retentionMs: number | undefined;
    maxBodyBytes: number | null | undefined;
    expectedVersion: number | undefined;
    reply: Reply<TopicResult<TopicRecord>>;
  }
  | Caller & {
    type: "delete";
    name: string;
    reply: Reply<TopicResult<TopicDeletion & { deleted: string }>>;
  }
  | Caller & {
    type: "versions";
    name: string;
    reply: Reply<TopicResult<VersionRecord[]>>;
  }
  | Caller & {
    type: "grant";
    name: string;
    principal: string;
    rights: GrantRight[];
    reply: Reply<TopicResult<TopicRecord>>;
  }
  | Caller & {
    type: "revoke";
    name: string;
    principal: string;
    reply: Reply<TopicResult<TopicRecord>>;
  };

/** Tells the topic actor sends to others. */
export interface TopicListeners {
  /** A topic changed: drop cached copies. */
  topicChanged(name: string): void;
  /** A topic was deleted: drop cached copies and its metric series. */
  topicDeleted(name: string): void;
  /** Subscriptions were removed with a topic: stop their couriers. */
  subscriptionsRemoved(subscriptions: readonly SubscriptionRecord[]): void;
}

/** What the topic actor needs. */
export interface TopicDeps {
  store: Store;
  /** Whether the store can confirm commits on a synchronous replica (`replicated` ack). */
  supportsReplicated: boolean;
  listeners: TopicListeners;
}

/** The topic actor's behavior (stateless: the store holds everything). */
export function topicBehavior(deps: TopicDeps): Behavior<null, TopicMsg> {
  const { store } = deps;

  async function load(
    msg: Caller & { name: string },
    action: Action,
  ): Promise<TopicResult<TopicRecord>> {
    const topic = await store.topics.get(msg.name);
    if (!topic) {
      return { ok: false, code: "not_found", detail: `No topic "${msg.name}"` };
    }
    const decision = authorizeOnTopic(msg.identity, action, topic);
    return decision.ok ? { ok: true, value: topic } : decision;
  }

  function audit(
    msg: Caller,
    action: string,
    topic: string,
    extra: { version?: number; detail?: object } = {},
  ) {
    return auditBy(store.audit, msg, {
      action,
      resource: `topic:${topic}`,
      ...extra,
    });
  }

  async function update(
    msg: Caller & { name: string; expectedVersion?: number | undefined },
    patch: Parameters<Store["topics"]["update"]>[1],
    action: string,
  ): Promise<TopicResult<TopicRecord>> {
    const updated = await store.topics.update(msg.name, patch, {
      ...changeBy(msg),
      ...(msg.expectedVersion !== undefined
        ? { expectedVersion: msg.expectedVersion }
        : {}),
    });
    if (!updated.ok) {
      return updated.code === "not_found"
        ? { ok: false, code: "not_found", detail: `No topic "${msg.name}"` }
        : {
          ok: false,
          code: "conflict",
          detail:
            `Topic "${msg.name}" has changed since version ${msg.expectedVersion}`,
        };
    }
    deps.listeners.topicChanged(msg.name);
    await audit(msg, action, msg.name, {
      version: updated.topic.version,
      detail: patch,
    });
    return { ok: true, value: updated.topic };
  }

  async function handle(msg: TopicMsg): Promise<void> {
    switch (msg.type) {
      case "create": {
        const decision = authorize(msg.identity, "topics:create");
        if (!decision.ok) {
          return msg.reply({
            ok: false,
            code: "forbidden",
            detail: decision.detail,
          });
        }
        if (msg.ack === "replicated" && !deps.supportsReplicated) {
          return msg.reply({
            ok: false,
            code: "validation_failed",
            detail:
              'Ack mode "replicated" needs a store with synchronous replicas (Postgres); the embedded store has none',
          });
        }
        const topic: TopicRecord = {
          id: crypto.randomUUID(),
          name: msg.name,
          owner: msg.identity.user,
          ack: msg.ack,
          retentionMs: msg.retentionMs,
          maxBodyBytes: msg.maxBodyBytes,
          grants: [],
          createdAt: new Date().toISOString(),
          version: 1,
        };
        const created = await store.topics.create(topic, changeBy(msg));
        if (!created.ok) {
          return msg.reply({
            ok: false,
            code: "conflict",
            detail: `Topic "${msg.name}" already exists`,
          });
        }
        await audit(msg, "topic.create", msg.name, {
          version: 1,
          detail: { ack: msg.ack },
        });
        return msg.reply({ ok: true, value: topic });
      }
      case "get":
        return msg.reply(await load(msg, "topics:read"));
      case "list": {
        const all = await store.topics.list();
        const visible = all.filter((t) =>
          authorize(msg.identity, "topics:read", {
            owner: t.owner,
            grants: t.grants,
          }).ok
        );
        return msg.reply({ ok: true, value: visible });
      }
      case "update": {
        const loaded = await load(msg, "topics:write");
        if (!loaded.ok) return msg.reply(loaded);
        if (msg.ack === "replicated" && !deps.supportsReplicated) {
          return msg.reply({
            ok: false,
            code: "validation_failed",
            detail:
              'Ack mode "replicated" needs a store with synchronous replicas (Postgres)',
          });
        }
        return msg.reply(
          await update(msg, {
            ...(msg.ack !== undefined ? { ack: msg.ack } : {}),
            ...(msg.retentionMs !== undefined
              ? { retentionMs: msg.retentionMs }
              : {}),
            ...(msg.maxBodyBytes !== undefined
              ? { maxBodyBytes: msg.maxBodyBytes }
              : {}),
          }, "topic.update"),
        );
      }
      case "delete": {
        const loaded = await load(msg, "topics:write");
        if (!loaded.ok) return msg.reply(loaded);
        const subscriptions = await store.subscriptions.list({
          topicId: loaded.value.id,
        });
        const decision = authorize(msg.identity, "topics:delete", {
          owner: loaded.value.owner,
          grants: loaded.value.grants,
          hasSubscriptions: subscriptions.length > 0,
        });
        if (!decision.ok) {
          return msg.reply({
            ok: false,
            code: "conflict",
            detail:
              `Topic "${msg.name}" has ${subscriptions.length} subscriptions; only an admin may delete it`,
          });
        }
        const removed = await store.topics.delete(msg.name);
        if (!removed) {
          return msg.reply({
            ok: false,
            code: "not_found",
            detail: `No topic "${msg.name}"`,
          });
        }
        deps.listeners.topicDeleted(msg.name);
        deps.listeners.subscriptionsRemoved(subscriptions);
        await audit(msg, "topic.delete", msg.name, { detail: removed });
        return msg.reply({
          ok: true,
          value: { deleted: msg.name, ...removed },
        });
      }
      case "versions": {
        const loaded = await load(msg, "topics:read");
        if (!loaded.ok) return msg.reply(loaded);
        return msg.reply({
          ok: true,
          value: await store.topics.versions(msg.name),
        });
      }
      case "grant":
      case "revoke": {
        const loaded = await load(msg, "topics:grant");
        if (!loaded.ok) return msg.reply(loaded);
        const others = loaded.value.grants.filter((g) =>
          g.principal !== msg.principal
        );
        const grants: TopicGrant[] = msg.type === "grant"
          ? [...others, {
            principal: msg.principal,
            rights: [...new Set(msg.rights)],
          }]
          : others;
        if (
          msg.type === "revoke" && grants.length === loaded.value.grants.length
        ) {
          return msg.reply({
            ok: false,
            code: "not_found",
            detail: `No grant to "${msg.principal}"`,
          });
        }
        return msg.reply(
          await update(
            msg,
            { grants },
            msg.type === "grant" ? "topic.grant" : "topic.revoke",
          ),
        );
      }
      default: {
        const _exhaustive: never = msg;
      }
    }
  }

  return {
    name: "topic",
    init: () => null,
    async handle(state, msg) {
      await handle(msg);
      return state;
    },
  };
}
