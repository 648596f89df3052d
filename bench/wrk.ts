/**
 * Load generation with Debian's `wrk` (4.1): a Lua script sets the method,
 * a fixed-size body and the headers (a bearer token), and its `done` hook
 * prints a JSON line that is parsed together with wrk's own summary
 * (`Requests/sec`, `Non-2xx or 3xx responses`).
 *
 * wrk counts a response with a status above 399 as a status error; a 2xx
 * figure is therefore `(requests - statusErrors) / duration`, and any status
 * error is reported next to the figure.
 *
 * @module
 */

import { spawn } from "./procs.ts";

/** Options of {@linkcode runWrk}. */
export interface WrkOptions {
  url: string;
  method?: string;
  bodyBytes?: number;
  headers?: Record<string, string>;
  connections: number;
  threads: number;
  durationSec: number;
  /** Stop (SIGINT) once this many responses with status < 300 arrived. */
  stopAfter2xx?: number;
}

/** What one wrk run measured. */
export interface WrkResult {
  requests: number;
  durationSec: number;
  /** wrk's own `Requests/sec` line. */
  requestsPerSec: number;
  /** Responses with status < 400 per second (wrk's view of success). */
  okPerSec: number;
  /** wrk's `Non-2xx or 3xx responses` (status > 399), 0 when absent. */
  non2xx: number;
  errors: { connect: number; read: number; write: number; timeout: number };
  latencyMs: {
    p50: number;
    p90: number;
    p99: number;
    p999: number;
    max: number;
  };
  /** Responses with status < 300 counted by the script (only with `stopAfter2xx`). */
  counted2xx: number | null;
  output: string;
}

/** A JSON-ish body of exactly `bytes` bytes. */
export function makeBody(bytes: number): string {
  const head = '{"bench":"miranda","pad":"';
  const tail = '"}';
  const pad = Math.max(0, bytes - head.length - tail.length);
  return head + "x".repeat(pad) + tail;
}

/** Writes the Lua script for `options` and returns its path. */
async function writeScript(options: WrkOptions): Promise<string> {
  const path = await Deno.makeTempFile({
    prefix: "miranda-wrk-",
    suffix: ".lua",
  });
  const lines = [
    `wrk.method = ${lua(options.method ?? "POST")}`,
    `wrk.body = ${lua(makeBody(options.bodyBytes ?? 256))}`,
    `wrk.headers["Content-Type"] = "application/json"`,
  ];
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    lines.push(`wrk.headers[${lua(name)}] = ${lua(value)}`);
  }
  if (options.stopAfter2xx !== undefined) {
    // Only the one thread that reaches the target says so; the bench then
    // interrupts wrk (SIGINT), which ends the run and prints the summary.
    lines.push(
      `local ok = 0`,
      `local told = false`,
      `local target = ${Math.ceil(options.stopAfter2xx / options.threads)}`,
      `response = function(status, headers, body)`,
      `  if status < 300 then ok = ok + 1 end`,
      `  if ok >= target and not told then`,
      `    told = true`,
      `    io.stderr:write("BENCH_REACHED " .. ok .. "\\n")`,
      `    io.stderr:flush()`,
      `    wrk.thread:stop()`,
      `  end`,
      `end`,
    );
  }
  lines.push(
    `done = function(summary, latency, requests)`,
    `  io.write(string.format('BENCH_JSON {"requests":%d,"durationUs":%d,' ..`,
    `    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..`,
    `    '"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}\\n',`,
    `    summary.requests, summary.duration, summary.errors.connect,`,
    `    summary.errors.read, summary.errors.write, summary.errors.status,`,
    `    summary.errors.timeout, latency:percentile(50), latency:percentile(90),`,
    `    latency:percentile(99), latency:percentile(99.9), latency.max))`,
    `end`,
  );
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
  return path;
}

/** Runs wrk once and parses its output. */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const script = await writeScript(options);
  try {
    const child = spawn("wrk", {
      args: [
        `-t${options.threads}`,
        `-c${options.connections}`,
        `-d${Math.max(1, Math.round(options.durationSec))}s`,
        "--latency",
        "-s",
        script,
        options.url,
      ],
    });
    let counted: number | null = null;
    if (options.stopAfter2xx !== undefined) {
      const reached = child.waitFor(
        /BENCH_REACHED (\d+)/,
        options.durationSec * 1000 + 5_000,
      )
        .then((m) => {
          counted = Number(m[1]) * options.threads;
          return child.stop("SIGINT");
        }).catch(() => {});
      await Promise.race([reached, child.status]);
    }
    const status = await child.status;
    await child.stop();
    const output = child.stdout();
    if (!status.success) {
      throw new Error(
        `wrk exited with ${status.code}\n${output}\n${child.stderr()}`,
      );
    }
    return parseWrk(output, counted);
  } finally {
    await Deno.remove(script).catch(() => {});
  }
}

/** Parses wrk's summary and the script's `BENCH_JSON` line. */
export function parseWrk(
  output: string,
  counted2xx: number | null = null,
): WrkResult {
  const jsonLine = /^BENCH_JSON (\{.*\})$/m.exec(output)?.[1];
  if (jsonLine === undefined) {
    throw new Error(`No BENCH_JSON line in wrk output\n${output}`);
  }
  const j = JSON.parse(jsonLine) as Record<string, number>;
  const requestsPerSec = Number(
    /^Requests\/sec:\s+([\d.]+)/m.exec(output)?.[1] ?? NaN,
  );
  const non2xx = Number(
    /Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0,
  );
  const durationSec = j["durationUs"]! / 1e6;
  const us = (k: string) => j[k]! / 1000;
  return {
    requests: j["requests"]!,
    durationSec,
    requestsPerSec,
    okPerSec: (j["requests"]! - j["status"]!) / durationSec,
    non2xx,
    errors: {
      connect: j["connect"]!,
      read: j["read"]!,
      write: j["write"]!,
      timeout: j["timeout"]!,
    },
    latencyMs: {
      p50: us("p50"),
      p90: us("p90"),
      p99: us("p99"),
      p999: us("p999"),
      max: us("max"),
    },
    counted2xx,
    output,
  };
}

function lua(text: string): string {
  return JSON.stringify(text);
}
