/**
 * A bounded FIFO queue on a ring buffer: no allocation per message, O(1)
 * at both ends. `offer` refuses when full, so senders feel back-pressure
 * instead of the process growing without bound. The buffer starts small and
 * doubles as needed up to the capacity, so ten thousand idle actors do not
 * each hold a full-size buffer.
 *
 * @module
 */

const INITIAL_SLOTS = 16;

/** A bounded ring-buffer queue of messages. */
export class Mailbox<T> {
  /** Maximum number of items `offer` accepts. */
  readonly capacity: number;
  // One slot more than `capacity`: the message being handled is out of the
  // queue, and putting it back at the front must succeed even when senders
  // filled the queue meanwhile.
  #slots: (T | undefined)[];
  #head = 0;
  #size = 0;

  /** Creates an empty mailbox holding at most `capacity` offered items. */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `Mailbox capacity must be a positive integer, got "${capacity}"`,
      );
    }
    this.capacity = capacity;
    this.#slots = new Array<T | undefined>(
      Math.min(capacity + 1, INITIAL_SLOTS),
    ).fill(undefined);
  }

  /** Number of queued items. */
  get size(): number {
    return this.#size;
  }

  /** Appends `item`; returns false (and keeps nothing) when full. */
  offer(item: T): boolean {
    if (this.#size >= this.capacity) return false;
    if (this.#size === this.#slots.length) this.#grow();
    let tail = this.#head + this.#size;
    if (tail >= this.#slots.length) tail -= this.#slots.length;
    this.#slots[tail] = item;
    this.#size++;
    return true;
  }

  /** Puts `item` back at the front (a retry); may use the one spare slot. */
  offerFront(item: T): boolean {
    if (this.#size >= this.capacity + 1) return false;
    if (this.#size === this.#slots.length) this.#grow();
    this.#head = this.#head === 0 ? this.#slots.length - 1 : this.#head - 1;
    this.#slots[this.#head] = item;
    this.#size++;
    return true;
  }

  /** Removes and returns the front item, or `undefined` when empty. */
  poll(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#slots[this.#head];
    this.#slots[this.#head] = undefined;
    this.#head = this.#head + 1 === this.#slots.length ? 0 : this.#head + 1;
    this.#size--;
    return item;
  }

  /** Doubles the buffer (never past capacity + 1), keeping the order. */
  #grow(): void {
    const length = Math.min(this.#slots.length * 2, this.capacity + 1);
    const slots = new Array<T | undefined>(length).fill(undefined);
    for (let i = 0; i < this.#size; i++) {
      slots[i] = this.#slots[(this.#head + i) % this.#slots.length];
    }
    this.#slots = slots;
    this.#head = 0;
  }

  /** Removes and returns every queued item, front first. */
  drain(): T[] {
    const items: T[] = [];
    for (let item = this.poll(); item !== undefined; item = this.poll()) {
      items.push(item);
    }
    return items;
  }
}
