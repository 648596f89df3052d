/**
 * TEST DOUBLE — an in-memory `EventStore` and `DeliveryStore` with just the
 * semantics the courier relies on (cursor + doneAbove, failed list,
 * replays). Not a store implementation: the real ones live in `store/` and
 * pass the conformance suite. Every change notifies `changed` so tests wait
 * on facts instead of sleeping.
 *
 * @module
 */

import type {
  DeliveryPosition,
  DeliveryRecord,
  DeliveryStore,
  EventMeta,
  EventRecord,
  EventStore,
  FailedRecord,
  NewEvent,
} from "../../store/mod.ts";

function unsupported(name: string): never {
  throw new Error(`"${name}" is not part of the test double`);
}

/** Events and delivery state in memory, with change notifications. */
export class MemoryStoreDouble {
  readonly log: EventRecord[] = [];
  readonly delivered: DeliveryRecord[] = [];
  readonly failed = new Map<string, Map<number, FailedRecord>>();
  readonly #positions = new Map<
    string,
    { cursor: number; done: Set<number> }
  >();
  readonly #topics = new Map<string, string>();
  #waiters: (() => void)[] = [];
  /** Calls to `recordDelivered` (batches). */
  recordCalls = 0;

  /** Registers a subscription on a topic, its cursor after the newest event. */
  subscribe(subscriptionId: string, topicId: string): void {
    this.#topics.set(subscriptionId, topicId);
    const last = this.log.filter((e) => e.topicId === topicId).at(-1)?.seq ?? 0;
    this.#positions.set(subscriptionId, { cursor: last, done: new Set() });
  }

  /** Resolves once `predicate` holds (checked after every change), or rejects after `timeoutMs`. */
  until(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
    if (predicate()) return Promise.resolve();
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const timer = setTimeout(() => {
      this.#waiters = this.#waiters.filter((w) => w !== check);
      reject(new Error(`Store condition not met within ${timeoutMs} ms`));
    }, timeoutMs);
    const check = (): void => {
      if (!predicate()) return;
      clearTimeout(timer);
      this.#waiters = this.#waiters.filter((w) => w !== check);
      resolve();
    };
    this.#waiters.push(check);
    return promise;
  }

  #changed(): void {
    for (const check of [...this.#waiters]) check();
  }

  #advance(subscriptionId: string): void {
    const position = this.#positions.get(subscriptionId)!;
    const topicId = this.#topics.get(subscriptionId)!;
    for (const event of this.log) {
      if (event.topicId !== topicId || event.seq <= position.cursor) continue;
      if (!position.done.has(event.seq)) break;
      position.done.delete(event.seq);
      position.cursor = event.seq;
    }
  }

  readonly events: EventStore = {
    append: (
      events: readonly NewEvent[],
      onVisible?: (seqs: number[]) => void,
    ) => {
      const seqs = events.map((event) => {
        const seq = this.log.length + 1;
        this.log.push({ ...event, seq });
        return seq;
      });
      onVisible?.(seqs);
      this.#changed();
      return Promise.resolve(seqs);
    },
    findByIdempotencyKey: () => unsupported("findByIdempotencyKey"),
    get: (id) => Promise.resolve(this.log.find((e) => e.id === id) ?? null),
    listMeta: (): Promise<EventMeta[]> => unsupported("listMeta"),
    read: (topicId, afterSeq, limit, maxBytes = Infinity) => {
      const events: EventRecord[] = [];
      let bytes = 0;
      let cut = false;
      for (const e of this.log) {
        if (e.topicId !== topicId || e.seq <= afterSeq) continue;
        if (events.length >= limit) break;
        events.push(e);
        bytes += e.body.byteLength;
        if (bytes >= maxBytes) {
          cut = true;
          break;
        }
      }
      return Promise.resolve({
        events,
        more: cut || events.length === limit,
      });
    },
    readSeqs: (seqs) =>
      Promise.resolve(this.log.filter((e) => seqs.includes(e.seq))),
    forgetOpened: () => {},
    lastSeq: (topicId) =>
      Promise.resolve(
        this.log.filter((e) => e.topicId === topicId).at(-1)?.seq ?? 0,
      ),
    expire: () => unsupported("expire"),
  };

  readonly deliveries: DeliveryStore = {
    position: (subscriptionId): Promise<DeliveryPosition> => {
      const position = this.#positions.get(subscriptionId);
      return Promise.resolve({
        cursor: position?.cursor ?? 0,
        doneAbove: [...(position?.done ?? [])].sort((a, b) => a - b),
      });
    },
    recordDelivered: (records) => {
      this.recordCalls++;
      for (const record of records) {
        this.delivered.push(record);
        this.#positions.get(record.subscriptionId)?.done.add(record.seq);
        this.failed.get(record.subscriptionId)?.delete(record.seq);
        this.#advance(record.subscriptionId);
      }
      this.#changed();
      return Promise.resolve();
    },
    recordFailed: (record) => {
      let list = this.failed.get(record.subscriptionId);
      if (list === undefined) {
        list = new Map();
        this.failed.set(record.subscriptionId, list);
      }
      list.set(record.seq, { ...record, replaying: false });
      this.#positions.get(record.subscriptionId)?.done.add(record.seq);
      this.#advance(record.subscriptionId);
      this.#changed();
      return Promise.resolve();
    },
    listDelivered: (subscriptionId, afterSeq, limit) =>
      Promise.resolve(
        this.delivered.filter((d) =>
          d.subscriptionId === subscriptionId && d.seq > afterSeq
        ).slice(0, limit),
      ),
    listFailed: (subscriptionId, afterSeq, limit) =>
      Promise.resolve(
        [...(this.failed.get(subscriptionId)?.values() ?? [])]
          .filter((f) => f.seq > afterSeq).slice(0, limit),
      ),
    markReplay: (subscriptionId, eventIds) => {
      let count = 0;
      for (const record of this.failed.get(subscriptionId)?.values() ?? []) {
        if (eventIds === null || eventIds.includes(record.eventId)) {
          record.replaying = true;
          count++;
        }
      }
      return Promise.resolve(count);
    },
    replays: (subscriptionId, limit) =>
      Promise.resolve(
        [...(this.failed.get(subscriptionId)?.values() ?? [])]
          .filter((f) => f.replaying).map((f) => f.seq)
          .sort((a, b) => a - b).slice(0, limit),
      ),
    eventState: () => unsupported("eventState"),
    backlog: (subscriptionId) => {
      const position = this.#positions.get(subscriptionId);
      const topicId = this.#topics.get(subscriptionId);
      return Promise.resolve(
        this.log.filter((e) =>
          e.topicId === topicId && e.seq > (position?.cursor ?? 0) &&
          !position?.done.has(e.seq)
        ).length,
      );
    },
  };
}
