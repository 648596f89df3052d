/**
 * Events recently appended or opened, kept decrypted by seq, so that a
 * subscriber's courier delivering an event just published — or a hundred
 * couriers fanning one event out — do not each read and decrypt it again.
 * Bounded by count and by body bytes; the oldest go first. Entries are
 * served only with a cipher in hand (the caller asks for it first, and it
 * throws while the node is sealed), and only for the cipher that made them:
 * a new keyring (after an unseal) starts an empty cache. `clear` drops them
 * all when the node seals.
 *
 * @module
 */

import type { Cipher, EventRecord } from "../mod.ts";

/** Most events kept. */
export const OPENED_EVENTS_MAX = 8_192;
/** Most body and header bytes kept, roughly. */
export const OPENED_BYTES_MAX = 16 * 1024 * 1024;

/** Decrypted events by seq, for one cipher at a time. */
export class OpenedEvents {
  #events = new Map<number, EventRecord>();
  // Seqs in the order they were kept, oldest at `#head`: iterating the map
  // from its start to find the oldest would step over every entry deleted
  // since V8 last compacted it (~1.7 µs per event kept, against ~0.1).
  #order: number[] = [];
  #head = 0;
  #bytes = 0;
  #owner: Cipher | null = null;
  readonly #maxEvents: number;
  readonly #maxBytes: number;

  /** A cache holding at most `maxEvents` events and about `maxBytes` bytes. */
  constructor(maxEvents = OPENED_EVENTS_MAX, maxBytes = OPENED_BYTES_MAX) {
    this.#maxEvents = maxEvents;
    this.#maxBytes = maxBytes;
  }

  /** Events kept now. */
  get size(): number {
    return this.#events.size;
  }

  /** The event at `seq` opened under `cipher`, if kept. */
  get(cipher: Cipher, seq: number): EventRecord | undefined {
    if (cipher !== this.#owner) return undefined;
    return this.#events.get(seq);
  }

  /** Keeps `event`, opened under `cipher`, dropping the oldest past the bounds. */
  set(cipher: Cipher, event: EventRecord): void {
    if (cipher !== this.#owner) {
      this.clear();
      this.#owner = cipher;
    }
    if (this.#events.has(event.seq)) return;
    this.#events.set(event.seq, event);
    this.#order.push(event.seq);
    this.#bytes += weight(event);
    while (
      this.#events.size > this.#maxEvents || this.#bytes > this.#maxBytes
    ) {
      const seq = this.#order[this.#head++]!;
      this.#bytes -= weight(this.#events.get(seq)!);
      this.#events.delete(seq);
    }
    if (this.#head > 1_024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Drops every event kept (the node sealing). */
  clear(): void {
    this.#events.clear();
    this.#order = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#owner = null;
  }
}

/** Bytes an event holds beyond its fixed fields, roughly. */
function weight(event: EventRecord): number {
  let bytes = event.body.byteLength + 256;
  for (const name in event.headers) {
    bytes += name.length + event.headers[name]!.length;
  }
  return bytes;
}
