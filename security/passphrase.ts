/**
 * Where the operator's passphrase comes from at start-up, first found wins:
 * `--passphrase-file`, the systemd credential `miranda-passphrase`,
 * `MIRANDA_PASSPHRASE`, then a prompt on the terminal (only when stdin is a
 * TTY). Also generates a strong passphrase for an unattended first start.
 *
 * @module
 */

/** Where a passphrase was found. */
export type PassphraseSource = "file" | "credential" | "env" | "prompt";

/** A passphrase and its origin (log the source, never the passphrase). */
export interface ResolvedPassphrase {
  /** Where it came from. */
  source: PassphraseSource;
  /** The passphrase, one trailing newline removed. */
  passphrase: string;
}

/** Asks for a passphrase; resolves null when the user gives none. */
export type PromptFn = () => Promise<string | null>;

/** Name of the systemd credential (`LoadCredential=miranda-passphrase:…`). */
export const CREDENTIAL_NAME = "miranda-passphrase";

/** Environment variable holding the passphrase. */
export const PASSPHRASE_ENV = "MIRANDA_PASSPHRASE";

/** A named passphrase source exists but cannot be used. */
export class PassphraseSourceError extends Error {
  /** The source that failed. */
  readonly source: PassphraseSource;
  /** The file involved, if any. */
  readonly path: string | null;

  /** Builds the error. */
  constructor(
    message: string,
    options: { source: PassphraseSource; path?: string; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = "PassphraseSourceError";
    this.source = options.source;
    this.path = options.path ?? null;
  }
}

function trimOneNewline(text: string): string {
  if (text.endsWith("\r\n")) return text.slice(0, -2);
  if (text.endsWith("\n")) return text.slice(0, -1);
  return text;
}

/** Reads a passphrase file; null only when `optional` and it does not exist. */
async function readPassphraseFile(
  path: string,
  options: { source: PassphraseSource; optional: boolean },
): Promise<string | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (options.optional && error instanceof Deno.errors.NotFound) return null;
    throw new PassphraseSourceError(
      `Cannot read passphrase file "${path}": ${
        error instanceof Error ? error.message : String(error)
      }`,
      { source: options.source, path, cause: error },
    );
  }
  const passphrase = trimOneNewline(text);
  if (passphrase === "") {
    throw new PassphraseSourceError(`Passphrase file "${path}" is empty`, {
      source: options.source,
      path,
    });
  }
  return passphrase;
}

/**
 * Finds the passphrase. `env` is passed in (e.g. `Deno.env.toObject()`) so
 * tests can inject it; `credentialsDir` defaults to
 * `env.CREDENTIALS_DIRECTORY`. `prompt` defaults to
 * {@link promptPassphrase} when stdin is a terminal; `null` disables it.
 * Resolves null when no source has one. An explicit `passphraseFile` that
 * is missing or empty throws {@link PassphraseSourceError}; so does an
 * empty credential. An empty environment variable counts as unset.
 */
export async function resolvePassphrase(options: {
  passphraseFile?: string;
  env: Record<string, string | undefined>;
  credentialsDir?: string;
  prompt?: PromptFn | null;
}): Promise<ResolvedPassphrase | null> {
  if (options.passphraseFile !== undefined) {
    const passphrase = await readPassphraseFile(options.passphraseFile, {
      source: "file",
      optional: false,
    });
    return { source: "file", passphrase: passphrase! };
  }
  const credentialsDir = options.credentialsDir ??
    options.env.CREDENTIALS_DIRECTORY;
  if (credentialsDir !== undefined && credentialsDir !== "") {
    const passphrase = await readPassphraseFile(
      `${credentialsDir}/${CREDENTIAL_NAME}`,
      { source: "credential", optional: true },
    );
    if (passphrase !== null) return { source: "credential", passphrase };
  }
  const fromEnv = options.env[PASSPHRASE_ENV];
  if (fromEnv !== undefined && fromEnv !== "") {
    return { source: "env", passphrase: fromEnv };
  }
  const prompt = options.prompt === undefined
    ? (Deno.stdin.isTerminal() ? () => promptPassphrase() : null)
    : options.prompt;
  if (prompt === null) return null;
  const typed = await prompt();
  return typed === null || typed === ""
    ? null
    : { source: "prompt", passphrase: typed };
}

const CTRL_C = 0x03;
const CTRL_D = 0x04;
const BACKSPACE = 0x08;
const DELETE = 0x7f;
const LF = 0x0a;
const CR = 0x0d;

/**
 * Reads a passphrase from the terminal without echo (raw mode), writing
 * `message` to stderr. Enter finishes; Backspace deletes one character;
 * Ctrl-C or Ctrl-D on an empty line resolves null. Raw mode is always
 * restored.
 */
export async function promptPassphrase(
  message = "Miranda passphrase: ",
): Promise<string | null> {
  const encoder = new TextEncoder();
  // Echo goes off before the prompt shows: what is typed (or pasted) the
  // moment it appears must not be echoed.
  Deno.stdin.setRaw(true);
  const typed: number[] = [];
  const chunk = new Uint8Array(64);
  try {
    await Deno.stderr.write(encoder.encode(message));
    for (;;) {
      const n = await Deno.stdin.read(chunk);
      if (n === null) return null;
      for (const byte of chunk.subarray(0, n)) {
        if (byte === CR || byte === LF) {
          return new TextDecoder().decode(new Uint8Array(typed));
        }
        if (byte === CTRL_C || (byte === CTRL_D && typed.length === 0)) {
          return null;
        }
        if (byte === BACKSPACE || byte === DELETE) {
          // Drop one UTF-8 character: continuation bytes, then its lead byte.
          while (typed.length > 0 && (typed.at(-1)! & 0xc0) === 0x80) {
            typed.pop();
          }
          typed.pop();
        } else if (byte >= 0x20 || byte === 0x09) {
          typed.push(byte);
        }
      }
    }
  } finally {
    chunk.fill(0);
    typed.fill(0);
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(encoder.encode("\n"));
  }
}

/** A strong random passphrase: 32 random bytes, base64url (43 characters). */
export function generatePassphrase(): string {
  return crypto.getRandomValues(new Uint8Array(32)).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
}
