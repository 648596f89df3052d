/**
 * The command line: `miranda <command> [flags]`. Dispatches to one module
 * per command and turns configuration errors into a clear message and exit
 * code 2.
 *
 * @module
 */

import { CONFIG_KEYS } from "../config/keys.ts";
import { ConfigError, loadConfig } from "../config/load.ts";
import { complain, say } from "./output.ts";
import { serve } from "./serve.ts";

/** The version printed by `miranda version`. */
export const VERSION = "0.1.0";

const USAGE = `Miranda ${VERSION} — a store-and-forward gateway for HTTP events

Usage: miranda <command> [flags]

Commands:
  start     serve, initialising the data directory first if it does not exist
  serve     run a node on an initialised data directory
  help      show this text
  version   show the version

Flags (each also MIRANDA_* in the environment, or a key in --config FILE):
${CONFIG_KEYS.map((k) => `  ${k.flag.padEnd(32)} ${k.doc}`).join("\n")}`;

/** Runs the command line; resolves with the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "serve":
      case "start": {
        const { config, rest: extra } = loadConfig({
          args: rest,
          env: Deno.env.toObject(),
        });
        if (extra.length > 0) {
          return usageError(`Unknown argument "${extra[0]}"`);
        }
        return await serve(config);
      }
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
    throw error;
  }
}

function usageError(message: string): number {
  complain(
    `miranda: ${message}\nRun "miranda help" for the commands and flags.`,
  );
  return 2;
}
