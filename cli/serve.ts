/**
 * `miranda serve`: runs a node in the foreground until SIGTERM/SIGINT, then
 * shuts down gracefully within `shutdownTimeoutMs` (exit 0), or exits 1 when
 * the bound is passed or the root supervisor escalates.
 *
 * @module
 */

import { installProcessGuards } from "../actors/process_guards.ts";
import type { Config } from "../config/keys.ts";
import { createLogger, errorFields } from "../observability/logger.ts";
import { startNode } from "../node/node.ts";
import { say } from "./output.ts";

/** Runs the node; resolves with the process exit code. */
export async function serve(config: Config): Promise<number> {
  const log = createLogger({ level: config.logLevel });
  const exitCode = Promise.withResolvers<number>();
  const node = await startNode(config, {
    log,
    exit: (code, reason) => {
      log.error("exiting after escalation", { code, reason });
      exitCode.resolve(code);
    },
  });
  const removeGuards = installProcessGuards(log, node.registry);
  say(`Miranda listening on ${node.url}`);
  log.info("listening", { url: node.url, dataDir: config.dataDir });

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
