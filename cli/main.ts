/**
 * The command line: `miranda <command> [flags]`. Dispatches to one module
 * per command and turns expected failures (bad configuration, a wrong
 * passphrase, an existing data directory) into a clear message and a
 * non-zero exit code instead of a stack trace.
 *
 * @module
 */

import { CONFIG_KEYS } from "../config/keys.ts";
import { ConfigError, loadConfig } from "../config/load.ts";
import { InitError } from "../node/init.ts";
import {
  KeyfileFormatError,
  WeakPassphraseError,
  WrongPassphraseError,
} from "../security/keyfile.ts";
import { PassphraseSourceError } from "../security/passphrase.ts";
import { takeFlag, takeSwitch } from "./flags.ts";
import { init, takeInitFlags } from "./init.ts";
import { rekeyCommand, rotateDataKeyCommand } from "./key_commands.ts";
import { loginCommand, takeClientFlags, tokenCommand } from "./login.ts";
import { complain, say } from "./output.ts";
import { serve } from "./serve.ts";

/** The version printed by `miranda version`. */
export const VERSION = "0.1.0";

const USAGE = `Miranda ${VERSION} — a store-and-forward gateway for HTTP events

Usage: miranda <command> [flags]

Commands:
  start             serve, initialising the data directory first if it does not exist
  serve             run a node on an initialised data directory
  init              create a data directory: keys, shares, local CA, the admin user
                      [--admin-key-out FILE] [--shares-out FILE]
                      [--share-threshold K] [--share-count N]
  rekey             change the passphrase [--new-passphrase-file FILE]
  rotate-data-key   new data key for new writes; re-encrypt old records [--resume]
  login             log in: print a session token for curl
                      --user NAME --key FILE [--url URL] [--cacert FILE] [--out FILE]
  token             exchange a signed JWT assertion for an access token
                      --user NAME --key FILE [--scope "a b"] [--url URL] [--cacert FILE] [--out FILE]
  help              show this text
  version           show the version

Flags (each also MIRANDA_* in the environment, or a key in --config FILE):
${CONFIG_KEYS.map((k) => `  ${k.flag.padEnd(32)} ${k.doc}`).join("\n")}`;

/** Runs the command line; resolves with the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "serve":
      case "start":
      case "init":
      case "rekey":
      case "rotate-data-key":
      case "login":
      case "token":
        return await run(command, rest);
      case "version":
      case "--version":
        say(VERSION);
        return 0;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        say(USAGE);
        return 0;
      default:
        return usageError(`Unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      complain(`miranda: ${error.message}`);
      return 2;
    }
    if (
      error instanceof InitError || error instanceof WrongPassphraseError ||
      error instanceof WeakPassphraseError ||
      error instanceof PassphraseSourceError ||
      error instanceof KeyfileFormatError
    ) {
      complain(`miranda: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

async function run(command: string, args: readonly string[]): Promise<number> {
  const { config, rest } = loadConfig({ args, env: Deno.env.toObject() });
  const initFlags = command === "init" || command === "start"
    ? takeInitFlags(rest, config)
    : null;
  const newPassphraseFile = command === "rekey"
    ? takeFlag(rest, "--new-passphrase-file")
    : undefined;
  const resume = command === "rotate-data-key" && takeSwitch(rest, "--resume");
  const client = command === "login" || command === "token"
    ? takeClientFlags(rest, config.dataDir)
    : null;
  if ((command === "login" || command === "token") && client === null) {
    return usageError(`"${command}" needs --user NAME and --key FILE`);
  }
  if (rest.length > 0) return usageError(`Unknown argument "${rest[0]}"`);
  switch (command) {
    case "init":
      return await init(config, initFlags!);
    case "serve":
    case "start":
      return await serve(config, { init: initFlags });
    case "rekey":
      return await rekeyCommand(config, { newPassphraseFile });
    case "login":
      return await loginCommand(client!);
    case "token":
      return await tokenCommand(client!);
    default:
      return await rotateDataKeyCommand(config, { resume });
  }
}

function usageError(message: string): number {
  complain(
    `miranda: ${message}\nRun "miranda help" for the commands and flags.`,
  );
  return 2;
}
