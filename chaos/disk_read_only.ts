/**
 * The chaos scenario of a file system that turns read-only under a running
 * node, as ext4 does on an error with `errors=remount-ro` (Debian's
 * default): the data directory lives on an ext4 file system in a loop
 * device, and mid-run ext4 is made to report an error of its own
 * (`/sys/fs/ext4/<dev>/trigger_fs_error`), which aborts its journal and
 * remounts it read-only for good. Nothing can be written there until it is
 * unmounted and checked, so the scenario then does what an operator would:
 * stop the node, `e2fsck`, mount again, start the node — and every event
 * answered 202 must still be delivered. The node must have zero-filled its
 * write-ahead log at start (`walPreallocateBytes`): without it, a commit
 * appended while ext4 aborts its journal could be acknowledged and then
 * lost (twice in about 220 quick runs here). Needs root (`losetup`, `mount`);
 * skipped otherwise.
 *
 * @module
 */

import { ChaosNode, metricSum, readyStatus } from "./lib/miranda.ts";
import { account, startPublisher } from "./lib/publisher.ts";
import type { AccountingRow } from "./lib/report.ts";
import { report } from "./lib/report.ts";
import { drain, expecting, sumRows } from "./lib/rows.ts";
import { startSink } from "./lib/sink.ts";
import { mountExt4Loop } from "../tests/support/ext4_loop.ts";
import type { Scale } from "./scenarios.ts";
import { CONFIG_KEYS } from "../config/keys.ts";

const SCENARIO = "disk turned read-only (ext4 error, remount-ro)";
/** The subscriber up throughout, and the one held back until the repair. */
const UP = "/hook/ro";
const HELD = "/hook/held";
const HOOKS = [UP, HELD];
/** The default size the node zero-fills its write-ahead log to. */
const WAL_BYTES = CONFIG_KEYS.find((k) => k.key === "walPreallocateBytes")!
  .default as number;

/**
 * Publishes to a node on a file system that turns read-only mid-run, holds
 * it so for 20 s (3 s `--quick`: long enough for every timer of the node,
 * sweeps and record flushes, to meet the failing store many times over),
 * then repairs it and starts the node again: nothing accepted is lost;
 * while read-only the node stays up without an actor panic, accepts
 * nothing, refuses with problem+json 503s and `/readyz` says 503; after the
 * repair it accepts again.
 */
