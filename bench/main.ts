/**
 * `deno task bench`: measures Miranda against baselines taken in the same run
 * on the same machine, prints a table and writes
 * `bench/results/<ISO date>.json` and `.md`.
 *
 * Usage: `deno task bench [--quick] [--runs N] [--only name,name]`
 * - `--quick`: tiny sizes, one run unless `--runs` says otherwise.
 * - `--runs N`: every figure is the median of N runs (default 3).
 * - `--only`: figure or scenario names; the baselines their ratios need are
 *   measured too.
 *
 * Not a test: CI never runs it.
 *
 * @module
 */

import {
  type FigureDef,
  FIGURES,
  FULL,
  QUICK,
  type Scenario,
  type ScenarioContext,
} from "./figures.ts";
import { note, say } from "./log.ts";
import { describeMachine } from "./machine.ts";
import { fromFileUrl } from "./paths.ts";
import {
  buildRows,
  type Collected,
  markdown,
  type Results,
  table,
} from "./report.ts";
import { BASELINES } from "./scenarios/baselines.ts";
import { MIRANDA_SCENARIOS } from "./scenarios/miranda.ts";
import { type Sink, startSink } from "./sink.ts";

const USAGE = `Usage: deno task bench [--quick] [--runs N] [--only name,name]

  --quick        tiny sizes (a smoke run); one run unless --runs is given
  --runs N       every figure is the median of N runs (default 3)
  --only LIST    comma-separated figure or scenario names; the baselines
                 their ratios need are measured too
  --help         this text

Figures: ${FIGURES.map((f) => f.name).join(", ")}
Needs: wrk (apt-get install wrk), RabbitMQ on 127.0.0.1:5672 for the
RabbitMQ baselines (apt-get install rabbitmq-server); a figure whose tool
or service is missing is skipped and the reason printed.`;

interface Options {
  quick: boolean;
  runs: number;
  only: string[] | null;
}

function parseArgs(args: string[]): Options | string {
  const options: Options = { quick: false, runs: 0, only: null };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const value = () => inline ?? args[++i];
    switch (flag) {
      case "--quick":
        options.quick = true;
        break;
      case "--runs": {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1) {
          return `--runs needs a positive integer`;
        }
        options.runs = n;
        break;
      }
      case "--only": {
        const list = (value() ?? "").split(",").map((s) => s.trim()).filter(
          Boolean,
        );
        if (list.length === 0) return `--only needs a list of names`;
        options.only = list;
        break;
      }
      case "--help":
      case "-h":
        return "";
      default:
        return `Unknown argument "${arg}"`;
    }
  }
  if (options.runs === 0) options.runs = options.quick ? 1 : 3;
  return options;
}

/** The figures to measure: the named ones plus what their ratios need. */
function select(only: string[] | null): FigureDef[] | string {
  if (only === null) return FIGURES;
  const known = new Set(FIGURES.flatMap((f) => [f.name, f.scenario]));
  const unknown = only.filter((n) => !known.has(n));
  if (unknown.length > 0) {
    return `Unknown figure or scenario: ${
      unknown.map((n) => `"${n}"`).join(", ")
    }`;
  }
  const wanted = new Set<string>();
  const add = (name: string) => {
    if (wanted.has(name)) return;
    wanted.add(name);
    const f = FIGURES.find((x) => x.name === name)!;
    if (f.baseline !== undefined) add(f.baseline);
    if (f.sameAs !== undefined) add(f.sameAs);
  };
  for (const f of FIGURES) {
    if (only.includes(f.name) || only.includes(f.scenario)) add(f.name);
  }
  return FIGURES.filter((f) => wanted.has(f.name));
}

async function gitState(root: string): Promise<Results["git"]> {
  try {
    const run = async (...args: string[]) =>
      new TextDecoder().decode(
        (await new Deno.Command("git", { args, cwd: root, stderr: "null" })
          .output()).stdout,
      ).trim();
    const commit = await run("rev-parse", "HEAD");
    // Results files of earlier runs (`bench/results/`) are not changes to
    // the code being measured: several runs in a row stay clean.
    const dirty = (await run(
      "status",
      "--porcelain",
      "--",
      ".",
      ":(exclude)bench/results",
    )).length > 0;
    return commit === "" ? null : { commit, dirty };
  } catch {
    return null;
  }
}

