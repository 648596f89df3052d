/**
 * The HTTP client couriers deliver with: two undici `Agent`s (keep-alive
 * pools per origin, no redirects followed) — one for subscriptions that may
 * reach loopback and private addresses, one for those that may not — whose
 * connections are opened by Miranda itself, so the address a connection goes
 * to is one the SSRF rules were checked against at that moment, not only
 * when the subscription was made.
 *
 * Why undici rather than `fetch`: `fetch` offers no hook at connect time, and
 * undici is a little faster here — six rounds of
 * `deno run -A bench/probes/client_stacks.ts` (64 requests in flight to a
 * loopback sink) gave 7,200–10,800 requests/s (median 8,900) against
 * 6,800–8,400 (median 8,000) for `fetch`.
 *
 * Every connection resolves the host again and refuses addresses that are
 * never allowed (cloud metadata, link-local, unspecified, multicast,
 * reserved) before connecting to the checked address; a name rebound to such
 * an address after the subscription was checked gets no connection. Loopback
 * and private ranges pass only through the dispatcher for subscriptions that
 * may use them (`privateAllowed`) or inside the operator's allowed ranges.
 *
 * An egress proxy: with `HTTP_PROXY`, `HTTPS_PROXY` (or their lower-case
 * forms) set, deliveries go through it (`NO_PROXY` names the exceptions), as
 * they did through `fetch`; the proxy then resolves destinations and is
 * where rebinding is caught.
 *
 * Timers: undici runs timeouts longer than a second on a shared ticking
 * timer that outlives `close()` by up to a second. By default (tests, the
 * bench) every timeout here is a second or less (or off: the attempt's own
 * deadline covers the answer), so closing the client leaves no timer behind;
 * the node keeps idle connections for its `deliveryKeepAliveMs` (4 s by
 * default), so a subscription receiving an event every few seconds does not
 * reconnect each time.
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import {
  Agent,
  type buildConnector,
  type Dispatcher,
  EnvHttpProxyAgent,
} from "undici";
import { checkDestination, type Cidr } from "./ssrf.ts";

/**
 * How long an idle connection is kept open by default, in ms: undici runs
 * longer timeouts on its shared ticking timer, which outlives `close()` by up
 * to a second; the node passes its configured `deliveryKeepAliveMs`.
 */
export const KEEP_ALIVE_MS = 1_000;
/** Deadline for opening a connection (TCP and TLS), in ms. */
export const CONNECT_TIMEOUT_MS = 10_000;

/** A delivery client; close it once no courier uses it. */
export interface DeliveryClient extends AsyncDisposable {
  /**
   * What a subscription's requests go through: one whose connections may
   * reach loopback and private addresses, or one whose may not.
   */
  dispatcher(privateAllowed: boolean): Dispatcher;
  /** Closes every pooled connection. */
  close(): Promise<void>;
}

/** Options of {@linkcode createDeliveryClient}. */
export interface DeliveryClientOptions {
  /** Operator-allowed ranges, as for {@linkcode checkDestination}. */
  allowCidrs?: readonly Cidr[];
  /** Resolves a host name; `Deno.resolveDns` A and AAAA by default. */
  resolve?: (hostname: string) => Promise<string[]>;
  /** PEM certificates to trust for https instead of the default roots. */
  ca?: string[];
  /** Idle keep-alive, in ms; {@linkcode KEEP_ALIVE_MS} by default. */
  keepAliveMs?: number;
  /** Proxy settings; `Deno.env` by default. */
  env?: { get(name: string): string | undefined };
  /**
   * Most connections open to one origin (scheme, host, port) at once; more
   * requests wait for one of them. Unbounded by default.
   */
  connectionsPerOrigin?: number;
}

const PROXY_VARIABLES = [
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "http_proxy",
  "https_proxy",
];

/** A client whose connections go only to addresses checked as they open. */
export function createDeliveryClient(
  options: DeliveryClientOptions = {},
): DeliveryClient {
  const timeouts = {
    headersTimeout: 0,
    bodyTimeout: 0,
    keepAliveTimeout: options.keepAliveMs ?? KEEP_ALIVE_MS,
    keepAliveMaxTimeout: options.keepAliveMs ?? KEEP_ALIVE_MS,
    ...(options.connectionsPerOrigin === undefined
      ? {}
      : { connections: options.connectionsPerOrigin }),
  };
  const env = options.env ?? Deno.env;
  const proxied = PROXY_VARIABLES.some((name) => env.get(name));
  const make = (allowPrivate: boolean): Dispatcher => {
    const connect: buildConnector.connector = (opts, callback) => {
      open(opts, allowPrivate, options).then(
        (socket) => callback(null, socket),
        (error) => callback(error as Error, null),
      );
    };
    return proxied
      ? new EnvHttpProxyAgent({
        ...timeouts,
        connect,
        ...proxySettings(env),
        ...(options.ca ? { requestTls: { ca: options.ca } } : {}),
      })
      : new Agent({ ...timeouts, connect });
  };
  const lenient = make(true);
  const strict = make(false);
  const close = async () => {
    await Promise.all([lenient.close(), strict.close()]);
  };
  return {
    dispatcher: (privateAllowed) => privateAllowed ? lenient : strict,
    close,
    [Symbol.asyncDispose]: close,
  };
}

function proxySettings(
  env: { get(name: string): string | undefined },
): { httpProxy?: string; httpsProxy?: string; noProxy?: string } {
  const read = (name: string) => env.get(name.toLowerCase()) ?? env.get(name);
  const httpProxy = read("HTTP_PROXY");
  const httpsProxy = read("HTTPS_PROXY");
  const noProxy = read("NO_PROXY");
  return {
    ...(httpProxy ? { httpProxy } : {}),
    ...(httpsProxy ? { httpsProxy } : {}),
    ...(noProxy ? { noProxy } : {}),
  };
}

async function open(
  opts: buildConnector.Options,
  allowPrivate: boolean,
  options: DeliveryClientOptions,
): Promise<net.Socket> {
  const secure = opts.protocol === "https:";
  const check = await checkDestination(`${opts.protocol}//${opts.hostname}/`, {
    allowPrivate,
    allowCidrs: options.allowCidrs ?? [],
    ...(options.resolve ? { resolve: options.resolve } : {}),
  });
  if (!check.ok) throw new Error(check.detail);
  const host = opts.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(opts.port) || (secure ? 443 : 80);
  let last: unknown = null;
  for (const address of check.addresses) {
    try {
      return await connectTo(address, port, secure ? host : null, options);
    } catch (error) {
      last = error;
    }
  }
  throw last ?? new Error(`No address to connect to for "${host}"`);
}

/** One connection to `address`; TLS with SNI and checks for `serverName`. */
function connectTo(
  address: string,
  port: number,
  serverName: string | null,
  options: DeliveryClientOptions,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket: net.Socket = serverName === null
      ? net.connect({ host: address, port })
      : tls.connect({
        host: address,
        port,
        ...(net.isIP(serverName) ? {} : { servername: serverName }),
        checkServerIdentity: (_, cert) =>
          tls.checkServerIdentity(serverName, cert),
        ALPNProtocols: ["http/1.1"],
        ...(options.ca ? { ca: options.ca } : {}),
      });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`No connection within ${CONNECT_TIMEOUT_MS} ms`));
    }, CONNECT_TIMEOUT_MS);
    const ready = serverName === null ? "connect" : "secureConnect";
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.off("error", onError);
      resolve(socket);
    });
    const onError = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    socket.once("error", onError);
  });
}
