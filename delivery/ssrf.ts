/**
 * Destination checks against server-side request forgery, on the addresses
 * a delivery URL resolves to (not just its text), plus a CIDR parser and
 * matcher for IPv4 and IPv6.
 *
 * Always refused: unspecified, "this network" (0.0.0.0/8), link-local
 * (169.254.0.0/16, fe80::/10), cloud metadata (169.254.169.254,
 * fd00:ec2::254, 100.100.100.200), multicast, broadcast and reserved
 * (240.0.0.0/4) addresses. Loopback (127.0.0.0/8, ::1) and private ranges
 * (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) pass only with
 * `allowPrivate` (subscriptions made by an admin) or when an operator
 * allow-list CIDR contains the address. IPv4-mapped IPv6 (`::ffff:a.b.c.d`)
 * is judged as the IPv4 address it maps.
 *
 * DNS rebinding: the delivery client (`client.ts`) runs this check again for
 * every connection it opens, with the subscription's `privateAllowed` as
 * `allowPrivate`, and connects to the address it checked, so a name rebound
 * after the subscription was checked gets no connection to an address the
 * subscription may not use. Behind an egress proxy (`HTTP_PROXY`), the proxy
 * resolves destinations and must enforce the same rules at
 * connect time. NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses that
 * embed a private IPv4 address are not unwrapped.
 *
 * @module
 */

/** An IP address as a number, with its family. */
export interface IpAddress {
  family: 4 | 6;
  /** 32 bits for IPv4, 128 for IPv6. */
  value: bigint;
}

/** A parsed CIDR block. */
export interface Cidr {
  family: 4 | 6;
  /** The network address (host bits cleared). */
  network: bigint;
  prefix: number;
  /** The text it was parsed from. */
  text: string;
}

/** Outcome of a destination check. */
export type DestinationCheck =
  | { ok: true; addresses: string[] }
  | {
    ok: false;
    code:
      | "invalid_url"
      | "scheme_not_allowed"
      | "unresolvable"
      | "forbidden_address"
      | "private_address";
    detail: string;
  };

/** Options of {@linkcode checkDestination}. */
export interface DestinationOptions {
  /** Allow loopback and private ranges (an admin's subscription). */
  allowPrivate?: boolean;
  /** Operator-allowed ranges: loopback/private addresses inside them pass. */
  allowCidrs?: readonly Cidr[];
  /** Resolves a host name; `Deno.resolveDns` A and AAAA by default. */
  resolve?: (hostname: string) => Promise<string[]>;
}

const BITS = { 4: 32, 6: 128 } as const;

/** Parses an IPv4 or IPv6 address (no zone, no brackets); null when invalid. */
export function parseIp(text: string): IpAddress | null {
  if (text.includes(":")) return parseIpv6(text);
  const v4 = parseIpv4(text);
  return v4 === null ? null : { family: 4, value: v4 };
}

function parseIpv4(text: string): bigint | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let value = 0n;
  for (const part of parts) {
    // Dotted decimal only: no octal, hex or leading zeros.
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return null;
    const n = Number(part);
    if (n > 255) return null;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseIpv6(text: string): IpAddress | null {
  let head = text;
  let tailV4: bigint | null = null;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    tailV4 = parseIpv4(text.slice(lastColon + 1));
    if (tailV4 === null) return null;
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = head.split("::");
  if (halves.length > 2) return null;
  const groupsOf = (s: string): string[] => s === "" ? [] : s.split(":");
  const left = groupsOf(halves[0] ?? "");
  const right = halves.length === 2 ? groupsOf(halves[1] ?? "") : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...left, ...Array(Math.max(missing, 0)).fill("0"), ...right];
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return null;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  if (tailV4 !== null) value = (value & ~0xffffffffn) | tailV4;
  return { family: 6, value };
}

/** Parses `a.b.c.d/n` or `x::y/n` (a bare address is a /32 or /128); null when invalid. */
export function parseCidr(text: string): Cidr | null {
  const trimmed = text.trim();
  const slash = trimmed.indexOf("/");
  const address = parseIp(slash < 0 ? trimmed : trimmed.slice(0, slash));
  if (address === null) return null;
  const max = BITS[address.family];
  let prefix: number = max;
  if (slash >= 0) {
    const p = trimmed.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > max) return null;
    prefix = Number(p);
  }
  return {
    family: address.family,
    network: address.value & mask(address.family, prefix),
    prefix,
    text: trimmed,
  };
}

/** Parses every CIDR; throws a `TypeError` naming the first invalid one. */
export function parseCidrs(texts: readonly string[]): Cidr[] {
  return texts.map((text) => {
    const cidr = parseCidr(text);
    if (cidr === null) throw new TypeError(`Invalid CIDR "${text}"`);
    return cidr;
  });
}

function mask(family: 4 | 6, prefix: number): bigint {
  const bits = BigInt(BITS[family]);
  const all = (1n << bits) - 1n;
  return (all << (bits - BigInt(prefix))) & all;
}

