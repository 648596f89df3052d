/**
 * Building audit records: the one function every owner of a change calls,
 * so each record has the same shape (who, what, which resource, request id,
 * result, new version).
 *
 * @module
 */

import type { Caller } from "../identity/authorize.ts";
import type { AuditRecord, AuditStore } from "./mod.ts";

/** The facts of one audited action; `time` defaults to now. */
export interface AuditEntry {
  actor: string;
  action: string;
  resource: string;
  requestId: string;
  result?: AuditRecord["result"];
  version?: number | null;
  detail?: Record<string, unknown>;
  time?: string;
}

/** Appends one audit record. */
export function recordAudit(
  audit: AuditStore,
  entry: AuditEntry,
): Promise<number> {
  return audit.append({
    time: entry.time ?? new Date().toISOString(),
    actor: entry.actor,
    action: entry.action,
    resource: entry.resource,
    requestId: entry.requestId,
    result: entry.result ?? "ok",
    version: entry.version ?? null,
    detail: entry.detail ?? {},
  });
}

/** The change context (actor, request, now) of a caller's change, for versions. */
export function changeBy(
  caller: Caller,
): { actor: string; requestId: string; time: string } {
  return {
    actor: caller.identity.user,
    requestId: caller.requestId,
    time: new Date().toISOString(),
  };
}

/** Appends the audit record of a caller's successful action. */
export function auditBy(
  audit: AuditStore,
  caller: Caller,
  entry: {
    action: string;
    resource: string;
    version?: number;
    detail?: object;
  },
): Promise<number> {
  return recordAudit(audit, {
    actor: caller.identity.user,
    action: entry.action,
    resource: entry.resource,
    requestId: caller.requestId,
    ...(entry.version !== undefined ? { version: entry.version } : {}),
    ...(entry.detail
      ? { detail: entry.detail as Record<string, unknown> }
      : {}),
  });
}
