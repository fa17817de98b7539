import type { Queryable } from '../shared/db.js';
import type { RevocationEvent } from './notice.js';

/** The audit action that records the change each event reports. */
const ACTION_OF: Record<RevocationEvent, string> = {
  'revocation.contained': 'revocation.contained',
  'revocation.lifted': 'revocation.false_alarm',
  'revocation.confirmed': 'revocation.confirmed',
};

/**
 * The seq a notice of `event` by the revocation workflow `workflowId` carries: the audit entry of
 * the change it reports (written by RevocationResponder in the change's own transaction, under the
 * audit log's append lock), so seqs follow the order in which the changes of one target committed.
 * With no such entry (the step changed nothing: a containment that had already lapsed when it was
 * lifted, a key already revoked for good), the run's own latest entry: no later than the step, and
 * later than anything the run had seen of the target before it. Never the log's latest seq, which
 * could be another run's later change of the same target.
 */
export async function noticeSeq(db: Queryable, workflowId: string, event: RevocationEvent): Promise<number> {
  const { rows } = await db.query<{ seq: string }>(
    `SELECT coalesce(
       (SELECT max(seq) FROM audit_log WHERE actor ->> 'workflowId' = $1 AND actor ->> 'role' = 'RevocationResponder' AND action = $2 AND outcome = 'ok'),
       (SELECT max(seq) FROM audit_log WHERE actor ->> 'workflowId' = $1),
       1)::text AS seq`,
    [workflowId, ACTION_OF[event]],
  );
  return Number(rows[0]!.seq);
}

/** The workflow a notice belongs to: its id is `<workflowId>:<event>` (workflows/revocation.ts). */
export function workflowOfNotice(noticeId: string): string {
  const at = noticeId.lastIndexOf(':');
  return at > 0 ? noticeId.slice(0, at) : noticeId;
}
