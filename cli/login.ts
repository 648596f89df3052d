/**
 * `miranda login` and `miranda token`: the client side of Miranda's two
 * ways in, for people with curl. `login` asks for a session, decrypts it
 * with the user's private key and prints the bearer token; `token` signs a
 * short JWT assertion with the private key and exchanges it for an access
 * token.
 *
 * Flags: `--user NAME`, `--key FILE` (PKCS#8 PEM), `--url URL` (default
 * `https://127.0.0.1:8443`), `--cacert FILE` (default `<data-dir>/ca.pem`
 * when it exists), `--out FILE` (write the token there, 0600, instead of
 * printing it), and for `token`: `--scope "a b"`, `--audience AUD`.
 *
 * @module
 */

import { importPKCS8, SignJWT } from "jose";
import {
  decryptWithPrivateKey,
  tokenToBearer,
} from "../identity/login_token.ts";
import { takeFlag } from "./flags.ts";
import { complain, say } from "./output.ts";

/** The client flags, taken out of the argument list. */
export interface ClientFlags {
  user: string;
  keyFile: string;
  url: string;
  cacert: string | undefined;
  out: string | undefined;
  scope: string | undefined;
  audience: string;
}

/** Takes the client flags out of `args`; null when a required one is missing. */
export function takeClientFlags(
  args: string[],
  dataDir: string,
): ClientFlags | null {
  const user = takeFlag(args, "--user");
  const keyFile = takeFlag(args, "--key");
  const url = takeFlag(args, "--url") ?? "https://127.0.0.1:8443";
  const cacert = takeFlag(args, "--cacert") ?? defaultCa(dataDir);
  const out = takeFlag(args, "--out");
  const scope = takeFlag(args, "--scope");
  const audience = takeFlag(args, "--audience") ?? "miranda";
  if (user === undefined || keyFile === undefined) return null;
  return {
    user,
    keyFile,
    url: url.replace(/\/+$/, ""),
    cacert,
    out,
    scope,
    audience,
  };
}

function defaultCa(dataDir: string): string | undefined {
  try {
    Deno.statSync(`${dataDir}/ca.pem`);
    return `${dataDir}/ca.pem`;
  } catch {
    return undefined;
  }
}

/** Runs `miranda login`. */
export async function loginCommand(flags: ClientFlags): Promise<number> {
  const privateKey = await Deno.readTextFile(flags.keyFile);
  const answer = await post(flags, "/api/v1/login", { user: flags.user });
  if (!answer.ok) return failed(answer.body);
  const token = await decryptWithPrivateKey(
    privateKey,
    String(answer.body["session"]),
  );
  return await emit(
    flags,
    tokenToBearer(token),
    `session until ${answer.body["expiresAt"]}`,
  );
}

/** Runs `miranda token`. */
export async function tokenCommand(flags: ClientFlags): Promise<number> {
  const pem = await Deno.readTextFile(flags.keyFile);
  const { alg, key } = await signingKey(pem);
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg })
    .setIssuer(flags.user)
    .setSubject(flags.user)
    .setAudience(flags.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + 120)
    .setJti(crypto.randomUUID())
    .sign(key);
  const answer = await post(flags, "/api/v1/token", {
    assertion,
    ...(flags.scope !== undefined ? { scope: flags.scope } : {}),
  });
  if (!answer.ok) return failed(answer.body);
  return await emit(
    flags,
    String(answer.body["access_token"]),
    `scope "${answer.body["scope"]}"`,
  );
}

/** The private key for the assertion: Ed25519 (EdDSA) or RSA (RS256). */
async function signingKey(
  pem: string,
): Promise<{ alg: "EdDSA" | "RS256"; key: CryptoKey }> {
  try {
    return { alg: "EdDSA", key: await importPKCS8(pem, "EdDSA") };
  } catch {
    return { alg: "RS256", key: await importPKCS8(pem, "RS256") };
  }
}

async function post(
  flags: ClientFlags,
  path: string,
  body: unknown,
): Promise<{ ok: boolean; body: Record<string, unknown> }> {
  const client = flags.cacert
    ? Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(flags.cacert)],
    })
    : undefined;
  try {
    const res = await fetch(`${flags.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      ...(client ? { client } : {}),
    });
    return { ok: res.ok, body: await res.json() };
  } finally {
    client?.close();
  }
}

async function emit(
  flags: ClientFlags,
  token: string,
  what: string,
): Promise<number> {
  if (flags.out !== undefined) {
    await Deno.writeTextFile(flags.out, token + "\n", { mode: 0o600 });
    await Deno.chmod(flags.out, 0o600);
    say(`Token (${what}) written to ${flags.out}`);
  } else {
    say(token);
  }
  return 0;
}

function failed(body: Record<string, unknown>): number {
  complain(`miranda: ${body["detail"] ?? JSON.stringify(body)}`);
  return 1;
}
