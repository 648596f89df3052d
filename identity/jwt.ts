/**
 * JWTs, all through `jose`: Miranda's own access tokens and their signing
 * keys, client assertions exchanged for access tokens, replay protection,
 * tokens from external issuers, and long-lived agent tokens.
 *
 * Miranda signs with EdDSA over Ed25519: signatures are deterministic (no
 * per-signature nonce whose reuse or bias leaks the key, as with ECDSA),
 * keys and signatures are small, signing is fast, and there are no curve
 * parameters to get wrong. The cost is that a few older JWT libraries lack
 * EdDSA; every current one (jose, PyJWT, jjwt, golang-jwt, Keycloak) has it.
 *
 * Every verifier pins an allow-list of algorithms and checks it on the header
 * before verifying, so `alg: none` and HMAC-with-a-public-key confusion never
 * reach a key.
 *
 * @module
 */

import {
  calculateJwkThumbprint,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  exportJWK,
  generateKeyPair,
  importJWK,
  importSPKI,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
  type ProtectedHeaderParameters,
  SignJWT,
} from "jose";
import { z } from "zod";
import type { Clock } from "../actors/clock.ts";
import { bytesToBase64url } from "./encoding.ts";
import type { UserKeyAlgorithm } from "./keys.ts";
import { hashToken } from "./login_token.ts";

/** JWS algorithm of Miranda's access tokens. */
export const ACCESS_TOKEN_ALG = "EdDSA";
/** `typ` header of Miranda's access tokens (RFC 9068). */
export const ACCESS_TOKEN_TYP = "at+jwt";
/** Default access token lifetime, in seconds. */
export const DEFAULT_ACCESS_TTL_SECONDS = 900;
/** Default time a retired signing key stays published, in milliseconds. */
export const DEFAULT_RETAIN_MS = 60 * 60 * 1000;
/** Default allowed clock skew between Miranda and token issuers, in seconds. */
export const DEFAULT_CLOCK_TOLERANCE_SEC = 30;
/** Algorithms accepted on client assertions. `Ed25519` is RFC 9864's name for EdDSA over Ed25519. */
export const ASSERTION_ALGORITHMS = ["RS256", "EdDSA", "Ed25519"] as const;
/** Prefix of agent tokens, so they are recognisable (and secret scanners can find leaks). */
export const AGENT_TOKEN_PREFIX = "mat_";

/** Why a token was refused. */
export type VerifyFailureCode =
  | "expired"
  | "not_yet_valid"
  | "bad_signature"
  | "unknown_kid"
  | "alg_not_allowed"
  | "wrong_audience"
  | "wrong_issuer"
  | "malformed"
  | "missing_claim"
  | "replayed"
  | "lifetime_too_long"
  | "keys_unavailable";

/** Outcome of a token check; `detail` is safe to show the client. */
export type VerifyResult<T> =
  | { ok: true; claims: T }
  | { ok: false; code: VerifyFailureCode; detail: string };

/** Something that tells the time; {@linkcode Clock} fits. */
export type Now = Pick<Clock, "now">;

const systemNow: Now = { now: () => Date.now() };

// ---------------------------------------------------------------------------
// Signing keys

interface SigningKey {
  kid: string;
  createdAt: number;
  retiredAt: number | null;
  privateJwk: JWK;
  publicJwk: JWK;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

const EXPORT_SCHEMA = z.object({
  version: z.literal(1),
  keys: z.array(z.object({
    kid: z.string(),
    createdAt: z.number(),
    retiredAt: z.number().nullable(),
    privateJwk: z.object({
      kty: z.literal("OKP"),
      crv: z.literal("Ed25519"),
      x: z.string(),
      d: z.string(),
    }),
  })).min(1),
});

/** The signing key JSON did not load. */
export class SigningKeysImportError extends Error {
  override readonly name = "SigningKeysImportError";

