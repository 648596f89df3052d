/**
 * How the command line finds the passphrase: `--passphrase-file`, the
 * systemd credential, `MIRANDA_PASSPHRASE`, then a prompt on a terminal.
 *
 * @module
 */

import {
  promptPassphrase,
  type ResolvedPassphrase,
  resolvePassphrase,
} from "../security/passphrase.ts";

/**
 * Resolves the passphrase; null when no source has one. The terminal prompt
 * is used only when `prompt` is set and stdin is a terminal.
 */
export function findPassphrase(
  options: { passphraseFile: string | null; prompt: boolean },
): Promise<ResolvedPassphrase | null> {
  return resolvePassphrase({
    ...(options.passphraseFile !== null
      ? { passphraseFile: options.passphraseFile }
      : {}),
    env: Deno.env.toObject(),
    prompt: options.prompt && Deno.stdin.isTerminal()
      ? () => promptPassphrase()
      : null,
  });
}

/** Asks for a new passphrase twice on the terminal; null when they differ or there is no terminal. */
export async function promptNewPassphrase(
  what: string,
): Promise<string | null> {
  if (!Deno.stdin.isTerminal()) return null;
  const first = await promptPassphrase(`New ${what}: `);
  if (!first) return null;
  const second = await promptPassphrase(`Repeat the new ${what}: `);
  return first === second ? first : null;
}
