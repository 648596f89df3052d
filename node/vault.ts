/**
 * The node's key holder: the keyfile on disk and, while unsealed, the
 * keyring in memory. Sealing wipes the keyring at once; unsealing takes the
 * passphrase or Shamir shares one at a time. Everything that needs a key
 * asks `cipher()`, which throws `SealedError` while sealed, so work in
 * flight fails cleanly instead of half-writing.
 *
 * Not an actor: sealing must take effect synchronously, ahead of any queue.
 *
 * @module
 */

import client from "prom-client";
import { type Keyring, SealedError } from "../security/envelope.ts";
import {
  InvalidSharesError,
  type KeyfileJson,
  ShareError,
  unlockWithPassphrase,
  UnsealProgress,
  WrongPassphraseError,
} from "../security/keyfile.ts";
import type { SealState, UnsealRefusal } from "../http/routes/seal.ts";
import type { Logger } from "../observability/logger.ts";

/** Holds the keyfile and, while unsealed, the keyring. */
export class Vault {
  readonly keyfile: KeyfileJson;
  #keyring: Keyring | null = null;
  #progress: UnsealProgress;
  #log: Logger;
  #sealed: client.Gauge;
  #received: client.Gauge;
  #attempts: client.Counter<"method" | "result">;

  constructor(
    keyfile: KeyfileJson,
    options: { log: Logger; registry: client.Registry },
  ) {
    this.keyfile = keyfile;
    this.#progress = new UnsealProgress(keyfile);
    this.#log = options.log;
    const registers = [options.registry];
    this.#sealed = new client.Gauge({
      name: "miranda_sealed",
      help: "1 while the node is sealed (no keys in memory), else 0",
      registers,
    });
    this.#received = new client.Gauge({
      name: "miranda_unseal_shares_received",
      help: "Unseal shares received so far while sealed",
      registers,
    });
    new client.Gauge({
      name: "miranda_unseal_shares_threshold",
      help: "Unseal shares needed to unseal",
      registers,
    }).set(keyfile.shares.threshold);
    this.#attempts = new client.Counter({
      name: "miranda_unseal_attempts_total",
      help:
        "Unseal attempts by method (passphrase, share) and result (accepted, refused)",
      labelNames: ["method", "result"],
      registers,
    });
    this.#sealed.set(1);
  }

  /** True while no keyring is in memory. */
  get sealed(): boolean {
    return this.#keyring === null;
  }

  /** The unsealed keyring; throws {@linkcode SealedError} while sealed. */
  cipher(): Keyring {
    if (this.#keyring === null) throw new SealedError("use the keyring");
    return this.#keyring;
  }

  /** Puts an unsealed keyring in place (start-up with a passphrase, rotation). */
  install(keyring: Keyring): void {
    if (this.#keyring && this.#keyring !== keyring) this.#keyring.wipe();
    this.#keyring = keyring;
    this.#progress.reset();
    this.#sealed.set(0);
    this.#received.set(0);
  }

  /** Seal state for `/readyz` and the API. */
  state(): SealState {
    return {
      sealed: this.sealed,
      progress: this.sealed ? this.#progress.status().progress : 0,
      threshold: this.keyfile.shares.threshold,
    };
  }

  /** Drops every key from memory at once. */
  seal(reason: string): void {
    this.#keyring?.wipe();
    this.#keyring = null;
    this.#progress.reset();
    this.#sealed.set(1);
    this.#received.set(0);
    this.#log.warn("sealed", { reason });
  }

  /** Unseals with the passphrase. */
  async unsealWithPassphrase(
    passphrase: string,
  ): Promise<{ ok: true; state: SealState } | UnsealRefusal> {
    if (!this.sealed) return { ok: true, state: this.state() };
    try {
      this.install(await unlockWithPassphrase(this.keyfile, passphrase));
    } catch (error) {
      if (!(error instanceof WrongPassphraseError)) throw error;
      this.#attempts.inc({ method: "passphrase", result: "refused" });
      return {
        ok: false,
        detail: "The passphrase does not unlock this node's keys",
      };
    }
    this.#attempts.inc({ method: "passphrase", result: "accepted" });
    this.#log.info("unsealed with the passphrase");
    return { ok: true, state: this.state() };
  }

  /** Adds one Shamir share; unseals when enough have been given. */
  async addShare(
    share: string,
  ): Promise<{ ok: true; state: SealState } | UnsealRefusal> {
    if (!this.sealed) return { ok: true, state: this.state() };
    try {
      const status = await this.#progress.add(share);
      this.#received.set(status.progress);
      if (status.complete) {
        this.install(await this.#progress.unlock());
        this.#log.info("unsealed with shares", { threshold: status.threshold });
      }
    } catch (error) {
      if (!(error instanceof ShareError)) throw error;
      this.#attempts.inc({ method: "share", result: "refused" });
      if (error instanceof InvalidSharesError) {
        this.#progress.reset();
        this.#received.set(0);
        return {
          ok: false,
          detail:
            "The shares given do not rebuild the key; start over with valid shares",
        };
      }
      return { ok: false, detail: error.message };
    }
    this.#attempts.inc({ method: "share", result: "accepted" });
    return { ok: true, state: this.state() };
  }
}
