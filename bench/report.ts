/**
 * Turns the measurements of a bench run into rows (median of the runs, ratio
 * to the baseline measured in the same run, goal met or not), the terminal
 * table, and the JSON and Markdown results files.
 *
 * @module
 */

import {
  type FigureDef,
  type Goal,
  type Measurement,
  type Sizes,
  titleOf,
} from "./figures.ts";
import type { Machine } from "./machine.ts";
import { formatNumber, median } from "./stats.ts";

/** One row of the results. */
export interface Row {
  name: string;
  title: string;
  unit: string;
  kind: "baseline" | "miranda";
  /** Each run's value, in order. */
  runs: number[];
  /** The median of `runs`; null when it did not run. */
  value: number | null;
  baseline: string | null;
  baselineValue: number | null;
  ratio: number | null;
  goal: string;
  met: boolean | null;
  /** Why there is no value (skipped or failed). */
  note: string | null;
  /** What qualifies the value, from any run. */
  warnings: string[];
  details: unknown[];
}

/** Everything written to the results files. */
export interface Results {
  startedAt: string;
  finishedAt: string;
  command: string;
  git: { commit: string; dirty: boolean } | null;
  machine: Machine;
  mode: "quick" | "full";
  runs: number;
  sizes: Sizes;
  tools: Record<string, string>;
  /** Load averages when the run ended. */
  loadAverageAtEnd: number[];
  rows: Row[];
}

/** What the scenarios produced, per figure. */
export interface Collected {
  measurements: Map<string, Measurement[]>;
  notes: Map<string, string>;
}

/** Builds the rows of `figures` from what was collected. */
export function buildRows(
  figures: readonly FigureDef[],
  collected: Collected,
  sizes: Sizes,
): Row[] {
  const valueOf = (name: string): { runs: number[]; value: number | null } => {
    const ms = collected.measurements.get(name) ?? [];
    const runs = ms.map((m) => m.value);
    return { runs, value: runs.length === 0 ? null : median(runs) };
  };
  return figures.map((f) => {
    const source = f.sameAs ?? f.name;
    const { runs, value } = valueOf(source);
    const baselineValue = f.baseline === undefined
      ? null
      : valueOf(f.baseline).value;
    const ratio =
      value !== null && baselineValue !== null && baselineValue !== 0
        ? value / baselineValue
        : null;
    const note = collected.notes.get(source) ??
      (value === null ? "not run" : null);
    const baselineNote = f.baseline !== undefined && baselineValue === null
      ? `baseline ${f.baseline}: ${
        collected.notes.get(f.baseline) ?? "not run"
      }`
      : null;
    return {
      name: f.name,
      title: titleOf(f, sizes),
      unit: f.unit,
      kind: f.kind,
      runs,
      value,
      baseline: f.baseline ?? null,
      baselineValue,
      ratio,
      goal: goalText(f.goal),
      met: judge(f.goal, value, ratio),
      note: [note, baselineNote].filter((n) => n !== null).join("; ") || null,
      warnings: (collected.measurements.get(source) ?? []).flatMap((m, i) =>
        m.warning === undefined ? [] : [`run ${i + 1}: ${m.warning}`]
      ),
      details: f.sameAs === undefined
        ? (collected.measurements.get(f.name) ?? []).map((m) =>
          m.detail ?? null
        )
        : [],
    };
  });
}

function goalText(goal: Goal): string {
  if (goal.on === "report") return "report";
  return `${goal.on === "ratio" ? "ratio" : "value"} ${
    goal.op === ">=" ? "≥" : "≤"
  } ${goal.target}`;
}

function judge(
  goal: Goal,
  value: number | null,
  ratio: number | null,
): boolean | null {
  if (goal.on === "report") return null;
  const x = goal.on === "ratio" ? ratio : value;
  if (x === null) return null;
  return goal.op === ">=" ? x >= goal.target : x <= goal.target;
}

/** The table printed to the terminal (and embedded in the Markdown). */
export function table(rows: readonly Row[]): string {
  const header = ["figure", "value", "baseline", "ratio", "goal", "met?"];
  const body = rows.map((r) => [
    r.title,
    r.value === null
      ? `— (${r.note ?? "not run"})`
      : `${formatNumber(r.value)} ${r.unit}${
        r.warnings.length > 0 ? " (!)" : ""
      }`,
    r.baseline === null
      ? "—"
      : `${r.baseline}${
        r.baselineValue === null ? "" : ` = ${formatNumber(r.baselineValue)}`
      }`,
    r.ratio === null ? "—" : r.ratio.toFixed(2),
    r.goal,
    r.met === null ? "—" : r.met ? "yes" : "NO",
  ]);
  return markdownTable(header, body);
}

function markdownTable(header: string[], body: string[][]): string {
  const widths = header.map((h, i) =>
    Math.max(h.length, ...body.map((r) => r[i]!.length))
  );
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [
    line(header),
    `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`,
    ...body.map(line),
  ].join("\n");
}

/** The Markdown summary. */
export function markdown(results: Results): string {
  const m = results.machine;
  const gib = (m.memoryBytes / 2 ** 30).toFixed(1);
  const lines = [
    `# Miranda bench — ${results.startedAt}`,
    "",
    `Command: \`${results.command}\` (${results.mode} mode, median of ${results.runs} run${
      results.runs === 1 ? "" : "s"
    } per figure)`,
    "",
    `Machine: ${m.cores} cores (${m.cpuModel}), ${gib} GiB memory, ${m.os}, kernel ${m.kernel}, Deno ${m.deno} (V8 ${m.v8}); load average at start ${
      m.loadAverage.map((x) => x.toFixed(2)).join(" ")
    }, at the end ${
      results.loadAverageAtEnd.map((x) => x.toFixed(2)).join(" ")
    }`,
    "",
    results.git === null
      ? "Commit: unknown"
      : `Commit: ${results.git.commit}${
        results.git.dirty ? " (with uncommitted changes)" : ""
      }`,
    "",
    `Tools: ${
      Object.entries(results.tools).map(([k, v]) => `${k} ${v}`).join("; ")
    }`,
    "",
    table(results.rows),
    "",
    "Every value is the median of the runs listed below; every ratio divides it by a baseline measured in this same run.",
    "",
    "| figure | runs |",
    "| --- | --- |",
    ...results.rows.filter((r) => r.runs.length > 0).map((r) =>
      `| ${r.name} | ${r.runs.map(formatNumber).join(", ")} |`
    ),
  ];
  const warned = results.rows.filter((r) => r.warnings.length > 0);
  if (warned.length > 0) {
    lines.push("", "## Warnings (marked (!) above)", "");
    for (const r of warned) lines.push(`- ${r.name}: ${r.warnings.join("; ")}`);
  }
  const skipped = results.rows.filter((r) => r.value === null);
  if (skipped.length > 0) {
    lines.push("", "## Not measured", "");
    for (const r of skipped) lines.push(`- ${r.name}: ${r.note ?? "not run"}`);
  }
  lines.push(
    "",
    `Started ${results.startedAt}, finished ${results.finishedAt}.`,
    "",
  );
  return lines.join("\n");
}
