/**
 * Whether the process has file descriptors to spare. Deno aborts the whole
 * process when a worker starts with none free (its runtime cannot make its
 * event loop: a panic, not an error), and idle connections alone can use
 * them all up. Every place that starts a worker asks
 * {@linkcode hasFreeDescriptors} first and carries on without it (on the
 * node's thread) when there are none to spare; the HTTP listener asks before
 * it listens again. Reads `/proc/self` (Linux); where that cannot be read the
 * answer is yes, as before. Counting walks every open descriptor (~0.4 ms
 * with 500 open here), so it is asked only where a worker is about to start,
 * never per request.
 *
 * @module
 */

/** Descriptors left free for a worker: its runtime takes a few, the rest is margin. */
export const WORKER_DESCRIPTOR_RESERVE = 64;

let softLimit: number | null = null;

/**
 * True when at least `reserve` descriptors are free under the process's
 * limit (or the count cannot be read); false when they are not, or when even
 * reading the count fails for want of a descriptor.
 */
export function hasFreeDescriptors(
  reserve: number = WORKER_DESCRIPTOR_RESERVE,
): boolean {
  let used = 0;
  try {
    softLimit ??= readSoftLimit();
    if (softLimit === null) return true;
    for (const _ of Deno.readDirSync("/proc/self/fd")) used++;
  } catch (error) {
    return !isOutOfDescriptors(error);
  }
  return softLimit - used >= reserve;
}

/** The soft `RLIMIT_NOFILE`, or null when unlimited or not on Linux. */
function readSoftLimit(): number | null {
  let text: string;
  try {
    text = Deno.readTextFileSync("/proc/self/limits");
  } catch (error) {
    if (isOutOfDescriptors(error)) throw error;
    return null;
  }
  const limit = /^Max open files\s+(\d+)/m.exec(text)?.[1];
  return limit === undefined ? null : Number(limit);
}

function isOutOfDescriptors(error: unknown): boolean {
  return error instanceof Error && /os error 2[34]\b/.test(error.message);
}
