/**
 * Prometheus metrics of the actor runtime, registered on a given registry
 * (never the global one) so tests and several systems do not collide.
 *
 * @module
 */

import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** The runtime's metrics. */
export interface ActorMetrics {
  /** `miranda_actor_restarts_total{actor}` */
  restarts: Counter<"actor">;
  /** `miranda_actor_panics_total{actor,message}` */
  panics: Counter<"actor" | "message">;
  /** `miranda_actor_poison_messages_total{actor}` */
  poisonMessages: Counter<"actor">;
  /** `miranda_actor_mailbox_depth{actor}`, computed on collect */
  mailboxDepth: Gauge<"actor">;
  /** `miranda_actor_message_seconds{actor}` */
  messageSeconds: Histogram<"actor">;
  /** `miranda_supervisor_escalations_total{supervisor}` */
  escalations: Counter<"supervisor">;
}

// Handlers are expected to take microseconds to milliseconds.
const MESSAGE_BUCKETS = [
  0.00001,
  0.0001,
  0.001,
  0.005,
  0.01,
  0.05,
  0.1,
  0.5,
  1,
  5,
];

/** Registers the runtime's metrics on `registry`; `depths` lists live mailboxes on collect. */
export function createActorMetrics(
  registry: Registry,
  depths: () => Iterable<{ name: string; depth: number }>,
): ActorMetrics {
  const registers = [registry];
  return {
    restarts: new Counter({
      name: "miranda_actor_restarts_total",
      help: "Restarts of a supervised child (actor or supervisor)",
      labelNames: ["actor"],
      registers,
    }),
    panics: new Counter({
      name: "miranda_actor_panics_total",
      help: "Handler, init, timer or task failures, by message type",
      labelNames: ["actor", "message"],
      registers,
    }),
    poisonMessages: new Counter({
      name: "miranda_actor_poison_messages_total",
      help: "Messages set aside after making their actor panic twice",
      labelNames: ["actor"],
      registers,
    }),
    mailboxDepth: new Gauge({
      name: "miranda_actor_mailbox_depth",
      help: "Messages queued in an actor's mailbox",
      labelNames: ["actor"],
      registers,
      collect() {
        // Reset first so stopped actors drop out of the output.
        this.reset();
        for (const { name, depth } of depths()) {
          this.set({ actor: name }, depth);
        }
      },
    }),
    messageSeconds: new Histogram({
      name: "miranda_actor_message_seconds",
      help: "Time an actor took to handle one message",
      labelNames: ["actor"],
      buckets: MESSAGE_BUCKETS,
      registers,
    }),
    escalations: new Counter({
      name: "miranda_supervisor_escalations_total",
      help: "Times a supervisor exceeded its restart intensity and escalated",
      labelNames: ["supervisor"],
      registers,
    }),
  };
}