  /** Creates the error with what was wrong. */
  constructor(message: string) {
    super(`Cannot import signing keys: ${message}`);
  }
}

/** What goes into an access token. */
export interface AccessTokenInput {
  /** User name. */
  sub: string;
  /** Granted scopes; joined with spaces into the `scope` claim. */
  scope: readonly string[];
  /** The user's roles, copied into the `roles` claim. */
  roles: readonly string[];
  /**
   * When the subject user was created, put in the `sub_created_at` claim so
   * a later user of the same name does not inherit the token.
   */
  subjectCreatedAt?: string;
  /** Lifetime; at most the key retention time. */
  ttlSeconds?: number;
  /** `iss`: Miranda's issuer URL. */
  issuer: string;
  /** `aud`. */
  audience: string;
}

/** A freshly issued access token. */
export interface IssuedAccessToken {
  /** The compact JWT. */
  token: string;
  /** Its `jti`. */
  jti: string;
  /** Its `exp`, in milliseconds since the epoch. */
  expiresAt: number;
}

/**
 * Miranda's access-token signing keys. The newest key signs; retired keys
 * stay published in {@linkcode SigningKeys.jwks} for `retainMs` after
 * retirement, which must cover the longest access token lifetime plus the
 * verifiers' clock tolerance ({@linkcode SigningKeys.issueAccessToken}
 * refuses lifetimes longer than `retainMs`). `kid` is the key's RFC 7638
 * thumbprint.
 */
export class SigningKeys {
  /** How long a retired key stays published, in milliseconds. */
  readonly retainMs: number;
  #clock: Now;
  #keys: SigningKey[];

  private constructor(keys: SigningKey[], clock: Now, retainMs: number) {
    this.#keys = keys;
    this.#clock = clock;
    this.retainMs = retainMs;
  }

  /** A key set holding one fresh active key. */
  static async generate(
    options: { clock?: Now; retainMs?: number } = {},
  ): Promise<SigningKeys> {
    const clock = options.clock ?? systemNow;
    const key = await newSigningKey(clock.now());
    return new SigningKeys(
      [key],
      clock,
      options.retainMs ?? DEFAULT_RETAIN_MS,
    );
  }

  /**
   * Loads keys written by {@linkcode SigningKeys.export}.
   *
   * @throws {SigningKeysImportError} when the JSON is not such an export.
   */
  static async import(
    json: string,
    options: { clock?: Now; retainMs?: number } = {},
  ): Promise<SigningKeys> {
    let parsed;
    try {
      parsed = EXPORT_SCHEMA.parse(JSON.parse(json));
    } catch (error) {
      throw new SigningKeysImportError(
        error instanceof Error ? error.message : String(error),
      );
    }
    const keys = await Promise.all(parsed.keys.map(async (entry) => {
      const privateJwk: JWK = { ...entry.privateJwk };
      const key = await keyFromPrivateJwk(privateJwk, entry.createdAt);
      if (key.kid !== entry.kid) {
        throw new SigningKeysImportError(
          `kid "${entry.kid}" does not match its key`,
        );
      }
      return { ...key, retiredAt: entry.retiredAt };
    }));
    return new SigningKeys(
      keys,
      options.clock ?? systemNow,
      options.retainMs ?? DEFAULT_RETAIN_MS,
    );
  }

  /** `kid` of the key that signs new tokens. */
  get activeKid(): string {
    return this.#active().kid;
  }

