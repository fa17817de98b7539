import { KeyturnError } from '../../config/errors.js';
import { appendAudit as defaultAppendAudit } from '../auditor/audit-log.js';
import type { AppendAudit, AuditActor } from '../auditor/types.js';
import type { Queryable } from '../shared/db.js';
import { withTransaction } from './tx.js';

export interface IssuancePause {
  issuer: string;
  reason: string;
  pausedAt: string;
  pausedBy: AuditActor;
}

export interface PauseOptions {
  appendAudit?: AppendAudit;
  /** Recorded on the audit entry. Default `unspecified`. */
  policyVersion?: string;
}

// record_issued_tokens (db/migrations/1700000001000_issuance-commit-secret.sql) takes the same key.
const LOCK = `hashtextextended('keyturn.issuance:' || $1, 0)`;

/**
 * Issuance holds this lock shared from its pause check until its tokens are recorded; pausing takes
 * it exclusively. So when pauseIssuance returns, every issuance already past its check has committed
 * and no later token is handed out (one signed meanwhile is dropped unrecorded).
 */
export async function lockIssuanceShared(tx: Queryable, issuer: string): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock_shared(${LOCK})`, [issuer]);
}

/** Stops all issuance for `issuer` until resumed (incident containment). Pausing a paused issuer keeps the first pause. */
export async function pauseIssuance(db: Queryable, issuer: string, reason: string, actor: AuditActor, opts: PauseOptions = {}): Promise<IssuancePause> {
  if (typeof reason !== 'string' || reason.length < 1 || reason.length > 2048) {
    throw new KeyturnError('PAUSE_INVALID', 'a pause needs a reason of 1–2048 characters', 'Say why issuance stops; it is shown to operators and audited.');
  }
  return withTransaction(db, async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(${LOCK})`, [issuer]);
    await tx.query(`INSERT INTO issuance_pauses (issuer, reason, paused_by) VALUES ($1, $2, $3::jsonb) ON CONFLICT (issuer) DO NOTHING`, [issuer, reason, JSON.stringify(actor)]);
    const pause = (await getPause(tx, issuer))!;
    await (opts.appendAudit ?? defaultAppendAudit)(tx, {
      actor,
      action: 'issuance.pause',
      subject: { issuer },
      policyVersion: opts.policyVersion ?? 'unspecified',
      outcome: 'ok',
      details: { reason },
    });
    return pause;
  });
}

/** Lets issuance for `issuer` continue. True when it was paused. */
export async function resumeIssuance(db: Queryable, issuer: string, actor: AuditActor, opts: PauseOptions = {}): Promise<boolean> {
  return withTransaction(db, async (tx) => {
    const res = await tx.query(`DELETE FROM issuance_pauses WHERE issuer = $1`, [issuer]);
    const wasPaused = res.rowCount === 1;
    await (opts.appendAudit ?? defaultAppendAudit)(tx, {
      actor,
      action: 'issuance.resume',
      subject: { issuer },
      policyVersion: opts.policyVersion ?? 'unspecified',
      outcome: 'ok',
      details: { wasPaused },
    });
    return wasPaused;
  });
}

export async function getPause(db: Queryable, issuer: string): Promise<IssuancePause | undefined> {
  const res = await db.query<{ issuer: string; reason: string; paused_at: Date; paused_by: AuditActor }>(
    `SELECT issuer, reason, paused_at, paused_by FROM issuance_pauses WHERE issuer = $1`,
    [issuer],
  );
  const r = res.rows[0];
  return r ? { issuer: r.issuer, reason: r.reason, pausedAt: r.paused_at.toISOString(), pausedBy: r.paused_by } : undefined;
}

export async function isPaused(db: Queryable, issuer: string): Promise<boolean> {
  return (await getPause(db, issuer)) !== undefined;
}
