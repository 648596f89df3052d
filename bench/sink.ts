/**
 * The bench's handle on the sink process (`servers/sink.ts`).
 *
 * @module
 */

import { fromFileUrl } from "./paths.ts";
import { type Child, sleep, spawnDeno } from "./procs.ts";

/** What the sink counted since its last reset. */
export interface SinkStats {
  count: number;
  target: number;
  firstAt: number | null;
  targetAt: number | null;
  lastAt: number | null;
  perSecond: number[];
  unique: number | null;
  missingId: number;
  latencies: number[];
  /** `webhook-id` → arrival wall time (latency mode only). */
  arrivals: Record<string, number>;
}

/** A running sink. */
export interface Sink extends AsyncDisposable {
  /** Base URL; deliveries go to `${url}in/<anything>`. */
  url: string;
  child: Child;
  reset(
    options?: { target?: number; latency?: boolean; unique?: boolean },
  ): Promise<void>;
  stats(): Promise<SinkStats>;
  /** Waits until `n` requests arrived; throws after `timeoutMs`. */
  waitCount(n: number, timeoutMs: number): Promise<void>;
  /** Waits until the target-th request arrived; throws after `timeoutMs`. */
  waitTarget(timeoutMs: number): Promise<SinkStats>;
}

/** Starts the sink process. */
export async function startSink(): Promise<Sink> {
  const child = spawnDeno(
    fromFileUrl(new URL("./servers/sink.ts", import.meta.url)),
  );
  const url = (await child.waitFor(/listening on (\S+)/, 30_000))[1]!;
  const stats = async () =>
    (await (await fetch(`${url}_bench/stats`)).json()) as SinkStats;
  return {
    url,
    child,
    reset: async (options = {}) => {
      const res = await fetch(`${url}_bench/reset`, {
        method: "POST",
        body: JSON.stringify(options),
      });
      await res.body?.cancel();
    },
    stats,
    waitCount: async (n, timeoutMs) => {
      const deadline = performance.now() + timeoutMs;
      let count = 0;
      while (performance.now() < deadline) {
        const brief = await (await fetch(`${url}_bench/stats?brief`)).json();
        count = brief.count;
        if (count >= n) return;
        await sleep(100);
      }
      throw new Error(
        `The sink saw ${count} of ${n} requests within ${timeoutMs} ms`,
      );
    },
    waitTarget: async (timeoutMs) => {
      const deadline = performance.now() + timeoutMs;
      let last: SinkStats | null = null;
      while (performance.now() < deadline) {
        last = await stats();
        if (last.targetAt !== null) return last;
        await sleep(100);
      }
      throw new Error(
        `The sink saw ${last?.count ?? 0} of ${
          last?.target ?? "?"
        } requests within ${timeoutMs} ms`,
      );
    },
    [Symbol.asyncDispose]: async () => {
      await child.stop("SIGKILL");
    },
  };
}

/** Wall-clock ms with sub-ms resolution, comparable across processes. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}
