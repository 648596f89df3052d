/**
 * Versioned settings in the SQLite store: a change makes version n+1 of a
 * record, checked against the version the caller last saw, and its snapshot
 * goes to `resource_versions` (users, topics, subscriptions alike).
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import type { ChangeContext } from "../mod.ts";

/** Writes one version row: who changed what, when, under which request. */
export type VersionWriter = (
  entry: {
    kind: string;
    id: string;
    version: number;
    change: ChangeContext;
    snapshot: unknown;
  },
) => void;

/** A {@linkcode VersionWriter} on `db`, its statement prepared once. */
export function versionWriter(db: DatabaseSync): VersionWriter {
  const insert = db.prepare(
    "INSERT INTO resource_versions (kind, id, version, time, actor, request_id, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?)",
  );
  return ({ kind, id, version, change, snapshot }) => {
    insert.run(
      kind,
      id,
      version,
      change.time,
      change.actor,
      change.requestId,
      JSON.stringify(snapshot),
    );
  };
}

/**
 * Version n+1 of `current` with the fields `patch` defines (an `undefined`
 * field keeps its value; `null` is a value), or why there is none.
 */
export function nextVersion<T extends { version: number }>(
  current: T | null,
  patch: { [K in keyof T]?: T[K] },
  expectedVersion: number | undefined,
): { ok: true; next: T } | {
  ok: false;
  code: "not_found" | "version_conflict";
} {
  if (current === null) return { ok: false, code: "not_found" };
  if (expectedVersion !== undefined && expectedVersion !== current.version) {
    return { ok: false, code: "version_conflict" };
  }
  const defined = Object.fromEntries(
    Object.entries(patch).filter(([, value]) => value !== undefined),
  );
  return {
    ok: true,
    next: { ...current, ...defined, version: current.version + 1 },
  };
}