  /** Adds a new active key, retires the previous one, drops expired ones; returns the new `kid`. */
  async rotate(): Promise<string> {
    const now = this.#clock.now();
    const key = await newSigningKey(now);
    this.#keys = [
      ...this.#live(now).map((old) =>
        old.retiredAt === null ? { ...old, retiredAt: now } : old
      ),
      key,
    ];
    return key.kid;
  }

  /** The public JWKS to serve at `/.well-known/jwks.json`. */
  jwks(): JSONWebKeySet {
    return {
      keys: this.#live(this.#clock.now()).map((key) => ({ ...key.publicJwk })),
    };
  }

  /** Every live key, private parts included, as JSON; seal it before storing. */
  export(): string {
    return JSON.stringify({
      version: 1,
      keys: this.#live(this.#clock.now()).map((key) => ({
        kid: key.kid,
        createdAt: key.createdAt,
        retiredAt: key.retiredAt,
        privateJwk: {
          kty: key.privateJwk.kty,
          crv: key.privateJwk.crv,
          x: key.privateJwk.x,
          d: key.privateJwk.d,
        },
      })),
    });
  }

  /**
   * Signs an access token with the active key.
   *
   * @throws {RangeError} when `ttlSeconds` is not positive or outlives the
   * key retention, since verifiers could then lose the key before the token
   * expires.
   */
  async issueAccessToken(input: AccessTokenInput): Promise<IssuedAccessToken> {
    const ttlSeconds = input.ttlSeconds ?? DEFAULT_ACCESS_TTL_SECONDS;
    if (
      !Number.isInteger(ttlSeconds) || ttlSeconds <= 0 ||
      ttlSeconds * 1000 > this.retainMs
    ) {
      throw new RangeError(
        `Access token lifetime ${ttlSeconds} s is not within 1..${
          Math.floor(this.retainMs / 1000)
        } s (the key retention)`,
      );
    }
    const key = this.#active();
    const iat = Math.floor(this.#clock.now() / 1000);
    const jti = randomId();
    const token = await new SignJWT({
      scope: input.scope.join(" "),
      roles: [...input.roles],
      ...(input.subjectCreatedAt !== undefined
        ? { "sub_created_at": input.subjectCreatedAt }
        : {}),
    })
      .setProtectedHeader({
        alg: ACCESS_TOKEN_ALG,
        kid: key.kid,
        typ: ACCESS_TOKEN_TYP,
      })
      .setIssuer(input.issuer)
      .setSubject(input.sub)
      .setAudience(input.audience)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + ttlSeconds)
      .setJti(jti)
      .sign(key.privateKey);
    return { token, jti, expiresAt: (iat + ttlSeconds) * 1000 };
  }

  /** A `jose` key getter over the live public keys, by `kid`. */
  keyGetter(): JWTVerifyGetKey {
    return (header) => {
      const key = this.#live(this.#clock.now()).find((candidate) =>
        candidate.kid === header.kid
      );
      if (key === undefined) {
        throw new errors.JWKSNoMatchingKey(
          header.kid === undefined
            ? "token has no kid"
            : `no signing key with kid "${header.kid}"`,
        );
      }
      return key.publicKey;
    };
  }

  #active(): SigningKey {
    // The last key is always the newest and is never pruned.
    return this.#keys[this.#keys.length - 1] as SigningKey;
  }

  #live(now: number): SigningKey[] {
    return this.#keys.filter((key) =>
      key.retiredAt === null || now < key.retiredAt + this.retainMs
    );
  }
}

async function newSigningKey(createdAt: number): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair(ACCESS_TOKEN_ALG, {
    crv: "Ed25519",
    extractable: true,
  });
  return {
    ...await keyFromPrivateJwk(await exportJWK(privateKey), createdAt),
    retiredAt: null,
  };
}

async function keyFromPrivateJwk(
  privateJwk: JWK,
  createdAt: number,
): Promise<Omit<SigningKey, "retiredAt">> {
  const { x, d } = privateJwk;
  if (typeof x !== "string" || typeof d !== "string") {
    throw new SigningKeysImportError("key is not an Ed25519 private key");
  }
  const base: JWK = { kty: "OKP", crv: "Ed25519", x };
  const kid = await calculateJwkThumbprint(base, "sha256");
  const publicJwk: JWK = { ...base, kid, alg: ACCESS_TOKEN_ALG, use: "sig" };
  const [privateKey, publicKey] = await Promise.all([
    importJWK({ ...base, d }, ACCESS_TOKEN_ALG),
    importJWK(publicJwk, ACCESS_TOKEN_ALG),
  ]);
  if (!(privateKey instanceof CryptoKey) || !(publicKey instanceof CryptoKey)) {
    throw new SigningKeysImportError("key is not an asymmetric key");
  }
  return {
    kid,
    createdAt,
    privateJwk: { ...base, d },
    publicJwk,
    privateKey,
    publicKey,
  };
}

// ---------------------------------------------------------------------------
// Access tokens

