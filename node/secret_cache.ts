/**
 * Signing secrets of subscriptions, opened once and kept while unsealed,
 * so a courier does not decrypt its secret for every delivery. Emptied at
 * once when the node seals, and per subscription when its settings or
 * secrets change.
 *
 * @module
 */

import type { SigningSecrets, SubscriptionStore } from "../store/mod.ts";

/** A read-through cache of signing secrets by subscription id. */
export class SecretCache {
  #store: SubscriptionStore;
  #secrets = new Map<string, Promise<SigningSecrets>>();

  constructor(store: SubscriptionStore) {
    this.#store = store;
  }

  /** The secrets of `id`; throws when it has none (or the node is sealed). */
  get(id: string): Promise<SigningSecrets> {
    let secrets = this.#secrets.get(id);
    if (secrets === undefined) {
      secrets = this.#store.secrets(id).then((found) => {
        if (!found) {
          throw new Error(`Subscription "${id}" has no signing secret`);
        }
        return found;
      });
      // A failure (sealed, deleted) is not remembered.
      secrets.catch(() => this.#secrets.delete(id));
      this.#secrets.set(id, secrets);
    }
    return secrets;
  }

  /** Forgets one subscription's secrets (changed, rotated or deleted). */
  forget(id: string): void {
    this.#secrets.delete(id);
  }

  /** Forgets everything (the node sealed). */
  clear(): void {
    this.#secrets.clear();
  }
}
