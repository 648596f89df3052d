/**
 * Starts the real binary (`deno run mod.ts <command>`) on a free port with a
 * fresh data directory, for tests that need processes, sockets and crashes.
 *
 * @module
 */

import { fileURLToPath as fromFileUrl } from "node:url";

const ROOT = fromFileUrl(new URL("../../", import.meta.url));
const MOD = fromFileUrl(new URL("../../mod.ts", import.meta.url));

/** The passphrase test servers are started with (through `MIRANDA_PASSPHRASE`). */
export const TEST_PASSPHRASE = "test passphrase, not secret";

/** A server process started by {@linkcode startServer}. */
export interface ServerProcess extends AsyncDisposable {
  url: string;
  dataDir: string;
  child: Deno.ChildProcess;
  /** Everything the process wrote to stdout so far. */
  stdout(): string;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Sends `signal` and waits for the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Options of {@linkcode startServer}. */
export interface StartOptions {
  command?: "serve" | "start";
  args?: string[];
  env?: Record<string, string>;
  /** Reuse a data directory (for restarts); a fresh temporary one otherwise. */
  dataDir?: string;
  /** Text on stdout that means the server is up; the URL is read from it. */
  readyPattern?: RegExp;
  stdin?: "null" | "piped";
  /** Run the child under this umask (e.g. `0o000` to prove modes are set explicitly). */
  umask?: number;
  /** Run the child with at most this many open files (`ulimit -n`, soft and hard). */
  maxOpenFiles?: number;
}

/** Makes a temporary directory that the caller removes. */
export function tempDir(): Promise<string> {
  return Deno.makeTempDir({ prefix: "miranda-test-" });
}

/** Starts `mod.ts` as a child process and waits for its listening line. */
export async function startServer(
  options: StartOptions = {},
): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? `${await tempDir()}/data`;
  const [program, { args }] = commandLine(options, [
    "run",
    "--allow-all",
    MOD,
    options.command ?? "start",
    "--listen",
    "127.0.0.1:0",
    "--data-dir",
    dataDir,
    ...(options.args ?? []),
  ]);
  const command = new Deno.Command(program, {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1", MIRANDA_PASSPHRASE: TEST_PASSPHRASE, ...options.env },
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
  });
  const child = command.spawn();
  let out = "";
  let err = "";
  const pattern = options.readyPattern ?? /Miranda listening on (\S+)/;
  const ready = Promise.withResolvers<string>();
  const decoder = new TextDecoder();
  const pump = async (
    stream: ReadableStream<Uint8Array>,
    onText: (t: string) => void,
  ) => {
    for await (const chunk of stream) {
      onText(decoder.decode(chunk, { stream: true }));
    }
  };
  const pumps = Promise.all([
    pump(child.stdout, (t) => {
      out += t;
      const match = pattern.exec(out);
      if (match) ready.resolve(match[1]!);
    }),
    pump(child.stderr, (t) => (err += t)),
  ]);
  const status = child.status;
  status.then((s) =>
    ready.reject(
      new Error(`server exited early (code ${s.code})\n${out}\n${err}`),
    )
  );
  const timer = setTimeout(
    () =>
      ready.reject(new Error(`server did not start in time\n${out}\n${err}`)),
    30_000,
  );
  let url: string;
  try {
    url = await ready.promise;
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await status;
    await pumps;
    throw error;
  } finally {
    clearTimeout(timer);
  }
  let stopped: Promise<Deno.CommandStatus> | undefined;
  const stop = (signal: Deno.Signal = "SIGTERM") => {
    stopped ??= (async () => {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      const s = await status;
      await pumps;
      return s;
    })();
    return stopped;
  };
  return {
    url,
    dataDir,
    child,
    stdout: () => out,
    stderr: () => err,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop("SIGKILL");
      // A temporary data directory made here is removed with its root.
      if (options.dataDir === undefined) {
        await Deno.remove(dataDir.slice(0, -"/data".length), {
          recursive: true,
        }).catch(() => {});
      }
    },
  };
}

/** Fetches and always consumes the body, so no resource leaks. */
export async function request(
  url: string,
  init: RequestInit & { client?: Deno.HttpClient } = {},
): Promise<
  { status: number; headers: Headers; text: string; json: () => unknown }
> {
  const res = await fetch(url, init);
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    json: () => JSON.parse(text),
  };
}

/** `[program, { args }]` for `deno <args>`, under `sh -c 'umask …; ulimit -n …; exec'` when either is asked for. */
function commandLine(
  limits: { umask?: number | undefined; maxOpenFiles?: number | undefined },
  args: string[],
): [string, { args: string[] }] {
  const setup: string[] = [];
  if (limits.umask !== undefined) {
    setup.push(`umask ${limits.umask.toString(8).padStart(3, "0")}`);
  }
  if (limits.maxOpenFiles !== undefined) {
    setup.push(`ulimit -n ${limits.maxOpenFiles}`);
  }
  if (setup.length === 0) return [Deno.execPath(), { args }];
  return ["/bin/sh", {
    args: [
      "-c",
      `${setup.join(" && ")} && exec "$0" "$@"`,
      Deno.execPath(),
      ...args,
    ],
  }];
}

/** What a finished {@linkcode runCommand} process printed and returned. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `mod.ts <command> <args>` to completion (for one-shot commands such
 * as `init`, `rekey`, or a `serve` expected to refuse). Killed with SIGKILL
 * after `timeoutMs` (then the result says so in `stderr`). Unlike
 * {@linkcode startServer}, no passphrase is set unless `env` sets one.
 */
export async function runCommand(
  command: string,
  args: string[],
  options: {
    env?: Record<string, string>;
    timeoutMs?: number;
    umask?: number;
  } = {},
): Promise<CommandResult> {
  const [program, rest] = commandLine(options, [
    "run",
    "--allow-all",
    MOD,
    command,
    ...args,
  ]);
  const child = new Deno.Command(program, {
    ...rest,
    cwd: ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, options.timeoutMs ?? 30_000);
  try {
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr) +
        (timedOut ? `\n[killed after ${options.timeoutMs ?? 30_000} ms]` : ""),
    };
  } finally {
    clearTimeout(timer);
  }
}