/** Claims of a verified Miranda access token. */
export interface AccessClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  iat: number;
  exp: number;
  jti: string;
  /** The `scope` claim, split on spaces. */
  scope: string[];
  roles: string[];
  /** The `sub_created_at` claim: when the subject user was created. */
  subjectCreatedAt?: string;
}

const ACCESS_CLAIMS_SCHEMA = z.object({
  iss: z.string(),
  sub: z.string().min(1),
  aud: z.union([z.string(), z.array(z.string())]),
  iat: z.number(),
  exp: z.number(),
  jti: z.string().min(1),
  scope: z.string(),
  roles: z.array(z.string()),
  "sub_created_at": z.string().optional(),
});

/** Where {@linkcode verifyAccessToken} gets its keys and what it expects. */
export type VerifyAccessTokenOptions =
  & ({ keys: SigningKeys } | { jwksGetter: JWTVerifyGetKey })
  & {
    issuer: string;
    audience: string;
    clockToleranceSec?: number;
    clock?: Now;
  };

/**
 * Verifies a Miranda access token: EdDSA only, `typ: at+jwt`, known `kid`,
 * issuer, audience, `exp`/`nbf` within the clock tolerance.
 */
export async function verifyAccessToken(
  token: string,
  options: VerifyAccessTokenOptions,
): Promise<VerifyResult<AccessClaims>> {
  const header = checkHeader(token, [ACCESS_TOKEN_ALG]);
  if (!header.ok) return header;
  const getKey = "keys" in options
    ? options.keys.keyGetter()
    : options.jwksGetter;
  try {
    const { payload } = await jwtVerify(token, getKey, {
      algorithms: [ACCESS_TOKEN_ALG],
      typ: ACCESS_TOKEN_TYP,
      issuer: options.issuer,
      audience: options.audience,
      requiredClaims: ["sub", "iat", "exp", "jti"],
      clockTolerance: options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC,
      currentDate: new Date((options.clock ?? systemNow).now()),
    });
    const claims = ACCESS_CLAIMS_SCHEMA.safeParse(payload);
    if (!claims.success) {
      return fail("malformed", "Token claims do not have the expected types");
    }
    const { "sub_created_at": subjectCreatedAt, ...rest } = claims.data;
    return {
      ok: true,
      claims: {
        ...rest,
        scope: rest.scope.split(" ").filter((s) => s !== ""),
        ...(subjectCreatedAt !== undefined ? { subjectCreatedAt } : {}),
      },
    };
  } catch (error) {
    return mapJoseError(error);
  }
}

// ---------------------------------------------------------------------------
// Client assertions

/** One registered public key of the user named by an assertion. */
export interface AssertionKey {
  /** SPKI PEM, as returned by `parsePublicKey`. */
  pem: string;
  algorithm: UserKeyAlgorithm;
  /** Key fingerprint; when the assertion's `kid` names it, only this key is tried. */
  fingerprint?: string;
}

/** Claims of a verified client assertion. */
export interface AssertionClaims {
  /** The user, equal to `iss` and `sub`. */
  user: string;
  jti: string;
  iat: number;
  exp: number;
  /** The `scope` claim split on spaces, when the client asked for scopes. */
  scope: string[] | null;
}

/** What {@linkcode verifyClientAssertion} checks against. */
export interface VerifyClientAssertionOptions {
  /** The user the caller looked up from the unverified `sub`; see {@linkcode assertionSubject}. */
  user: string;
  /** That user's registered keys. */
  publicKeys: readonly AssertionKey[];
  /** Miranda's token endpoint audience. */
  audience: string;
  /** Longest allowed `exp - iat`, and oldest allowed `iat`. */
  maxLifetimeSec?: number;
  /**
   * Records a use and says whether it was seen before (true = replay). `key`
   * is the `jti` scoped by issuer, so users cannot collide; `expiresAt`
   * (ms) is when the assertion stops being acceptable, so the record can
   * go then. Called only after every other check passed, so forged tokens
   * cannot fill it. Back it by the store to cover a whole cluster.
   */
  jtiSeen: (key: string, expiresAt: number) => boolean | Promise<boolean>;
  clockToleranceSec?: number;
  clock?: Now;
}

