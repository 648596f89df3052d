/**
 * Helpers for the security end-to-end tests: a data directory made by the
 * real `miranda init` in a temporary root (removed on dispose), HTTPS
 * clients that trust its local CA, environments with and without a
 * passphrase, and small readers for problem+json and Prometheus text.
 *
 * @module
 */

import { request, runCommand, tempDir } from "../e2e/harness.ts";
import {
  decryptWithPrivateKey,
  tokenToBearer,
} from "../../identity/login_token.ts";

/** The passphrase the security e2e tests initialise with. */
export const E2E_PASSPHRASE = "e2e passphrase, not a secret";

/**
 * An environment with no passphrase source at all (empty counts as unset),
 * so a `serve` without a terminal starts sealed.
 */
export const NO_PASSPHRASE: Readonly<Record<string, string>> = Object.freeze({
  MIRANDA_PASSPHRASE: "",
  CREDENTIALS_DIRECTORY: "",
});

/** A data directory made by `miranda init`, with what init handed out. */
export interface InitialisedNode extends AsyncDisposable {
  /** Temporary root holding `data/`, the admin key, shares and passphrase file. */
  root: string;
  dataDir: string;
  passphrase: string;
  /** A file holding the passphrase (for `--passphrase-file`). */
  passphraseFile: string;
  adminKey: string;
  sharesFile: string;
  /** The shares as written by `--shares-out`. */
  shares: string[];
  /** What init printed on stdout. */
  stdout: string;
  /** An HTTPS client trusting this node's `ca.pem`; the caller closes it. */
  caClient(): Promise<Deno.HttpClient>;
}

/** Runs `miranda init` (passphrase from the environment) in a fresh temporary root. */
export async function initNode(
  options: { passphrase?: string; args?: string[]; umask?: number } = {},
): Promise<InitialisedNode> {
  const root = await tempDir();
  try {
    const passphrase = options.passphrase ?? E2E_PASSPHRASE;
    const dataDir = `${root}/data`;
    const adminKey = `${root}/admin-key.pem`;
    const sharesFile = `${root}/shares.txt`;
    const passphraseFile = `${root}/passphrase.txt`;
    const result = await runCommand("init", [
      "--data-dir",
      dataDir,
      "--admin-key-out",
      adminKey,
      "--shares-out",
      sharesFile,
      ...(options.args ?? []),
    ], {
      env: { ...NO_PASSPHRASE, MIRANDA_PASSPHRASE: passphrase },
      ...(options.umask !== undefined ? { umask: options.umask } : {}),
    });
    if (result.code !== 0) {
      throw new Error(
        `init failed (${result.code})\n${result.stdout}\n${result.stderr}`,
      );
    }
    await Deno.writeTextFile(passphraseFile, passphrase + "\n", {
      mode: 0o600,
    });
    const shares = (await Deno.readTextFile(sharesFile)).split("\n").filter(
      (line) => line !== "",
    );
    return {
      root,
      dataDir,
      passphrase,
      passphraseFile,
      adminKey,
      sharesFile,
      shares,
      stdout: result.stdout,
      caClient: async () =>
        Deno.createHttpClient({
          caCerts: [await Deno.readTextFile(`${dataDir}/ca.pem`)],
        }),
      [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }),
    };
  } catch (error) {
    await Deno.remove(root, { recursive: true });
    throw error;
  }
}

/** A JSON request through `client` (with a bearer `token` if given); the body is always consumed. */
export function call(
  client: Deno.HttpClient,
  url: string,
  options: { method?: string; body?: unknown; token?: string } = {},
): ReturnType<typeof request> {
  const headers = new Headers();
  if (options.token !== undefined) {
    headers.set("authorization", `Bearer ${options.token}`);
  }
  if (options.body !== undefined) {
    headers.set("content-type", "application/json");
  }
  return request(url, {
    client,
    method: options.method ?? (options.body === undefined ? "GET" : "POST"),
    headers,
    ...(options.body === undefined
      ? {}
      : { body: JSON.stringify(options.body) }),
  });
}

/**
 * Logs in as `admin` with the key init wrote (the node must be unsealed)
 * and returns the session bearer token.
 */
export async function adminToken(
  node: InitialisedNode,
  client: Deno.HttpClient,
  url: string,
): Promise<string> {
  const answer = await call(client, `${url}/api/v1/login`, {
    body: { user: "admin" },
  });
  if (answer.status !== 201) {
    throw new Error(`login failed (${answer.status}): ${answer.text}`);
  }
  const session = String((answer.json() as { session: unknown }).session);
  const token = await decryptWithPrivateKey(
    await Deno.readTextFile(node.adminKey),
    session,
  );
  return tokenToBearer(token);
}

/** Seals the node as `admin` (`token` from {@linkcode adminToken}). */
export function sealAsAdmin(
  client: Deno.HttpClient,
  url: string,
  token: string,
): ReturnType<typeof request> {
  return call(client, `${url}/api/v1/seal`, { method: "POST", token });
}

/** The problem+json body of a response, after checking its content type. */
export function problemOf(
  response: { headers: Headers; text: string },
): { type: string; status: number; detail?: string } {
  const type = response.headers.get("content-type");
  if (type !== "application/problem+json") {
    throw new Error(
      `expected application/problem+json, got ${type}: ${response.text}`,
    );
  }
  return JSON.parse(response.text);
}

/** The value of an unlabelled Prometheus sample, or undefined when absent. */
export function gauge(metrics: string, name: string): number | undefined {
  const match = new RegExp(`^${name} (\\S+)$`, "m").exec(metrics);
  return match ? Number(match[1]) : undefined;
}

/** Unix permission bits of `path`. */
export async function modeOf(path: string): Promise<number> {
  const mode = (await Deno.stat(path)).mode;
  if (mode === null) throw new Error(`no mode for ${path}`);
  return mode & 0o777;
}
