/**
 * What a courier sends for one event: the URL (the subscription URL with the
 * event's path and query appended) and the headers (the event's kept
 * headers, the subscription's extra headers, then Miranda's own).
 *
 * The headers are a list of name/value pairs, which undici takes as they
 * are (flattened); they were pairs already when deliveries went through
 * `fetch`, which converts a `Headers` object entry by entry again.
 *
 * @module
 */

import type { EventRecord } from "../store/mod.ts";

// Hop-by-hop headers, and `expect`, which undici refuses.
const DROPPED = new Set([
  "connection",
  "content-length",
  "expect",
  "host",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

// RFC 9110 §5.6.2 token characters.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Leading and trailing HTTP whitespace, stripped from values (as fetch does).
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
// What undici refuses in a value: control characters but tab, beyond Latin-1.
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * The delivery URL of `event`: the subscription URL with the event's path
 * suffix appended to its path and the event's query appended to its query.
 */
export function deliveryUrl(
  subscriptionUrl: string,
  event: Pick<EventRecord, "path" | "query">,
): string {
  const withoutHash = subscriptionUrl.split("#", 1)[0] ?? "";
  const q = withoutHash.indexOf("?");
  let path = q < 0 ? withoutHash : withoutHash.slice(0, q);
  let query = q < 0 ? "" : withoutHash.slice(q + 1);
  if (event.path !== "") path = path.replace(/\/+$/, "") + event.path;
  if (event.query !== "") {
    query = query ? `${query}&${event.query}` : event.query;
  }
  return query ? `${path}?${query}` : path;
}

/** What {@linkcode deliveryHeaders} adds besides the event's own headers. */
export interface DeliveryHeaderOptions {
  /** The subscription's extra headers. */
  extra: Record<string, string>;
  topicName: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** `webhook-timestamp`, whole seconds since the epoch. */
  timestamp: number;
  /** `webhook-signature`. */
  signature: string;
}

/**
 * The headers of one delivery as name/value pairs, one per name (lower
 * case): the event's kept headers and content type, the subscription's extra
 * headers, then Miranda's own, a later one replacing an earlier one of the
 * same name, so Miranda's always win. Hop-by-hop headers, `expect`, and names
 * or values the HTTP client would refuse are dropped rather than failing
 * every attempt.
 */
export function deliveryHeaders(
  event: Pick<EventRecord, "headers" | "contentType" | "id">,
  options: DeliveryHeaderOptions,
): [string, string][] {
  const byName = new Map<string, string>();
  const put = (name: string, value: string): void => {
    const key = name.toLowerCase();
    if (DROPPED.has(key) || !TOKEN.test(name)) return;
    const stripped = value.replace(EDGE_WHITESPACE, "");
    if (BAD_VALUE.test(stripped)) return;
    byName.set(key, stripped);
  };
  for (const [name, value] of Object.entries(event.headers)) put(name, value);
  if (event.contentType !== null) put("content-type", event.contentType);
  for (const [name, value] of Object.entries(options.extra)) put(name, value);
  byName.set("webhook-id", event.id);
  byName.set("webhook-timestamp", String(options.timestamp));
  byName.set("webhook-signature", options.signature);
  byName.set("miranda-topic", options.topicName);
  byName.set("miranda-attempt", String(options.attempt));
  return [...byName];
}
