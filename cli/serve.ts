/**
 * `miranda serve` and `miranda start`: run a node in the foreground until
 * SIGTERM/SIGINT, then shut down gracefully within `shutdownTimeoutMs`
 * (exit 0), or exit 1 when the bound is passed or the root supervisor
 * escalates. `start` first initialises a missing data directory (the test
 * drive): on a terminal it asks for a passphrase; without one it generates a
 * passphrase, keeps it beside the data and says loudly that this is unfit
 * for production.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import {
  type FaultInjection,
  FaultInjectionConfigError,
  faultInjectionFromEnv,
} from "../actors/fault_injection.ts";
import { installProcessGuards } from "../actors/process_guards.ts";
import type { Config } from "../config/keys.ts";
import {
  createLogger,
  errorFields,
  type Logger,
} from "../observability/logger.ts";
import {
  generatePassphrase,
  promptPassphrase,
} from "../security/passphrase.ts";
import {
  dataDirLayout,
  isInitialised,
  writePrivateFile,
} from "../node/data_dir.ts";
import { initDataDir } from "../node/init.ts";
import {
  NotInitialisedError,
  startNode,
  WrongPassphraseAtStart,
} from "../node/node.ts";
import { type InitFlags, refuseSharesOut, reportInit } from "./init.ts";
import { complain, say } from "./output.ts";
import { findPassphrase, promptNewPassphrase } from "./passphrase.ts";

/** Runs the node; `init` set means `start` (initialise first if needed). Resolves with the exit code. */
export async function serve(
  config: Config,
  options: { init: InitFlags | null },
): Promise<number> {
  const log = createLogger({ level: config.logLevel });
  let faultInjection: FaultInjection | null;
  try {
    faultInjection = faultInjectionFromEnv((name) => Deno.env.get(name));
  } catch (error) {
    if (!(error instanceof FaultInjectionConfigError)) throw error;
    complain(`miranda: ${error.message}`);
    return 2;
  }
  if (faultInjection !== null) {
    log.warn(
      "FAULT INJECTION ON: actors panic on purpose; never in production",
      {
        panicRate: faultInjection.panicRate,
      },
    );
  }
  const layout = dataDirLayout(config.dataDir);
  // A first start unseals with the passphrase it initialised with: typed at
  // the prompt, it is not asked for a third time.
  let passphrase = options.init && !(await isInitialised(config.dataDir))
    ? await firstStart(config, options.init, log)
    : null;
  let typed = false;
  if (passphrase === null) {
    const found = await findPassphrase({
      passphraseFile: config.passphraseFile,
      prompt: true,
    });
    passphrase = found?.passphrase ?? null;
    typed = found?.source === "prompt";
  }
  if (passphrase === null && options.init) {
    passphrase = await readGenerated(layout.generatedPassphrase, log);
  }

  const exitCode = Promise.withResolvers<number>();
  let node;
  try {
    node = await startNode(config, {
      log,
      passphrase,
      ...(typed ? { retryPassphrase: askAgain() } : {}),
      faultInjection,
      exit: (code, reason) => {
        log.error("exiting after escalation", { code, reason });
        exitCode.resolve(code);
      },
    });
  } catch (error) {
    if (
      error instanceof NotInitialisedError ||
      error instanceof WrongPassphraseAtStart
    ) {
      complain(`miranda: ${error.message}`);
      return error instanceof NotInitialisedError ? 2 : 1;
    }
    throw error;
  }
  const removeGuards = installProcessGuards(log, node.registry);
  say(`Miranda listening on ${node.url}`);
  printWelcome(node.url, config, {
    sealed: node.vault.sealed,
    adminKey: existingFile(
      options.init?.adminKeyOut ??
        join(dirname(resolve(config.dataDir)), "admin-key.pem"),
    ),
  });
  log.info("listening", {
    url: node.url,
    dataDir: config.dataDir,
    sealed: node.vault.sealed,
  });

  const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
  const onSignal = () => {
    log.info("shutting down", { boundMs: config.shutdownTimeoutMs });
    const bound = setTimeout(() => {
      log.error("graceful shutdown exceeded its bound", {
        boundMs: config.shutdownTimeoutMs,
      });
      exitCode.resolve(1);
    }, config.shutdownTimeoutMs);
    node.shutdown().then(
      () => exitCode.resolve(0),
      (error) => {
        log.error("shutdown failed", errorFields(error));
        exitCode.resolve(1);
      },
    ).finally(() => clearTimeout(bound));
  };
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  const code = await exitCode.promise;
  for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
  removeGuards();
  log.info("stopped", { code });
  return code;
}

