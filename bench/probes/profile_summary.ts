/**
 * Summarises a `.cpuprofile` (from `--cpu-prof`, e.g. through
 * `MIRANDA_BENCH_SERVER_FLAGS`): the functions with the most self time and
 * the most inclusive time, as shares of the sampled time.
 *
 * `deno run -A bench/probes/profile_summary.ts FILE [--after TEXT] [--before TEXT]`
 *
 * - `--after TEXT`: only samples after the last one whose stack has a frame
 *   containing TEXT (e.g. `"publish routes/events.ts"` keeps the delivery
 *   phase of the delivery scenario, once publishing ended).
 * - `--before TEXT`: only samples up to the last one whose stack has it.
 *
 * A frame is named `function file:line`, file being the last two parts of
 * its path.
 *
 * @module
 */

import { note, say } from "../log.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const USAGE =
  "Usage: deno run -A bench/probes/profile_summary.ts FILE [--after TEXT] [--before TEXT]";

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.split("/").slice(-2).join("/");
  return `${functionName || "(anonymous)"} ${file}:${lineNumber}`;
}

function parseArgs(args: string[]) {
  let file: string | undefined;
  let after: string | undefined;
  let before: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--after") after = args[++i];
    else if (arg === "--before") before = args[++i];
    else file = arg;
  }
  return { file, after, before };
}

const { file, after, before } = parseArgs(Deno.args);
if (file === undefined) {
  note(USAGE);
  Deno.exit(2);
}
const profile: Profile = JSON.parse(await Deno.readTextFile(file));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parentOf = new Map<number, number>();
for (const node of profile.nodes) {
  for (const child of node.children ?? []) parentOf.set(child, node.id);
}

/** The frame names from a sample's node up to the root, each once. */
function stackOf(id: number): Set<string> {
  const names = new Set<string>();
  for (
    let at: number | undefined = id;
    at !== undefined;
    at = parentOf.get(at)
  ) {
    names.add(frameName(byId.get(at)!));
  }
  return names;
}

const stacks = profile.samples.map(stackOf);
const lastWith = (text: string) =>
  stacks.findLastIndex((names) => [...names].some((n) => n.includes(text)));
const start = after === undefined ? 0 : lastWith(after) + 1;
const end = before === undefined ? stacks.length : lastWith(before) + 1;

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;
for (let i = start; i < end; i++) {
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  const own = frameName(byId.get(profile.samples[i]!)!);
  self.set(own, (self.get(own) ?? 0) + dt);
  for (const name of stacks[i]!) {
    inclusive.set(name, (inclusive.get(name) ?? 0) + dt);
  }
}

for (
  const [title, times] of [["self", self], ["inclusive", inclusive]] as const
) {
  say(`\n${title} time (of ${(total / 1e6).toFixed(1)} s sampled)`);
  for (const [name, t] of [...times].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
    say(`${(100 * t / total).toFixed(1).padStart(5)} %  ${name}`);
  }
}
