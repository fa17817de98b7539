import type { Queryable } from '../shared/db.js';
import { ENTRY_COLUMNS, rowToEntry, type AuditRow } from './rows.js';
import type { AuditEntry } from './types.js';

export interface ListAuditQuery {
  /** Only entries with seq greater than this (exclusive): the cursor for paging and `tail --follow`. */
  sinceSeq?: number;
  /** Only entries at or after this time. */
  since?: Date;
  /** Only entries whose actor ran in this workflow. */
  workflowId?: string;
  /** At most this many (default 1000, max 10000). */
  limit?: number;
  /** Take the newest `limit` entries instead of the oldest; the result is still in seq order. */
  newest?: boolean;
}

export const LIST_AUDIT_MAX = 10_000;

/** Audit entries in ascending seq order. */
export async function listAudit(db: Queryable, q: ListAuditQuery = {}): Promise<AuditEntry[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  if (q.sinceSeq !== undefined) where.push(`seq > $${values.push(q.sinceSeq)}`);
  if (q.since !== undefined) where.push(`at >= $${values.push(q.since.toISOString())}::timestamptz`);
  if (q.workflowId !== undefined) where.push(`actor ->> 'workflowId' = $${values.push(q.workflowId)}`);
  const limit = Math.min(Math.max(Math.trunc(q.limit ?? 1000), 0), LIST_AUDIT_MAX);
  const sql = `SELECT ${ENTRY_COLUMNS} FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY audit_log.seq ${q.newest ? 'DESC' : 'ASC'} LIMIT $${values.push(limit)}`;
  const { rows } = await db.query<AuditRow>(sql, values);
  const entries = rows.map(rowToEntry);
  return q.newest ? entries.reverse() : entries;
}
