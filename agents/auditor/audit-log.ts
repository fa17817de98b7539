import type { Clock } from '../shared/clock.js';
import { withTransaction, type Queryable } from '../shared/db.js';
import { KeyturnError } from '../../config/errors.js';
import { canonicalJson, normalizeJson } from './canonical-json.js';
import { entryHash, GENESIS_HASH } from './chain.js';
import { validateEntryInput } from './entry-schema.js';
import { ENTRY_COLUMNS, rowToEntry, type AuditRow } from './rows.js';
import type { AppendAudit, AuditEntry, AuditEntryInput } from './types.js';

/** pg_advisory_xact_lock key serialising every append (and nothing else): "keyturn audit" in spirit. */
export const AUDIT_APPEND_LOCK = 7_201_604_240_001n;

export interface AppendAuditOptions {
  /** Source of `at`. Default: the database clock, read after the lock, so `at` never goes backwards along seq. */
  clock?: Clock;
}

/**
 * A retry finds the entry its first attempt wrote, by request id. Request ids are predictable, so an
 * entry someone else wrote under one first must not stand in for a different record: the action and
 * subject must be the ones asked for (the details may differ between attempts).
 */
function sameRecord(existing: AuditEntry, input: AuditEntryInput): AuditEntry {
  if (existing.action === input.action && canonicalJson(existing.subject) === canonicalJson(normalizeJson(input.subject))) return existing;
  throw new KeyturnError(
    'AUDIT_REQUEST_ID_CONFLICT',
    `audit entry ${existing.seq} already holds request id ${input.requestId} for ${existing.action}, not for ${input.action}`,
    'Someone appended an entry under this step\'s request id: investigate who can write audit_log; nothing was recorded for this step.',
    { seq: existing.seq },
  );
}

/**
 * Builds an appender. The entry is written inside the caller's transaction: the advisory lock is
 * held until that transaction ends, so concurrent appends get consecutive seqs and the chain never
 * forks. Given a bare pg.Pool it opens its own transaction. Use READ COMMITTED (the default): the
 * head is read after the lock, which needs a fresh snapshot.
 */
export function createAppendAudit(opts: AppendAuditOptions = {}): AppendAudit {
  const append = async (db: Queryable, input: AuditEntryInput): Promise<AuditEntry> => {
    validateEntryInput(input);
    await db.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_APPEND_LOCK.toString()]);

    if (input.requestId !== undefined) {
      const existing = await db.query<AuditRow>(`SELECT ${ENTRY_COLUMNS} FROM audit_log WHERE request_id = $1`, [input.requestId]);
      if (existing.rows[0]) return sameRecord(rowToEntry(existing.rows[0]), input);
    }

    const head = await db.query<{ seq: string | null; hash: string | null; now: string }>(
      `SELECT h.seq::text AS seq, h.hash,
              to_char(date_trunc('milliseconds', clock_timestamp()) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS now
         FROM (SELECT 1) one
         LEFT JOIN LATERAL (SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1) h ON true`,
    );
    const h = head.rows[0]!;
    const entry: Omit<AuditEntry, 'hash'> = {
      seq: h.seq === null ? 1 : Number(h.seq) + 1,
      at: opts.clock ? opts.clock.now().toISOString() : h.now,
      actor: normalizeJson(input.actor),
      action: input.action,
      subject: normalizeJson(input.subject),
      policyVersion: input.policyVersion,
      outcome: input.outcome,
      details: normalizeJson(input.details ?? {}),
      prevHash: h.hash ?? GENESIS_HASH,
    };
    if (input.requestId !== undefined) entry.requestId = input.requestId;
    const hash = entryHash(entry);

    await db.query(
      `INSERT INTO audit_log (seq, at, actor, action, subject, policy_version, outcome, details, request_id, prev_hash, hash)
       VALUES ($1, $2::timestamptz, $3::jsonb, $4, $5::jsonb, $6, $7, $8::jsonb, $9, $10, $11)`,
      [entry.seq, entry.at, JSON.stringify(entry.actor), entry.action, JSON.stringify(entry.subject), entry.policyVersion, entry.outcome, JSON.stringify(entry.details), input.requestId ?? null, entry.prevHash, hash],
    );
    return { ...entry, hash };
  };

  return (db, input) => withTransaction(db, (tx) => append(tx, input));
}

/** Appends one entry inside the caller's transaction (see createAppendAudit); `at` comes from the database clock. */
export const appendAudit: AppendAudit = createAppendAudit();
