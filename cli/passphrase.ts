/**
 * How the command line finds the passphrase: `--passphrase-file`, the
 * systemd credential, `MIRANDA_PASSPHRASE`, then a prompt on a terminal.
 *
 * @module
 */

import {
  PassphraseSourceError,
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

/** Times a differing repeat of a new passphrase is asked again before giving up. */
const NEW_PASSPHRASE_TRIES = 3;

/**
 * Asks for a new passphrase and its repeat on the terminal, again when the
 * two differ (up to three times). Null when there is no terminal or nothing
 * was typed (Enter or Ctrl-C at the first question); throws
 * {@linkcode PassphraseSourceError} when the entries differed every time.
 */
export async function promptNewPassphrase(
  what: string,
): Promise<string | null> {
  if (!Deno.stdin.isTerminal()) return null;
  for (let attempt = 1; attempt <= NEW_PASSPHRASE_TRIES; attempt++) {
    const first = await promptPassphrase(`New ${what}: `);
    if (!first) return null;
    const second = await promptPassphrase(`Repeat the new ${what}: `);
    if (first === second) return first;
    await Deno.stderr.write(
      new TextEncoder().encode("The two entries differ; try again.\n"),
    );
  }
  throw new PassphraseSourceError(
    `The two entries of the new ${what} differed ${NEW_PASSPHRASE_TRIES} times; nothing was changed`,
    { source: "prompt" },
  );
}
