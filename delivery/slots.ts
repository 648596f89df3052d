/**
 * A node-wide cap on deliveries in flight. Each courier keeps its own window
 * (`maxInFlight`), but nothing bounded their sum: a thousand subscriptions
 * with 64 each could ask for 64,000 sockets at once, past the usual limit on
 * open files. A send takes a slot before it leaves and gives it back when it
 * ends; sends that find none wait in order of arrival. (In the fan-out bench,
 * 100 × 64, the default of 1,024 changed neither throughput nor memory.)
 *
 * @module
 */

/** Counting slots with a FIFO queue of waiters. */
export class Slots {
  readonly #max: number;
  #used = 0;
  readonly #waiters: { grant: () => void }[] = [];

  /** At most `max` slots are held at once. */
  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`Slots must be a positive integer, got ${max}`);
    }
    this.#max = max;
  }

  /** Slots held now. */
  get used(): number {
    return this.#used;
  }

  /** Sends waiting for a slot. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Resolves true once a slot is held (give it back with `release`), or false
   * if `signal` aborts first (then nothing is held).
   */
  acquire(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    if (this.#used < this.#max) {
      this.#used++;
      return Promise.resolve(true);
    }
    const { promise, resolve } = Promise.withResolvers<boolean>();
    const waiter = {
      grant: () => {
        signal?.removeEventListener("abort", onAbort);
        resolve(true);
      },
    };
    const onAbort = () => {
      const index = this.#waiters.indexOf(waiter);
      if (index >= 0) this.#waiters.splice(index, 1);
      resolve(false);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#waiters.push(waiter);
    return promise;
  }

  /** Gives a slot back; the longest waiter gets it. */
  release(): void {
    const next = this.#waiters.shift();
    if (next !== undefined) {
      next.grant();
      return;
    }
    this.#used = Math.max(0, this.#used - 1);
  }
}
