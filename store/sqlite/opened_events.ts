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
    this.#bytes += weight(event);
    if (this.#events.size <= this.#maxEvents && this.#bytes <= this.#maxBytes) {
      return;
    }
    for (const [seq, old] of this.#events) {
      this.#events.delete(seq);
      this.#bytes -= weight(old);
      if (
        this.#events.size <= this.#maxEvents && this.#bytes <= this.#maxBytes
      ) break;
    }
  }

  /** Drops every event kept (the node sealing). */
  clear(): void {
    this.#events.clear();
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
