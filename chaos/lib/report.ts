/**
 * Output of the crash tests and chaos runs: report lines and the accounting
 * table each scenario ends with. The one place they print.
 *
 * @module
 */
// deno-lint-ignore-file no-console

/** Prints one report line. */
export function report(line: string): void {
  console.log(line);
}

/** One row of the accounting table. */
export interface AccountingRow {
  scenario: string;
  accepted: number;
  delivered: number;
  duplicated: number;
  lost: number;
  /** Dead-lettered per policy (not lost: listed in the failed list). */
  deadLettered?: number;
  seconds: number;
  notes?: string;
  /** Why the run failed other than by losing events; absent when it did not. */
  failure?: string;
  /** Why the scenario could not run here (then nothing was measured). */
  skipped?: string;
}

/** Formats rows as a Markdown table (README-ready). */
export function accountingTable(rows: readonly AccountingRow[]): string {
  const head =
    "| scenario | accepted | delivered | dead-lettered | duplicated | lost | time (s) | notes |\n" +
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |";
  const lines = rows.map((r) =>
    `| ${r.scenario} | ${r.accepted} | ${r.delivered} | ${
      r.deadLettered ?? 0
    } | ${r.duplicated} | ${r.lost} | ${r.seconds.toFixed(1)} | ${
      r.skipped !== undefined ? `skipped: ${r.skipped}` : r.notes ?? ""
    } |`
  );
  return [head, ...lines].join("\n");
}