/** True when `address` lies in `cidr` (same family only). */
export function cidrContains(cidr: Cidr, address: IpAddress): boolean {
  return cidr.family === address.family &&
    (address.value & mask(cidr.family, cidr.prefix)) === cidr.network;
}

/** How an address is treated. */
export type AddressClass =
  | { kind: "public" }
  | { kind: "forbidden"; why: string }
  | { kind: "private"; why: string };

const c = (text: string): Cidr => parseCidr(text)!;

// Order matters: metadata addresses sit inside private ranges.
const FORBIDDEN: readonly [Cidr, string][] = [
  [c("169.254.169.254/32"), "a cloud metadata address"],
  [c("100.100.100.200/32"), "a cloud metadata address"],
  [c("fd00:ec2::254/128"), "a cloud metadata address"],
  [c("0.0.0.0/8"), "an unspecified address"],
  [c("::/128"), "an unspecified address"],
  [c("169.254.0.0/16"), "a link-local address"],
  [c("fe80::/10"), "a link-local address"],
  [c("224.0.0.0/4"), "a multicast address"],
  [c("ff00::/8"), "a multicast address"],
  [c("255.255.255.255/32"), "the broadcast address"],
  [c("240.0.0.0/4"), "a reserved address"],
];

const PRIVATE: readonly [Cidr, string][] = [
  [c("127.0.0.0/8"), "a loopback address"],
  [c("::1/128"), "a loopback address"],
  [c("10.0.0.0/8"), "a private address"],
  [c("172.16.0.0/12"), "a private address"],
  [c("192.168.0.0/16"), "a private address"],
  [c("100.64.0.0/10"), "a shared (carrier-grade NAT) address"],
  [c("fc00::/7"), "a unique-local address"],
];

const MAPPED = c("::ffff:0:0/96");

/** The IPv4 address an IPv4-mapped IPv6 address stands for, else `address`. */
export function unmapped(address: IpAddress): IpAddress {
  return cidrContains(MAPPED, address)
    ? { family: 4, value: address.value & 0xffffffffn }
    : address;
}

/** Classifies an address; IPv4-mapped IPv6 is judged as its IPv4 address. */
export function classifyAddress(address: IpAddress): AddressClass {
  const subject = unmapped(address);
  for (const [cidr, why] of FORBIDDEN) {
    if (cidrContains(cidr, subject)) return { kind: "forbidden", why };
  }
  for (const [cidr, why] of PRIVATE) {
    if (cidrContains(cidr, subject)) return { kind: "private", why };
  }
  return { kind: "public" };
}

async function resolveDns(hostname: string): Promise<string[]> {
  const [a, aaaa] = await Promise.allSettled([
    Deno.resolveDns(hostname, "A"),
    Deno.resolveDns(hostname, "AAAA"),
  ]);
  return [
    ...(a.status === "fulfilled" ? a.value : []),
    ...(aaaa.status === "fulfilled" ? aaaa.value : []),
  ];
}

/**
 * Checks a delivery or liveness URL: http(s) only, and every address its
 * host resolves to must be allowed. `localhost` and `*.localhost` are
 * loopback without asking DNS (RFC 6761).
 */
export async function checkDestination(
  url: string,
  options: DestinationOptions = {},
): Promise<DestinationCheck> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, code: "invalid_url", detail: `"${url}" is not a URL` };
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return {
      ok: false,
      code: "scheme_not_allowed",
      detail: `Scheme "${
        parsed.protocol.slice(0, -1)
      }" is not allowed; use http or https`,
    };
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
  let addresses: string[];
  if (parseIp(host) !== null) {
    addresses = [host];
  } else if (host === "localhost" || host.endsWith(".localhost")) {
    addresses = ["127.0.0.1", "::1"];
  } else {
    try {
      addresses = await (options.resolve ?? resolveDns)(host);
    } catch {
      addresses = [];
    }
    if (addresses.length === 0) {
      return {
        ok: false,
        code: "unresolvable",
        detail: `Host "${host}" has no A or AAAA record`,
      };
    }
  }
  for (const text of addresses) {
    const address = parseIp(text);
    if (address === null) {
      return {
        ok: false,
        code: "unresolvable",
        detail:
          `Host "${host}" resolved to "${text}", which is not an IP address`,
      };
    }
    const verdict = classifyAddress(address);
    const via = text === host ? "" : ` (resolved from "${host}")`;
    if (verdict.kind === "forbidden") {
      return {
        ok: false,
        code: "forbidden_address",
        detail:
          `Address "${text}"${via} is ${verdict.why}; deliveries there are never allowed`,
      };
    }
    if (
      verdict.kind === "private" && !options.allowPrivate &&
      !(options.allowCidrs ?? []).some((cidr) =>
        cidrContains(cidr, address) || cidrContains(cidr, unmapped(address))
      )
    ) {
      return {
        ok: false,
        code: "private_address",
        detail:
          `Address "${text}"${via} is ${verdict.why}; only admins or operator-allowed ranges may deliver there`,
      };
    }
  }
  return { ok: true, addresses };
}
