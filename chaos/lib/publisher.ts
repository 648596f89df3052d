/**
 * A load generator: concurrent loops publishing numbered events to a topic
 * until a quota is reached or they are told to stop. It keeps the id of
 * every event answered 202 (accepted: must be delivered) and counts every
 * other outcome by status; a request that failed in flight (the server
 * killed under it) is "unknown" (it may or may not have been stored, and
 * nothing was promised).
 *
 * @module
 */

/** Where and as whom to publish; read on every request, so a restart can swap them. */
export interface Target {
  url: string;
  bearer: string;
  topic: string;
}

/** What a publisher saw. */
export interface PublishTally {
  /** Ids answered 202, in answer order. */
  accepted: string[];
  /**
   * Counts of other answers by `"<status> <problem code>"` (just the status
   * when the body is not problem+json; `"error"` for a failed request).
   */
  others: Map<string, number>;
  /** Answers that were not problem+json though they were not 2xx. */
  nonProblem: number;
  /** Latency of each accepted publish, ms. */
  latencies: number[];
}

/** A running publisher. */
export interface Publisher {
  tally: PublishTally;
  /** Resolves when every loop ended (quota reached or `stop` called). */
  done: Promise<void>;
  /** Makes the loops end after their current request. */
  stop(): Promise<void>;
  /** Resolves once `accepted` holds at least `n` ids (or the loops ended). */
  acceptedAtLeast(n: number): Promise<void>;
}

/** Starts `concurrency` loops that publish until `total` requests were sent. */
export function startPublisher(
  target: () => Target,
  options: {
    concurrency: number;
    total: number;
    /** Pause after a failed request, ms (a dead server answers at once). */
    backoffMs?: number;
    /** Body of event `n`. */
    body?: (n: number) => string;
  },
): Publisher {
  const tally: PublishTally = {
    accepted: [],
    others: new Map(),
    nonProblem: 0,
    latencies: [],
  };
  let sent = 0;
  let stopping = false;
  const waiters: { n: number; resolve: () => void }[] = [];
  const notify = (all = false) => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const waiter = waiters[i]!;
      if (all || tally.accepted.length >= waiter.n) {
        waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  };
  const bump = (key: string) =>
    tally.others.set(key, (tally.others.get(key) ?? 0) + 1);
  const body = options.body ??
    ((n: number) => JSON.stringify({ n, at: Date.now() }));
  const loop = async () => {
    while (!stopping && sent < options.total) {
      const n = sent++;
      const started = performance.now();
      try {
        const { url, bearer, topic } = target();
        const res = await fetch(`${url}/topics/${topic}/load?n=${n}`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${bearer}`,
            "content-type": "application/json",
          },
          body: body(n),
        });
        const text = await res.text();
        if (res.status === 202) {
          tally.accepted.push((JSON.parse(text) as { id: string }).id);
          tally.latencies.push(performance.now() - started);
          notify();
          continue;
        }
        if (
          (res.headers.get("content-type") ?? "").startsWith(
            "application/problem+json",
          )
        ) {
          const code = (JSON.parse(text) as { code?: string }).code;
          bump(`${res.status} ${code}`);
        } else {
          tally.nonProblem++;
          bump(String(res.status));
        }
      } catch {
        bump("error");
      }
      await new Promise((r) => setTimeout(r, options.backoffMs ?? 20));
    }
  };
  const done = Promise.all(
    Array.from({ length: options.concurrency }, loop),
  ).then(() => notify(true));
  return {
    tally,
    done,
    stop: async () => {
      stopping = true;
      await done;
    },
    acceptedAtLeast: (n) =>
      tally.accepted.length >= n
        ? Promise.resolve()
        : new Promise((resolve) => waiters.push({ n, resolve })),
  };
}

/** Counts of the outcome of a run, per subscription. */
export interface Accounting {
  accepted: number;
  delivered: number;
  duplicated: number;
  /** Accepted ids never delivered (must be empty). */
  lost: string[];
  /** Delivered ids the publisher never saw a 202 for (in flight at a kill). */
  unacknowledged: number;
}

/** Compares the accepted ids with what a hook received. */
export function account(
  accepted: readonly string[],
  received: ReadonlyMap<string, number>,
): Accounting {
  const ids = new Set(accepted);
  let duplicated = 0;
  let unacknowledged = 0;
  for (const [id, count] of received) {
    if (count > 1) duplicated += count - 1;
    if (!ids.has(id)) unacknowledged++;
  }
  const lost = [...ids].filter((id) => !received.has(id));
  return {
    accepted: ids.size,
    delivered: ids.size - lost.length,
    duplicated,
    lost,
    unacknowledged,
  };
}

/**
 * Resolves true once `done()` holds, checked every `everyMs`, or false at
 * `deadlineMs`. Waiting on another process has no event to await.
 */
export async function waitFor(
  done: () => boolean | Promise<boolean>,
  options: { deadlineMs: number; everyMs?: number },
): Promise<boolean> {
  const until = performance.now() + options.deadlineMs;
  while (performance.now() < until) {
    if (await done()) return true;
    await new Promise((r) => setTimeout(r, options.everyMs ?? 100));
  }
  return await done();
}

/** Percentile `p` (0–100) of `values`, 0 when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(
    sorted.length - 1,
    Math.max(0, Math.ceil((p / 100) * sorted.length) - 1),
  );
  return sorted[index]!;
}
