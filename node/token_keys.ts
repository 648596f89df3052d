/**
 * Miranda's access-token signing keys as the node holds them: loaded from
 * (or created into) the sealed node secret `jwt-signing-keys` while
 * unsealed, dropped from memory when the node seals.
 *
 * @module
 */

import {
  type AccessClaims,
  type IssuedAccessToken,
  SigningKeys,
  verifyAccessToken,
  type VerifyResult,
} from "../identity/jwt.ts";
import type { SecretStore } from "../store/mod.ts";

/** The node secret holding the exported signing keys. */
export const SIGNING_KEYS_SECRET = "jwt-signing-keys";

/** Issues and verifies Miranda's own access tokens. */
export class TokenKeys {
  #secrets: SecretStore;
  #keys: SigningKeys | null = null;
  #loading: Promise<SigningKeys> | null = null;
  readonly issuer: string;
  readonly audience: string;

  constructor(
    secrets: SecretStore,
    options: { issuer: string; audience: string },
  ) {
    this.#secrets = secrets;
    this.issuer = options.issuer;
    this.audience = options.audience;
  }

  /** Loads the keys (creating them on first use); throws `SealedError` while sealed. */
  load(): Promise<SigningKeys> {
    if (this.#keys) return Promise.resolve(this.#keys);
    this.#loading ??= (async () => {
      try {
        const stored = await this.#secrets.get(SIGNING_KEYS_SECRET);
        const keys = stored
          ? await SigningKeys.import(new TextDecoder().decode(stored))
          : await SigningKeys.generate();
        if (!stored) await this.#persist(keys);
        this.#keys = keys;
        return keys;
      } finally {
        this.#loading = null;
      }
    })();
    return this.#loading;
  }

  /** Signs an access token for `sub`. */
  async issue(
    input: {
      sub: string;
      scope: readonly string[];
      roles: readonly string[];
      ttlSeconds: number;
      subjectCreatedAt?: string;
    },
  ): Promise<IssuedAccessToken> {
    const keys = await this.load();
    return await keys.issueAccessToken({
      ...input,
      issuer: this.issuer,
      audience: this.audience,
    });
  }

  /** Verifies one of Miranda's own access tokens. */
  async verify(token: string): Promise<VerifyResult<AccessClaims>> {
    const keys = await this.load();
    return await verifyAccessToken(token, {
      keys,
      issuer: this.issuer,
      audience: this.audience,
    });
  }

  /** The public JWKS (old keys kept until their tokens expire). */
  async jwks(): Promise<ReturnType<SigningKeys["jwks"]>> {
    return (await this.load()).jwks();
  }

  /** Makes a new signing key active and persists the set; returns its `kid`. */
  async rotate(): Promise<string> {
    const keys = await this.load();
    const kid = await keys.rotate();
    await this.#persist(keys);
    return kid;
  }

  /** Drops the keys from memory (on seal). */
  wipe(): void {
    this.#keys = null;
  }

  async #persist(keys: SigningKeys): Promise<void> {
    await this.#secrets.put(
      SIGNING_KEYS_SECRET,
      new TextEncoder().encode(keys.export()),
    );
  }
}
