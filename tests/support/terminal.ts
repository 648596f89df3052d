/**
 * Runs a command on a real pseudo-terminal (through util-linux `script`), so
 * that tests can answer its prompts as a person at a terminal would: what is
 * typed goes through the terminal's line discipline (echo, raw mode, Ctrl-C
 * as SIGINT) exactly as from a keyboard.
 *
 * @module
 */

/** A command running on a pseudo-terminal. */
export interface Terminal extends AsyncDisposable {
  /** Everything the terminal showed so far (the command's stdout and stderr, and any echo). */
  output(): string;
  /** Resolves once the output matches `pattern` after `from` characters; rejects after `timeoutMs`. */
  waitFor(
    pattern: RegExp,
    options?: { from?: number; timeoutMs?: number },
  ): Promise<RegExpExecArray>;
  /** Types `text` at the terminal (`\r` is Enter, `\x03` is Ctrl-C). */
  type(text: string): Promise<void>;
  /** The command's exit status (`script -e` passes it on). */
  status: Promise<Deno.CommandStatus>;
}

/** Starts `program args…` on a new pseudo-terminal with exactly `env`. */
export function openTerminal(
  program: string,
  args: string[],
  env: Record<string, string>,
): Terminal {
  const quoted = [program, ...args].map((word) =>
    `'${word.replaceAll("'", `'\\''`)}'`
  ).join(" ");
  const child = new Deno.Command("script", {
    // `exec`: the shell `script` runs the command with must not stay between
    // the terminal and the command (it would take the Ctrl-C as its own).
    args: [
      "--quiet",
      "--flush",
      "--return",
      "--command",
      `exec ${quoted}`,
      "/dev/null",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env,
  }).spawn();
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  let shown = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of child.stdout) {
      shown += decoder.decode(chunk, { stream: true });
    }
  })();
  const errors = new Response(child.stderr).text();
  const status = child.status.then(async (status) => {
    await reading;
    shown += await errors;
    return status;
  });
  let exited = false;
  void status.then(() => (exited = true));
  return {
    output: () => shown,
    async waitFor(pattern, options = {}) {
      const deadline = Date.now() + (options.timeoutMs ?? 60_000);
      for (;;) {
        const match = pattern.exec(shown.slice(options.from ?? 0));
        if (match) return match;
        if (exited || Date.now() > deadline) {
          throw new Error(
            `${
              exited ? "The command exited" : "Timed out"
            } before ${pattern}; the terminal showed:\n${shown}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    type: (text) => writer.write(encoder.encode(text)),
    status,
    async [Symbol.asyncDispose]() {
      if (!exited) {
        try {
          child.kill("SIGKILL");
        } catch { /* exited meanwhile */ }
      }
      await status;
      await writer.close().catch(() => {});
    },
  };
}
