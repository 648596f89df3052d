/**
 * `deno task chaos [--quick] [scenario …]`: runs the chaos scenarios (kill
 * -9 loop, hostile subscribers, panics, disk full, fuzz, slowloris and
 * floods, descriptors, bodies at the size limit, slow uploads) against real
 * processes on loopback and prints the accounting table. Exits 1 when any
 * scenario lost an accepted event or broke one of its own expectations (its
 * row's `failure`: a broken answer, a run that did not drain, a node that
 * ended, …).
 *
 * @module
 */

import { diskReadOnly } from "./disk_read_only.ts";
import { type AccountingRow, accountingTable, report } from "./lib/report.ts";
import {
  bodies,
  descriptors,
  diskFull,
  fuzzing,
  hostile,
  killLoop,
  panics,
  type Scale,
  slowBodies,
  slowloris,
} from "./scenarios.ts";

const SCENARIOS: Record<string, (scale: Scale) => Promise<AccountingRow>> = {
  kill: killLoop,
  hostile,
  panics,
  disk: diskFull,
  "read-only": diskReadOnly,
  fuzz: fuzzing,
  slowloris,
  descriptors,
  bodies,
  uploads: slowBodies,
};

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const wanted = Deno.args.filter((a) => !a.startsWith("--"));
  const names = wanted.length > 0 ? wanted : Object.keys(SCENARIOS);
  const rows: AccountingRow[] = [];
  let bad = false;
  for (const name of names) {
    const scenario = SCENARIOS[name];
    if (scenario === undefined) {
      report(`unknown scenario "${name}"; known: ${Object.keys(SCENARIOS)}`);
      Deno.exit(2);
    }
    report(`— ${name}${quick ? " (quick)" : ""} …`);
    try {
      const row = await scenario({ quick });
      rows.push(row);
      report(accountingTable([row]).split("\n").at(-1)!);
      if (row.failure !== undefined) report(`${name} failed: ${row.failure}`);
      if (row.lost > 0 || row.failure !== undefined) bad = true;
    } catch (error) {
      bad = true;
      report(`${name} failed: ${error instanceof Error ? error.stack : error}`);
    }
  }
  report(`\ndeno task chaos${quick ? " --quick" : ""} ${wanted.join(" ")}`);
  report(accountingTable(rows));
  Deno.exit(bad ? 1 : 0);
}