/**
 * The unverified `sub` of an assertion, so the caller can fetch that user's
 * keys before {@linkcode verifyClientAssertion}; null when unreadable.
 */
export function assertionSubject(assertion: string): string | null {
  const parts = assertion.split(".");
  if (parts.length !== 3) return null;
  try {
    const payload: unknown = JSON.parse(
      new TextDecoder().decode(base64urlDecode(parts[1] ?? "")),
    );
    const sub = (payload as { sub?: unknown } | null)?.sub;
    return typeof sub === "string" && sub !== "" ? sub : null;
  } catch {
    return null;
  }
}

/**
 * Verifies a client assertion (RFC 7523 style): RS256 or EdDSA signature by
 * one of the user's keys, `iss` = `sub` = user, `aud`, `exp` no more than
 * `maxLifetimeSec` after `iat`, `nbf`, and a `jti` never used before.
 */
export async function verifyClientAssertion(
  assertion: string,
  options: VerifyClientAssertionOptions,
): Promise<VerifyResult<AssertionClaims>> {
  const header = checkHeader(assertion, ASSERTION_ALGORITHMS);
  if (!header.ok) return header;
  const alg = header.value.alg;
  const wanted: UserKeyAlgorithm = alg === "RS256" ? "RSA" : "Ed25519";
  const compatible = options.publicKeys.filter((key) =>
    key.algorithm === wanted
  );
  const named = compatible.filter((key) =>
    key.fingerprint !== undefined && key.fingerprint === header.value.kid
  );
  const candidates = named.length > 0 ? named : compatible;
  if (candidates.length === 0) {
    return fail(
      "unknown_kid",
      `User "${options.user}" has no ${wanted} key for an ${alg} assertion`,
    );
  }
  const maxLifetimeSec = options.maxLifetimeSec ?? 300;
  const clockToleranceSec = options.clockToleranceSec ??
    DEFAULT_CLOCK_TOLERANCE_SEC;
  let payload: JWTPayload | null = null;
  for (const candidate of candidates) {
    try {
      const key = await importSPKI(candidate.pem, alg);
      ({ payload } = await jwtVerify(assertion, key, {
        algorithms: [alg],
        audience: options.audience,
        requiredClaims: ["iss", "sub", "aud", "iat", "exp", "jti"],
        maxTokenAge: maxLifetimeSec,
        clockTolerance: clockToleranceSec,
        currentDate: new Date((options.clock ?? systemNow).now()),
      }));
      break;
    } catch (error) {
      // Another of the user's keys may have signed it; claim errors come
      // only after a good signature, so they are final.
      if (!(error instanceof errors.JWSSignatureVerificationFailed)) {
        return mapJoseError(error);
      }
    }
  }
  if (payload === null) {
    return fail(
      "bad_signature",
      `Signature matches no key of user "${options.user}"`,
    );
  }
  const { iss, sub, iat, exp, jti } = payload;
  if (iss !== options.user || sub !== options.user) {
    return fail(
      "wrong_issuer",
      `Assertion "iss" and "sub" must both be "${options.user}"`,
    );
  }
  if (
    typeof jti !== "string" || jti === "" || jti.length > 256 ||
    iat === undefined || exp === undefined
  ) {
    return fail("malformed", '"jti" must be a string of 1 to 256 characters');
  }
  if (exp - iat > maxLifetimeSec) {
    return fail(
      "lifetime_too_long",
      `Assertion lives ${exp - iat} s; at most ${maxLifetimeSec} s is allowed`,
    );
  }
  const seen = await options.jtiSeen(
    `${iss}\n${jti}`,
    (exp + clockToleranceSec) * 1000,
  );
  if (seen) {
    return fail("replayed", `Assertion "jti" "${jti}" was already used`);
  }
  const scope = payload["scope"];
  return {
    ok: true,
    claims: {
      user: options.user,
      jti,
      iat,
      exp,
      scope: typeof scope === "string"
        ? scope.split(" ").filter((s) => s !== "")
        : null,
    },
  };
}

/**
 * Seen `jti`s with their expiry, bounded in memory, for replay protection on
 * one node. When full of unexpired entries it fails closed: a new `jti`
 * counts as seen (replayed) rather than evicting one that could then be
 * replayed.
 */
