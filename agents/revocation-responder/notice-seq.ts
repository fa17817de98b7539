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
 * the change it reports, which was appended in the change's own transaction, under the audit log's
 * append lock, so seqs follow the order in which the changes of one target committed. With no such
 * entry (nothing changed: a kid already revoked for good, say), the log's latest seq, which is later
 * than any change already made.
 */
export async function noticeSeq(db: Queryable, workflowId: string, event: RevocationEvent): Promise<number> {
  const { rows } = await db.query<{ seq: string }>(
    `SELECT coalesce(
       (SELECT max(seq) FROM audit_log WHERE actor ->> 'workflowId' = $1 AND action = $2 AND outcome = 'ok'),
       (SELECT max(seq) FROM audit_log),
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
