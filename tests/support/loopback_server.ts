/**
 * A `Deno.serve` on a free loopback port that says nothing when it starts,
 * with its base URL; dispose of it (`await using`) to stop it.
 *
 * @module
 */

/** Serves `handler` on 127.0.0.1; `url` is `http://127.0.0.1:<port>`. */
export function serve(
  handler: (request: Request) => Response | Promise<Response>,
): Deno.HttpServer<Deno.NetAddr> & { url: string } {
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    handler,
  );
  return Object.assign(server, {
    url: `http://127.0.0.1:${server.addr.port}`,
  });
}