export async function diskReadOnly(scale: Scale): Promise<AccountingRow> {
  const started = performance.now();
  const root = await Deno.makeTempDir({ prefix: "miranda-chaos-ro-" });
  const fs = await mountExt4Loop(root, 192);
  if (typeof fs === "string") {
    await Deno.remove(root, { recursive: true });
    return {
      scenario: SCENARIO,
      accepted: 0,
      delivered: 0,
      duplicated: 0,
      lost: 0,
      seconds: 0,
      skipped: `an ext4 loop device is not available here (${fs})`,
    };
  }
  try {
    await using _fs = fs;
    await using sink = startSink();
    await using node = await ChaosNode.start({ root });
    // Commits overwrite the zero-filled log: none of them appends, which a
    // journal abort could drop after its flush said it succeeded.
    const walBytes = await node.walBytes();
    await node.createTopic("ro");
    // Two subscribers: one up throughout, one refusing every delivery until
    // the node has been restarted on the checked file system — everything
    // accepted before the error is still undelivered to it then, so it must
    // have been on disk (the 202 came after the WAL's flush).
    for (const hook of HOOKS) {
      await node.subscribe({
        topic: "ro",
        url: `${sink.url}${hook}`,
        ordered: false,
        maxInFlight: 16,
        timeoutMs: 2_000,
      });
    }
    sink.behave(HELD, { kind: "fail" });
    const body = (n: number) => JSON.stringify({ n, pad: "x".repeat(1_000) });
    const target = () => ({
      url: node.lastUrl,
      bearer: node.bearer,
      topic: "ro",
    });
    const publisher = startPublisher(target, {
      concurrency: 8,
      total: scale.quick ? 20_000 : 60_000,
      body,
    });
    await publisher.acceptedAtLeast(scale.quick ? 300 : 1_000);
    const panicsBefore = metricSum(
      await node.metrics(),
      "miranda_actor_panics_total",
    );
    await fs.fail();
    const atError = publisher.tally.accepted.length;
    const othersAtError = new Map(publisher.tally.others);
    // Commits under way when the error came may still finish: look at
    // what is accepted from half a second on.
    await new Promise((r) => setTimeout(r, 500));
    const settled = publisher.tally.accepted.length;
    await new Promise((r) => setTimeout(r, scale.quick ? 3_000 : 20_000));
    const acceptedWhileReadOnly = publisher.tally.accepted.length - settled;
    const refusedWhileReadOnly = Object.fromEntries(
      [...publisher.tally.others].map(([k, v]) =>
        [k, v - (othersAtError.get(k) ?? 0)] as const
      ).filter(([, v]) => v > 0),
    );
    const alive = node.running;
    if (!alive) {
      report(`  read-only: the node ended; its log ends with:`);
      for (const line of node.server!.stderr().trim().split("\n").slice(-8)) {
        report(`    ${line.slice(0, 400)}`);
      }
    }
    const ready = alive ? await readyStatus(node.url) : 0;
    const panics = alive
      ? metricSum(await node.metrics(), "miranda_actor_panics_total") -
        panicsBefore
      : -1;
    await publisher.stop();
    // The operator's part: stop the node, check the file system, start.
    const stopStarted = performance.now();
    const stopped = await node.kill("SIGTERM");
    const stopMs = performance.now() - stopStarted;
    const fsck = await fs.repair();
    await node.launch();
    const heldDeliveredBefore = sink.hook(HELD).accepted.size;
    sink.behave(HELD, { kind: "ok" });
    const after = startPublisher(target, {
      concurrency: 8,
      total: scale.quick ? 200 : 1_000,
      body,
    });
    await after.done;
    const accepted = [
      ...publisher.tally.accepted,
      ...after.tally.accepted,
    ];
    const drained = await drain(sink, HOOKS, accepted, 60_000);
    const results = HOOKS.map((hook) =>
      account(accepted, sink.hook(hook).accepted)
    );
    const nonProblem = publisher.tally.nonProblem + after.tally.nonProblem;
    report(`  read-only: e2fsck said ${fsck.split("\n").at(-1)}`);
    // Where a lost event stood: its subscriber and its place among the 202s
    // (the first `atError` came before the error).
    HOOKS.forEach((hook, i) => {
      for (const id of results[i]!.lost) {
        report(
          `  read-only: lost on ${hook}: ${id}, accepted ${
            accepted.indexOf(id) + 1
          } of ${accepted.length} (${atError} before the error)`,
        );
      }
    });
    const row = sumRows(
      SCENARIO,
      results,
      (performance.now() - started) / 1000,
      `WAL zero-filled to ${
        (walBytes / 1024 / 1024).toFixed(0)
      } MiB; accepted before the error ${atError}, in the 0.5 s after it ${
        settled - atError
      }, while read-only ${acceptedWhileReadOnly}; refused while read-only ${
        JSON.stringify(refusedWhileReadOnly)
      }; /readyz ${ready}; process up while read-only ${alive}, actor panics ${panics}; SIGTERM → exit ${stopped.code} in ${
        Math.round(stopMs)
      } ms; delivered to the held subscriber before the repair ${heldDeliveredBefore}; accepted after the repair ${after.tally.accepted.length} of ${
        scale.quick ? 200 : 1_000
      }; drained ${drained}`,
    );
    return expecting(row, [
      walBytes < WAL_BYTES &&
      `the WAL was ${walBytes} bytes at start, not zero-filled to ${WAL_BYTES}`,
      !alive && "the node ended when its file system turned read-only",
      acceptedWhileReadOnly > 0 &&
      `${acceptedWhileReadOnly} publishes were accepted on a read-only file system`,
      !Object.keys(refusedWhileReadOnly).some((k) => k.startsWith("503")) &&
      "no publish was answered 503 while the file system was read-only",
      after.tally.accepted.length === 0 &&
      "no publish was accepted once the file system was repaired",
      !drained && "not every accepted event was delivered in time",
      nonProblem > 0 && `${nonProblem} refusals were not problem+json`,
      panics > 0 &&
      `${panics} actor panics while the file system was read-only`,
      heldDeliveredBefore > 0 &&
      "the held subscriber was delivered to before the repair",
      alive && ready !== 503 &&
      `/readyz answered ${ready}, not 503, on a read-only file system`,
    ]);
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}