export class JtiCache {
  /** Most entries held. */
  readonly maxEntries: number;
  #clock: Now;
  #expiries = new Map<string, number>();
  #nextExpiry = Infinity;

  /** Creates an empty cache. */
  constructor(options: { clock?: Now; maxEntries?: number } = {}) {
    this.#clock = options.clock ?? systemNow;
    this.maxEntries = options.maxEntries ?? 100_000;
  }

  /** Number of entries held, expired ones included until swept. */
  get size(): number {
    return this.#expiries.size;
  }

  /** Records `key` until `expiresAt` (ms); true if it was already recorded and unexpired. */
  seen(key: string, expiresAt: number): boolean {
    const now = this.#clock.now();
    const known = this.#expiries.get(key);
    if (known !== undefined && known > now) return true;
    if (this.#expiries.size >= this.maxEntries) this.#sweep(now);
    if (this.#expiries.size >= this.maxEntries) return true;
    this.#expiries.set(key, expiresAt);
    this.#nextExpiry = Math.min(this.#nextExpiry, expiresAt);
    return false;
  }

  // Full scans only when something can have expired, so a cache full of live
  // entries costs O(1) a call.
  #sweep(now: number): void {
    if (now < this.#nextExpiry) return;
    let next = Infinity;
    for (const [key, expiresAt] of this.#expiries) {
      if (expiresAt <= now) this.#expiries.delete(key);
      else next = Math.min(next, expiresAt);
    }
    this.#nextExpiry = next;
  }
}

// ---------------------------------------------------------------------------
// External issuers

/** A claim name (taken literally, dots and all) or a path into nested objects. */
export type ClaimPath = string | readonly string[];

/** An external OAuth2/OIDC issuer trusted for access tokens. */
export interface ExternalIssuerConfig {
  /** Expected `iss`. */
  issuer: string;
  /** Where its JWKS lives. */
  jwksUrl: string | URL;
  /** Expected `aud`. */
  audience: string;
  /** Claim holding the external roles, e.g. `["realm_access", "roles"]` for Keycloak. */
  roleClaim: ClaimPath;
  /** Claim holding scopes (space-separated string or array); default `"scope"`. */
  scopeClaim?: ClaimPath;
  /** External role → Miranda roles; unmapped external roles grant nothing. */
  roleMap: Readonly<Record<string, readonly string[]>>;
  /** Accepted algorithms; default RS256, PS256, ES256, EdDSA. */
  algorithms?: readonly string[];
  clockToleranceSec?: number;
  clock?: Now;
}

/** Who an external token speaks for, in Miranda's terms. */
export interface ExternalIdentity {
  issuer: string;
  subject: string;
  roles: string[];
  scopes: string[];
}

/** Verifies one external issuer's tokens; the JWKS is fetched and cached by `jose`. */
export type ExternalVerifier = (
  token: string,
) => Promise<VerifyResult<ExternalIdentity>>;

/** Builds the verifier for one external issuer. */
export function createExternalVerifier(
  config: ExternalIssuerConfig,
): ExternalVerifier {
  const jwks = createRemoteJWKSet(new URL(config.jwksUrl));
  const algorithms = [
    ...(config.algorithms ?? ["RS256", "PS256", "ES256", "EdDSA"]),
  ];
  return async (token) => {
    const header = checkHeader(token, algorithms);
    if (!header.ok) return header;
    try {
      const { payload } = await jwtVerify(token, jwks, {
        algorithms,
        issuer: config.issuer,
        audience: config.audience,
        requiredClaims: ["sub", "exp"],
        clockTolerance: config.clockToleranceSec ??
          DEFAULT_CLOCK_TOLERANCE_SEC,
        currentDate: new Date((config.clock ?? systemNow).now()),
      });
      if (typeof payload.sub !== "string" || payload.sub === "") {
        return fail("malformed", '"sub" must be a non-empty string');
      }
      const roles = new Set(
        claimStrings(payload, config.roleClaim).flatMap((external) =>
          Object.hasOwn(config.roleMap, external)
            ? config.roleMap[external] ?? []
            : []
        ),
      );
      return {
        ok: true,
        claims: {
          issuer: config.issuer,
          subject: payload.sub,
          roles: [...roles],
          scopes: claimStrings(payload, config.scopeClaim ?? "scope"),
        },
      };
    } catch (error) {
      return mapJoseError(error);
    }
  };
}

function claimStrings(payload: JWTPayload, path: ClaimPath): string[] {
  let value: unknown = payload;
  for (const step of typeof path === "string" ? [path] : path) {
    value = typeof value === "object" && value !== null &&
        Object.hasOwn(value, step)
      ? (value as Record<string, unknown>)[step]
      : undefined;
  }
  if (typeof value === "string") return value.split(" ").filter((s) => s);
  if (Array.isArray(value)) {
    return value.filter((item): item is string => typeof item === "string");
  }
  return [];
}

// ---------------------------------------------------------------------------
// Agent tokens

/** A new agent token: show `bearer` once, store only `hash`. */
export interface AgentToken {
  /** `mat_` followed by 32 random bytes in base64url. */
  bearer: string;
  /** {@linkcode hashToken} of the bearer. */
  hash: string;
}

/** Mints a long-lived random agent bearer token. */
export function newAgentToken(): AgentToken {
  const bearer = AGENT_TOKEN_PREFIX +
    bytesToBase64url(crypto.getRandomValues(new Uint8Array(32)));
  return { bearer, hash: hashToken(bearer) };
}

// ---------------------------------------------------------------------------
// Shared

function fail(
  code: VerifyFailureCode,
  detail: string,
): { ok: false; code: VerifyFailureCode; detail: string } {
  return { ok: false, code, detail };
}

function checkHeader(
  token: string,
  allowed: readonly string[],
):
  | { ok: true; value: ProtectedHeaderParameters & { alg: string } }
  | { ok: false; code: VerifyFailureCode; detail: string } {
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return fail("malformed", "Token is not a compact JWS");
  }
  const alg = header.alg;
  if (typeof alg !== "string" || !allowed.includes(alg)) {
    return fail(
      "alg_not_allowed",
      `Algorithm ${JSON.stringify(alg ?? null)} is not allowed; use one of ${
        allowed.join(", ")
      }`,
    );
  }
  return { ok: true, value: { ...header, alg } };
}

function mapJoseError(
  error: unknown,
): { ok: false; code: VerifyFailureCode; detail: string } {
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === "missing") {
      return fail("missing_claim", `Token lacks the "${error.claim}" claim`);
    }
    switch (error.claim) {
      case "nbf":
      case "iat":
        return fail("not_yet_valid", `Token is not valid yet (${error.claim})`);
      case "aud":
        return fail("wrong_audience", "Token is for another audience");
      case "iss":
        return fail("wrong_issuer", "Token is from another issuer");
      default:
        return fail("malformed", `Token claim "${error.claim}" is invalid`);
    }
  }
  if (error instanceof errors.JWTExpired) {
    return fail("expired", `Token has expired (${error.claim})`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return fail("bad_signature", "Token signature does not verify");
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return fail("unknown_kid", "Token is signed by an unknown key");
  }
  if (
    error instanceof errors.JOSEAlgNotAllowed ||
    error instanceof errors.JOSENotSupported
  ) {
    return fail("alg_not_allowed", "Token algorithm is not allowed");
  }
  if (
    error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid
  ) {
    return fail("keys_unavailable", "Issuer keys could not be fetched");
  }
  if (error instanceof errors.JOSEError) {
    return fail("malformed", "Token is malformed");
  }
  // Outside jose's own errors, only key retrieval (fetch, key import) throws.
  return fail("keys_unavailable", "Verification keys are unavailable");
}

function randomId(): string {
  return bytesToBase64url(crypto.getRandomValues(new Uint8Array(16)));
}

function base64urlDecode(text: string): Uint8Array {
  const base64 = text.replaceAll("-", "+").replaceAll("_", "/");
  const padded = base64 + "=".repeat((4 - base64.length % 4) % 4);
  return Uint8Array.from(atob(padded), (char) => char.charCodeAt(0));
}
