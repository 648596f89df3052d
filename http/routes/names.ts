/**
 * The documented name patterns of the API, one schema each, so every route
 * validates names alike: users, groups, topics.
 *
 * @module
 */

import { z } from "@hono/zod-openapi";

/** User names: 1–64 of lower-case letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const USER_NAME = z.string().min(1).max(64).regex(
  /^[a-z0-9][a-z0-9._-]*$/,
  "Use 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit",
);

/** Group names: the same pattern as user names. */
export const GROUP_NAME = USER_NAME;

const TOPIC_PATTERN = /^[a-z0-9][a-z0-9._-]*$/;
const TOPIC_MAX = 128;

/** Topic names: 1–128 of lower-case letters, digits, `.`, `_`, `-`, starting with a letter or digit (no `/`). */
export const TOPIC_NAME = z.string().min(1).max(TOPIC_MAX).regex(
  TOPIC_PATTERN,
  "Use 1-128 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit",
);

/** Whether `name` is a valid topic name: {@linkcode TOPIC_NAME} without zod, for the publish path. */
export function isTopicName(name: string): boolean {
  return name.length <= TOPIC_MAX && TOPIC_PATTERN.test(name);
}