async function toolVersions(): Promise<Record<string, string>> {
  const tools: Record<string, string> = { deno: Deno.version.deno };
  try {
    const out = await new Deno.Command("wrk", {
      args: ["--version"],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    const text = new TextDecoder().decode(out.stdout) +
      new TextDecoder().decode(out.stderr);
    tools["wrk"] = /^wrk (\S+)/m.exec(text)?.[1] ?? "unknown";
  } catch {
    tools["wrk"] = "missing";
  }
  return tools;
}

async function main(): Promise<number> {
  const parsed = parseArgs(Deno.args);
  if (typeof parsed === "string") {
    if (parsed !== "") note(parsed);
    say(USAGE);
    return parsed === "" ? 0 : 2;
  }
  const figures = select(parsed.only);
  if (typeof figures === "string") {
    note(figures);
    return 2;
  }
  const sizes = parsed.quick ? QUICK : FULL;
  const startedAt = new Date();
  const root = fromFileUrl(new URL("../", import.meta.url));
  const command = ["deno", "run", "--allow-all", "bench/main.ts", ...Deno.args]
    .join(" ");
  const machine = await describeMachine();
  say(
    `Miranda bench: ${
      parsed.quick ? "quick" : "full"
    } mode, median of ${parsed.runs} run(s)`,
  );
  say(
    `Machine: ${machine.cores} cores, ${machine.cpuModel}, ${
      (machine.memoryBytes / 2 ** 30).toFixed(1)
    } GiB, ${machine.os}, Deno ${machine.deno}, load ${
      machine.loadAverage.join(" ")
    }`,
  );

  let sink: Sink | null = null;
  const ctx: ScenarioContext = {
    sizes,
    sink: async () => (sink ??= await startSink()),
    progress: (line) => note(`  ${line}`),
  };
  const scenarioNames = new Set(figures.map((f) => f.scenario));
  const scenarios: Scenario[] = [...BASELINES, ...MIRANDA_SCENARIOS].filter((
    s,
  ) => scenarioNames.has(s.name));
  const collected: Collected = { measurements: new Map(), notes: new Map() };
  const figuresOf = (s: Scenario) =>
    FIGURES.filter((f) => f.scenario === s.name && f.sameAs === undefined);
  try {
    for (const scenario of scenarios) {
      const reason = await scenario.check(ctx);
      if (reason !== null) {
        note(`skip ${scenario.name}: ${reason}`);
        for (const f of figuresOf(scenario)) {
          collected.notes.set(f.name, `skipped: ${reason}`);
        }
        continue;
      }
      for (let run = 1; run <= parsed.runs; run++) {
        note(`${scenario.name}: run ${run} of ${parsed.runs}`);
        const t0 = performance.now();
        try {
          const result = await scenario.run(ctx);
          for (const [name, m] of Object.entries(result)) {
            const list = collected.measurements.get(name) ?? [];
            list.push(m);
            collected.measurements.set(name, list);
            note(`  ${name} = ${m.value.toFixed(2)}`);
            if (m.warning !== undefined) note(`  warning: ${m.warning}`);
          }
        } catch (error) {
          const message = error instanceof Error
            ? error.message
            : String(error);
          note(`  ${scenario.name} failed: ${message}`);
          for (const f of figuresOf(scenario)) {
            collected.notes.set(
              f.name,
              `failed in run ${run}: ${message.split("\n")[0]}`,
            );
          }
          break;
        }
        note(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      }
    }
  } finally {
    if (sink !== null) await (sink as Sink)[Symbol.asyncDispose]();
  }
  // A figure that failed in a later run keeps the values of its earlier runs,
  // but says so.
  const rows = buildRows(figures, collected, sizes);
  const results: Results = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command,
    git: await gitState(root),
    machine,
    mode: parsed.quick ? "quick" : "full",
    runs: parsed.runs,
    sizes,
    tools: await toolVersions(),
    loadAverageAtEnd: Deno.loadavg(),
    rows,
  };
  say("");
  say(table(rows));
  const dir = `${root}bench/results`;
  await Deno.mkdir(dir, { recursive: true });
  const stem = `${dir}/${
    startedAt.toISOString().replace(/:/g, "-").replace(/\.\d+Z$/, "Z")
  }`;
  await Deno.writeTextFile(
    `${stem}.json`,
    JSON.stringify(results, null, 2) + "\n",
  );
  await Deno.writeTextFile(`${stem}.md`, markdown(results));
  say("");
  say(`Wrote ${stem}.json and ${stem}.md`);
  return 0;
}

Deno.exit(await main());
