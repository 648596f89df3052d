/**
 * Helpers for the identity end-to-end tests: a node started by the real
 * `miranda start` over plain HTTP with its admin key read back, a small JSON
 * API client that keeps the request id and problem body, the client half of
 * the login dance, client assertions signed with `jose`, and users created
 * with fresh key pairs.
 *
 * @module
 */

import assert from "node:assert/strict";
import { dirname } from "node:path";
import { importPKCS8, type JWTPayload, SignJWT } from "jose";
import { request, type ServerProcess, startServer } from "../e2e/harness.ts";
import {
  generateUserKeyPair,
  type UserKeyAlgorithm,
  type UserKeyPairPem,
} from "../../identity/keys.ts";
import {
  decryptWithPrivateKey,
  tokenToBearer,
} from "../../identity/login_token.ts";

/** A node for identity tests, with its admin's private key. */
export interface IdentityNode extends AsyncDisposable {
  server: ServerProcess;
  url: string;
  /** The PKCS#8 PEM `miranda start` wrote beside the data directory. */
  adminKeyPem: string;
}

/**
 * Starts `miranda start --insecure-http` with `args`. Unless `args` sets it,
 * the failure limit is raised so tests that log in often are not throttled.
 */
export async function startIdentityNode(
  args: string[] = [],
): Promise<IdentityNode> {
  const limit = args.includes("--auth-failures-per-minute")
    ? []
    : ["--auth-failures-per-minute", "100000"];
  const server = await startServer({
    args: ["--insecure-http", ...limit, ...args],
  });
  const adminKeyPem = await Deno.readTextFile(
    `${dirname(server.dataDir)}/admin-key.pem`,
  );
  return {
    server,
    url: server.url,
    adminKeyPem,
    [Symbol.asyncDispose]: async () => {
      await server.stop("SIGKILL");
      await Deno.remove(dirname(server.dataDir), { recursive: true }).catch(
        () => {},
      );
    },
  };
}

/** An HTTP answer with its body read. */
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body (null when empty). */
  body: Record<string, unknown> & { [key: string]: unknown };
  /** The `x-request-id` header. */
  requestId: string;
  contentType: string;
}

/** Options of {@linkcode call}. */
export interface CallOptions {
  bearer?: string;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as is, with a JSON content type (for malformed bodies). */
  raw?: string;
  headers?: Record<string, string>;
}

