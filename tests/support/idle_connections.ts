/**
 * Idle connections for running a node out of file descriptors, and the
 * check that it still takes new ones (used by the listener's end-to-end test
 * and the chaos suite's `descriptors` scenario).
 *
 * @module
 */

/**
 * Opens connections to `url`'s host and port and sends nothing on them,
 * until one is refused or `max` are open. Past the node's limit,
 * connections still complete into the kernel's backlog until a stopped
 * server's socket is closed, so `max` should leave room for those.
 */
export async function openUntilRefused(
  url: string,
  max: number,
): Promise<{ idle: Deno.Conn[]; refused: boolean }> {
  const { hostname, port } = new URL(url);
  const idle: Deno.Conn[] = [];
  while (idle.length < max) {
    try {
      idle.push(await Deno.connect({ hostname, port: Number(port) }));
    } catch {
      return { idle, refused: true };
    }
  }
  return { idle, refused: false };
}

/**
 * Whether `/healthz` answers 200 on a connection of its own (a fresh client,
 * so no connection kept from before can answer) within `timeoutMs`, asked
 * every 200 ms.
 */
export async function answersOnNewConnection(
  url: string,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (true) {
    using client = Deno.createHttpClient({});
    try {
      const res = await fetch(`${url}/healthz`, {
        client,
        signal: AbortSignal.timeout(2_000),
      });
      await res.body?.cancel();
      if (res.status === 200) return true;
    } catch {
      // Refused, reset or timed out: not yet.
    }
    if (performance.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
