import type { AuditEntry } from './types.js';

/** Columns selected for an entry; `at` as exact ISO text (ms precision, UTC) so it re-hashes identically. */
/** Careful: `seq` and `at` are aliased to text, so ORDER BY must say `audit_log.seq` / `audit_log.at`. */
export const ENTRY_COLUMNS = `seq::text AS seq,
  to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at,
  actor, action, subject, policy_version, outcome, details, request_id, prev_hash, hash`;

export interface AuditRow extends Record<string, unknown> {
  seq: string;
  at: string;
  actor: AuditEntry['actor'];
  action: string;
  subject: Record<string, string>;
  policy_version: string;
  outcome: AuditEntry['outcome'];
  details: Record<string, unknown>;
  request_id: string | null;
  prev_hash: string;
  hash: string;
}

export function rowToEntry(r: AuditRow): AuditEntry {
  const e: AuditEntry = {
    seq: Number(r.seq),
    at: r.at,
    actor: r.actor,
    action: r.action,
    subject: r.subject,
    policyVersion: r.policy_version,
    outcome: r.outcome,
    details: r.details,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
  if (r.request_id !== null) e.requestId = r.request_id;
  return e;
}
