import { issuersWithLiveTokens } from '../token-issuer/issued-tokens.js';
import type { Queryable } from '../shared/db.js';
import { REVOCATION_EVENTS } from './notice.js';
import { workflowOfNotice } from './notice-seq.js';

/** The outcomes that end an owed notice; the last three are written once (unique index revocation_deliveries_ended_once). */
const ENDED = `('delivered', 'superseded', 'abandoned', 'withdrawn')`;
/** The ON CONFLICT clause that lets a second writer of an ending outcome do nothing. */
export const ENDED_ONCE = `ON CONFLICT (notice_jti, subscriber_id) WHERE outcome IN ('superseded', 'abandoned', 'withdrawn') DO NOTHING`;

/** SQL: the notice `n` (a revocation_notices row) has no ending outcome yet. */
export const UNENDED = `NOT EXISTS (
  SELECT 1 FROM revocation_deliveries e
  WHERE e.notice_jti = n.notice_jti AND e.subscriber_id = n.subscriber_id AND e.outcome IN ${ENDED})`;

export const WITHDRAWN_BECAUSE = 'the subscriber is no longer told of the issuers this notice concerns';

/** Ends one owed notice as superseded, abandoned or withdrawn. False when it was already ended so. */
export async function endOwedNotice(db: Queryable, n: { subscriberId: string; jti: string; event: string }, outcome: 'superseded' | 'abandoned' | 'withdrawn', why: string): Promise<boolean> {
  const ins = await db.query(`INSERT INTO revocation_deliveries (subscriber_id, notice_jti, event, outcome, error) VALUES ($1, $2, $3, $4, $5) ${ENDED_ONCE} RETURNING id`, [n.subscriberId, n.jti, n.event, outcome, why]);
  return ins.rowCount === 1;
}

/**
 * Records the issuers a jti or sub revocation run's containment concerns: its own issuer and every
 * issuer with live tokens of the target (a sub's tokens issued before its cutoff only). Called in
 * the containment's transaction, so a run that contained its target has them recorded even when no
 * subscriber was owed its notice. The first record of a run stands (a retry changes nothing).
 */
export async function recordRunConcerns(db: Queryable, workflowId: string, n: { kind: 'jti' | 'sub'; value: string; before?: string; issuer: string }): Promise<void> {
  const live = await issuersWithLiveTokens(db, n.kind, n.value, n.before);
  await db.query(`INSERT INTO revocation_run_concerns (workflow_id, concerns) VALUES ($1, $2) ON CONFLICT (workflow_id) DO NOTHING`, [
    workflowId,
    [...new Set([n.issuer, ...live])].sort(),
  ]);
}

/**
 * The issuers a jti or sub notice concerns: the deny-list is not per issuer, so every issuer with
 * live tokens of the target (a sub's tokens issued before its cutoff only), every issuer the run's
 * containment concerned (revocation_run_concerns), and every issuer the run's earlier notices
 * concerned (revocation_notices.concerns; NULL is the notice's own issuer). Once the tokens expire,
 * a run's later notices still reach the subscribers of the issuers its containment concerned,
 * registered since it or not.
 */
export async function noticeConcerns(db: Queryable, n: { kind: 'jti' | 'sub'; value: string; before?: string; noticeId: string }): Promise<string[]> {
  const workflowId = workflowOfNotice(n.noticeId);
  const { rows } = await db.query<{ issuer: string }>(
    `SELECT c AS issuer FROM revocation_notices n, unnest(coalesce(n.concerns, ARRAY[n.issuer])) AS c WHERE n.notice_jti = ANY ($1::text[])
     UNION SELECT c FROM revocation_run_concerns r, unnest(r.concerns) AS c WHERE r.workflow_id = $2`,
    [REVOCATION_EVENTS.map((event) => `${workflowId}:${event}`), workflowId],
  );
  const live = await issuersWithLiveTokens(db, n.kind, n.value, n.before);
  return [...new Set([...live, ...rows.map((r) => r.issuer)])].sort();
}
