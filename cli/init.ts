/**
 * `miranda init`: creates a data directory. Non-interactive when the
 * passphrase comes from `--passphrase-file`, the systemd credential or
 * `MIRANDA_PASSPHRASE`; otherwise it asks twice on the terminal.
 *
 * Flags besides the configuration keys: `--admin-key-out FILE` (default
 * `admin-key.pem` beside the data directory), `--shares-out FILE` (default:
 * print the shares), `--share-threshold K`, `--share-count N` (3 of 5).
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import type { Config } from "../config/keys.ts";
import { ConfigError } from "../config/load.ts";
import { DEFAULT_SHARES } from "../security/keyfile.ts";
import {
  initDataDir,
  InitError,
  type InitResult,
  refuseOutputFile,
} from "../node/init.ts";
import { writePrivateFile } from "../node/data_dir.ts";
import { takeFlag, takeIntegerFlag } from "./flags.ts";
import { complain, say } from "./output.ts";
import { findPassphrase, promptNewPassphrase } from "./passphrase.ts";

/** The init-only options read from the command line. */
export interface InitFlags {
  adminKeyOut: string;
  sharesOut: string | undefined;
  threshold: number;
  count: number;
}

/** Takes the init-only flags out of `args`. */
export function takeInitFlags(args: string[], config: Config): InitFlags {
  const adminKeyOut = takeFlag(args, "--admin-key-out") ??
    join(dirname(resolve(config.dataDir)), "admin-key.pem");
  const sharesOut = takeFlag(args, "--shares-out");
  const threshold =
    takeIntegerFlag(args, "--share-threshold", { min: 2, max: 255 }) ??
      DEFAULT_SHARES.threshold;
  const count = takeIntegerFlag(args, "--share-count", { min: 2, max: 255 }) ??
    DEFAULT_SHARES.count;
  if (threshold > count) {
    throw new ConfigError(
      `"--share-threshold" (${threshold}) cannot exceed "--share-count" (${count})`,
      "shares",
    );
  }
  return { adminKeyOut, sharesOut, threshold, count };
}

/**
 * Refuses a `--shares-out` file that could not be written once the data
 * directory is made: the shares are shown once, so failing after init
 * would lose them.
 */
export async function refuseSharesOut(flags: InitFlags): Promise<void> {
  if (flags.sharesOut === undefined) return;
  if (resolve(flags.sharesOut) === resolve(flags.adminKeyOut)) {
    throw new InitError(
      `The shares file and the admin key file are the same file "${flags.sharesOut}"`,
    );
  }
  await refuseOutputFile(flags.sharesOut, "shares file");
}

/** Runs `miranda init`; resolves with the exit code. */
export async function init(config: Config, flags: InitFlags): Promise<number> {
  await refuseSharesOut(flags);
  const found = await findPassphrase({
    passphraseFile: config.passphraseFile,
    prompt: false,
  });
  const passphrase = found?.passphrase ??
    await promptNewPassphrase("Miranda passphrase");
  if (passphrase === null) {
    complain(
      "miranda: no passphrase: give --passphrase-file, MIRANDA_PASSPHRASE or the systemd credential, or run on a terminal",
    );
    return 2;
  }
  const result = await initDataDir({
    dataDir: config.dataDir,
    passphrase,
    adminKeyOut: flags.adminKeyOut,
    tlsHosts: config.tlsHosts,
    shares: { threshold: flags.threshold, count: flags.count },
  });
  await reportInit(result, flags.sharesOut);
  return 0;
}

/** Prints (or writes) what the operator must keep: shares, admin key, CA. */
export async function reportInit(
  result: InitResult,
  sharesOut: string | undefined,
): Promise<void> {
  say(`Initialised the data directory.`);
  say(
    `  Admin private key (keep it safe; Miranda does not keep it): ${result.adminKeyOut}`,
  );
  say(`  Local CA certificate (trust it in clients): ${result.caCert}`);
  if (sharesOut !== undefined) {
    await writePrivateFile(sharesOut, result.shares.join("\n") + "\n");
    say(
      `  ${result.shares.length} unseal shares (any ${result.threshold} unseal) written to ${sharesOut}`,
    );
  } else {
    say(
      `  Unseal shares — any ${result.threshold} of ${result.shares.length} unseal the node. Shown once; hand each to a different person:`,
    );
    for (const share of result.shares) say(`    ${share}`);
  }
}