/** Times a passphrase typed at start is asked for in all before giving up. */
const START_PASSPHRASE_TRIES = 3;

/**
 * After a wrong passphrase typed at the terminal: says so and asks again,
 * up to {@linkcode START_PASSPHRASE_TRIES} entries in all (null then, or
 * when nothing is typed).
 */
function askAgain(): () => Promise<string | null> {
  let tries = 1;
  return async () => {
    if (tries >= START_PASSPHRASE_TRIES) return null;
    tries++;
    complain("That passphrase does not unlock this node's keys; try again.");
    return await promptPassphrase() || null;
  };
}

/** Initialises the data directory; resolves with the passphrase it used. */
async function firstStart(
  config: Config,
  flags: InitFlags,
  log: Logger,
): Promise<string> {
  const layout = dataDirLayout(config.dataDir);
  await refuseSharesOut(flags);
  const found = await findPassphrase({
    passphraseFile: config.passphraseFile,
    prompt: false,
  });
  let passphrase = found?.passphrase ??
    await promptNewPassphrase("Miranda passphrase");
  const generated = passphrase === null;
  passphrase ??= generatePassphrase();
  say(`Initialising the data directory ${config.dataDir} …`);
  const result = await initDataDir({
    dataDir: config.dataDir,
    passphrase,
    adminKeyOut: flags.adminKeyOut,
    tlsHosts: config.tlsHosts,
    shares: { threshold: flags.threshold, count: flags.count },
  });
  await reportInit(result, flags.sharesOut);
  if (generated) {
    await writePrivateFile(layout.generatedPassphrase, passphrase + "\n");
    const why = Deno.stdin.isTerminal()
      ? "no passphrase was given"
      : "no passphrase was given and there is no terminal";
    const warning = `WARNING: ${why}, so a passphrase was generated ` +
      `and stored in ${layout.generatedPassphrase}. Anyone who can read that file can decrypt the data: ` +
      `this is a test drive, unfit for production (see "miranda rekey").`;
    say(warning);
    log.warn(
      "generated passphrase stored beside the data: unfit for production",
      {
        path: layout.generatedPassphrase,
      },
    );
  }
  return passphrase;
}

async function readGenerated(
  path: string,
  log: Logger,
): Promise<string | null> {
  try {
    const text = (await Deno.readTextFile(path)).replace(/\r?\n$/, "");
    log.warn(
      "using the generated passphrase stored beside the data: unfit for production",
      { path },
    );
    return text;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

function printWelcome(
  url: string,
  config: Config,
  options: { sealed: boolean; adminKey: string | null },
): void {
  const layout = dataDirLayout(config.dataDir);
  const cacert = config.insecureHttp ? "" : `--cacert ${layout.caCert} `;
  if (!config.insecureHttp) say(`  Local CA certificate: ${layout.caCert}`);
  say(`  Check it: curl ${cacert}${url}/readyz`);
  if (options.sealed) {
    say(
      `  The node is SEALED (no passphrase found). Unseal it with the passphrase or shares:`,
    );
    say(
      `    curl ${cacert}-X POST ${url}/api/v1/unseal -H 'content-type: application/json' -d '{"passphrase":"…"}'`,
    );
  }
  if (options.adminKey !== null) {
    say(`  Admin key: ${options.adminKey}. Log in as admin:`);
    say(
      `    TOKEN=$(npx --yes deno@2.9.6 run -A mod.ts login --user admin --key ${options.adminKey} --url ${url}${
        config.insecureHttp ? "" : ` --cacert ${layout.caCert}`
      })`,
    );
    say(
      `    curl ${cacert}-H "authorization: Bearer $TOKEN" ${url}/api/v1/session`,
    );
  }
}

/** The admin key file `init` wrote, when it is still where the flags say. */
function existingFile(path: string | undefined): string | null {
  if (path === undefined) return null;
  try {
    return Deno.statSync(path).isFile ? path : null;
  } catch {
    return null;
  }
}
