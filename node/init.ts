/**
 * `miranda init`: creates a data directory — the wrapped key hierarchy and
 * its Shamir shares, a local certificate authority and a node certificate,
 * the embedded store, and the first user `admin` whose private key is
 * written once to a file the operator names and never kept by Miranda.
 * Refuses to touch an existing data directory; every file is owner-only.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { generateUserKeyPair } from "../identity/keys.ts";
import {
  createKeyfile,
  type KdfCost,
  type ShareScheme,
  writeKeyfile,
} from "../security/keyfile.ts";
import { openSqliteStore } from "../store/sqlite/store.ts";
import { dataDirLayout, syncDirectory, writePrivateFile } from "./data_dir.ts";

/** Why `init` refused; the message is for the operator. */
export class InitError extends Error {
  override name = "InitError";
}

/** What `init` needs. */
export interface InitOptions {
  dataDir: string;
  passphrase: string;
  /** Where the admin's private key is written (must not exist). */
  adminKeyOut: string;
  tlsHosts: readonly string[];
  shares?: ShareScheme;
  kdf?: KdfCost;
}

/** What `init` made. */
export interface InitResult {
  shares: string[];
  threshold: number;
  caCert: string;
  adminKeyOut: string;
}

/** The name of the first user. */
export const ADMIN_USER = "admin";

/** The name of the sealed node secret holding the CA's private key. */
export const CA_KEY_SECRET = "ca-key";

/** Creates and fills a new data directory. */
export async function initDataDir(options: InitOptions): Promise<InitResult> {
  const layout = dataDirLayout(options.dataDir);
  await refuseNonEmptyDir(options.dataDir);
  await refuseOutputFile(options.adminKeyOut, "admin key file");
  await Deno.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  await Deno.chmod(options.dataDir, 0o700);
  await syncDirectory(dirname(resolve(options.dataDir)));

  const created = await createKeyfile(options.passphrase, {
    ...(options.shares ? { shares: options.shares } : {}),
    ...(options.kdf ? { kdf: options.kdf } : {}),
  });
  // Loaded here only: the X.509 library costs ~20 MB that a serving node never needs.
  const { createLocalCa, issueNodeCertificate } = await import(
    "../security/certs.ts"
  );
  const ca = await createLocalCa({
    commonName: "Miranda local CA",
    validityDays: 3650,
  });
  const node = await issueNodeCertificate(ca, {
    hosts: [...options.tlsHosts],
    validityDays: 825,
  });
  const admin = await generateUserKeyPair("RSA");

  await writeKeyfile(layout.keyfile, created.keyfile);
  await writePrivateFile(layout.caCert, ca.certPem);
  await writePrivateFile(layout.nodeCert, node.certPem);
  await writePrivateFile(layout.nodeKey, node.keyPem);
  await using store = openSqliteStore(layout.database, () => created.keyring);
  await store.secrets.put(CA_KEY_SECRET, new TextEncoder().encode(ca.keyPem));
  const now = new Date().toISOString();
  await store.users.create(
    {
      name: ADMIN_USER,
      roles: ["admin"],
      groups: [],
      emailHash: null,
      createdAt: now,
      version: 1,
    },
    {
      id: crypto.randomUUID(),
      userName: ADMIN_USER,
      publicKeyPem: admin.publicKeyPem,
      algorithm: "RSA",
      createdAt: now,
    },
  );
  await writePrivateFile(options.adminKeyOut, admin.privateKeyPem);
  created.keyring.wipe();
  return {
    shares: created.shares,
    threshold: created.keyfile.shares.threshold,
    caCert: layout.caCert,
    adminKeyOut: options.adminKeyOut,
  };
}

async function refuseNonEmptyDir(dir: string): Promise<void> {
  try {
    for await (const _ of Deno.readDir(dir)) {
      throw new InitError(
        `The data directory "${dir}" is not empty; init never overwrites`,
      );
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
}

/**
 * Refuses an output file that init could not write once the data directory
 * is made (it exists, or its directory does not), so a failure never leaves
 * an initialised data directory whose admin key or shares were lost.
 */
export async function refuseOutputFile(
  path: string,
  what: string,
): Promise<void> {
  await refuseExisting(path, what);
  try {
    if ((await Deno.stat(dirname(resolve(path)))).isDirectory) return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  throw new InitError(`The directory of the ${what} "${path}" does not exist`);
}

async function refuseExisting(path: string, what: string): Promise<void> {
  try {
    await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  throw new InitError(
    `The ${what} "${path}" already exists; init never overwrites`,
  );
}