/** One request to the node; the body is always consumed. */
export async function call(
  url: string,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.bearer !== undefined) {
    headers["authorization"] = `Bearer ${options.bearer}`;
  }
  let body: string | undefined;
  if (options.json !== undefined || options.raw !== undefined) {
    headers["content-type"] = "application/json";
    body = options.raw ?? JSON.stringify(options.json);
  }
  const res = await request(`${url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  let parsed: Record<string, unknown> = {};
  if (res.text !== "") {
    try {
      parsed = res.json() as Record<string, unknown>;
    } catch {
      parsed = {};
    }
  }
  return {
    status: res.status,
    headers: res.headers,
    text: res.text,
    body: parsed,
    requestId: res.headers.get("x-request-id") ?? "",
    contentType: res.headers.get("content-type") ?? "",
  };
}

/** Asserts a problem+json answer with `status`; returns it. */
export function assertProblem(
  answer: Answer,
  status: number,
  message = "",
): Answer {
  assert.equal(
    answer.status,
    status,
    `${message} expected ${status}, got ${answer.status}: ${answer.text}`,
  );
  assert.equal(
    answer.contentType,
    "application/problem+json",
    `${message} ${answer.text}`,
  );
  assert.equal(answer.body["status"], status, answer.text);
  assert.equal(answer.body["requestId"], answer.requestId, answer.text);
  return answer;
}

/** `POST /api/v1/login`, decrypt with `privateKeyPem`, and return the bearer token. */
export async function login(
  url: string,
  user: string,
  privateKeyPem: string,
): Promise<string> {
  const answer = await call(url, "POST", "/api/v1/login", { json: { user } });
  assert.equal(answer.status, 201, answer.text);
  const token = await decryptWithPrivateKey(
    privateKeyPem,
    String(answer.body["session"]),
  );
  return tokenToBearer(token);
}

/** What {@linkcode signAssertion} signs: defaults make a valid assertion for `user`. */
export interface AssertionOptions {
  user: string;
  privateKeyPem: string;
  alg: "RS256" | "EdDSA";
  audience?: string;
  /** Overrides `iss` (default `user`). */
  issuer?: string;
  /** Overrides `sub` (default `user`). */
  subject?: string;
  /** Seconds relative to now. */
  iat?: number;
  exp?: number;
  nbf?: number;
  jti?: string;
  kid?: string;
  claims?: JWTPayload;
}

/** Signs a client assertion with `jose` (valid unless options spoil it). */
export async function signAssertion(
  options: AssertionOptions,
): Promise<string> {
  const key = await importPKCS8(options.privateKeyPem, options.alg);
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ ...options.claims })
    .setProtectedHeader({
      alg: options.alg,
      ...(options.kid !== undefined ? { kid: options.kid } : {}),
    })
    .setIssuer(options.issuer ?? options.user)
    .setSubject(options.subject ?? options.user)
    .setAudience(options.audience ?? "miranda")
    .setIssuedAt(now + (options.iat ?? 0))
    .setExpirationTime(now + (options.exp ?? 120))
    .setJti(options.jti ?? crypto.randomUUID());
  if (options.nbf !== undefined) jwt.setNotBefore(now + options.nbf);
  return await jwt.sign(key);
}

/** An unsigned (`alg: none`) JWT with the claims of a valid assertion. */
export function unsignedAssertion(user: string): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (value: unknown) =>
    new TextEncoder().encode(JSON.stringify(value)).toBase64({
      alphabet: "base64url",
      omitPadding: true,
    });
  return `${part({ alg: "none", typ: "JWT" })}.${
    part({
      iss: user,
      sub: user,
      aud: "miranda",
      iat: now,
      exp: now + 120,
      jti: crypto.randomUUID(),
    })
  }.`;
}

/** `POST /api/v1/token` with `assertion` (and `scope`). */
export function exchange(
  url: string,
  assertion: string,
  scope?: string,
): Promise<Answer> {
  return call(url, "POST", "/api/v1/token", {
    json: { assertion, ...(scope !== undefined ? { scope } : {}) },
  });
}

/** A user made through the API, with its key pair. */
export interface TestUser extends UserKeyPairPem {
  name: string;
  algorithm: UserKeyAlgorithm;
}

/** Creates `name` (admin call) with a fresh key pair; asserts 201. */
export async function createUser(
  url: string,
  adminBearer: string,
  name: string,
  options: {
    algorithm?: UserKeyAlgorithm;
    modulusBits?: number;
    roles?: string[];
    groups?: string[];
    email?: string;
  } = {},
): Promise<TestUser> {
  const algorithm = options.algorithm ?? "RSA";
  const pair = await generateUserKeyPair(algorithm, {
    modulusBits: options.modulusBits ?? 2048,
  });
  const answer = await call(url, "POST", "/api/v1/users", {
    bearer: adminBearer,
    json: {
      name,
      publicKey: pair.publicKeyPem,
      roles: options.roles ?? [],
      groups: options.groups ?? [],
      ...(options.email !== undefined ? { email: options.email } : {}),
    },
  });
  assert.equal(answer.status, 201, answer.text);
  return { name, algorithm, ...pair };
}

/** An admin access token for `user` through the JWT exchange. */
export async function accessToken(
  url: string,
  user: TestUser | { name: string; privateKeyPem: string; algorithm: "RSA" },
  scope?: string,
): Promise<string> {
  const assertion = await signAssertion({
    user: user.name,
    privateKeyPem: user.privateKeyPem,
    alg: user.algorithm === "RSA" ? "RS256" : "EdDSA",
  });
  const answer = await exchange(url, assertion, scope);
  assert.equal(answer.status, 200, answer.text);
  return String(answer.body["access_token"]);
}
