/**
 * Child processes for the bench: helper servers (`deno run` of a script in
 * `bench/servers/`), Miranda itself, and `wrk`. Each child is disposable and
 * killed by its own pid.
 *
 * @module
 */

/** A running child whose output is collected. */
export interface Child extends AsyncDisposable {
  process: Deno.ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` on stdout or stderr. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  /** Sends `signal` (SIGTERM by default) and waits for the exit. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  status: Promise<Deno.CommandStatus>;
}

/** Options of {@linkcode spawn}. */
export interface SpawnOptions {
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
}

/** Starts `program` with piped output. */
export function spawn(program: string, options: SpawnOptions): Child {
  const process = new Deno.Command(program, {
    args: options.args,
    env: { NO_COLOR: "1", ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  const listeners = new Set<() => void>();
  const pump = async (
    stream: ReadableStream<Uint8Array>,
    onText: (text: string) => void,
  ) => {
    const local = new TextDecoder();
    for await (const chunk of stream) {
      onText(local.decode(chunk, { stream: true }));
      for (const listener of listeners) listener();
    }
  };
  const pumps = Promise.all([
    pump(process.stdout, (t) => (out += t)),
    pump(process.stderr, (t) => (err += t)),
  ]);
  const status = process.status;
  let exited = false;
  status.then(() => {
    exited = true;
    for (const listener of listeners) listener();
  });
  let stopped: Promise<Deno.CommandStatus> | undefined;
  const stop = (signal: Deno.Signal = "SIGTERM") => {
    stopped ??= (async () => {
      try {
        process.kill(signal);
      } catch { /* already gone */ }
      const s = await status;
      await pumps;
      return s;
    })();
    return stopped;
  };
  const waitFor = (pattern: RegExp, timeoutMs: number) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(out) ?? pattern.exec(err);
        if (match) {
          done();
          resolve(match);
        } else if (exited) {
          done();
          reject(
            new Error(
              `${program} exited before printing ${pattern}\n${tail(out)}\n${
                tail(err)
              }`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `${program} did not print ${pattern} within ${timeoutMs} ms\n${
              tail(out)
            }\n${tail(err)}`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  return {
    process,
    pid: process.pid,
    stdout: () => out,
    stderr: () => err,
    waitFor,
    stop,
    status,
    [Symbol.asyncDispose]: async () => {
      await stop("SIGKILL");
    },
  };
}

/** Starts `deno run --allow-all [flags] <script> <args>`. */
export function spawnDeno(
  script: string,
  args: string[] = [],
  options: { env?: Record<string, string>; cwd?: string; flags?: string[] } =
    {},
): Child {
  const { flags = [], ...rest } = options;
  return spawn(Deno.execPath(), {
    args: ["run", "--allow-all", ...flags, script, ...args],
    ...rest,
  });
}

/** Resident set size of `pid` in bytes, from `/proc/<pid>/status` (VmRSS). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`No VmRSS for pid ${pid}`);
  return Number(kb) * 1024;
}

/** CPU seconds a process has used: all its threads, and its main thread. */
export interface CpuTime {
  process: number;
  /** The thread that runs JavaScript (and Deno.serve) in a Deno process. */
  mainThread: number;
}

/**
 * CPU time `pid` has used so far (user + system), from `/proc/<pid>/stat`
 * and `/proc/<pid>/task/<pid>/stat` (clock ticks of 1/100 s, `USER_HZ`).
 */
export async function cpuSeconds(pid: number): Promise<CpuTime> {
  const ticks = async (path: string) => {
    const stat = await Deno.readTextFile(path);
    // Fields after the command name, which may hold spaces: state is field
    // 3, utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
  return {
    process: await ticks(`/proc/${pid}/stat`),
    mainThread: await ticks(`/proc/${pid}/task/${pid}/stat`),
  };
}

/** Whether `name` is an executable on PATH; its path if so. */
export async function which(name: string): Promise<string | null> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    const path = `${dir}/${name}`;
    try {
      const info = await Deno.stat(path);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return path;
    } catch { /* not here */ }
  }
  return null;
}

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tail(text: string): string {
  return text.length > 2000 ? `…${text.slice(-2000)}` : text;
}
