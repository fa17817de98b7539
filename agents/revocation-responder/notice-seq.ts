import type { Queryable } from '../shared/db.js';
import type { RevocationEvent } from './notice.js';

/** The audit action that records the change each event reports. */
const ACTION_OF: Record<RevocationEvent, string> = {
  'revocation.contained': 'revocation.contained',
  'revocation.lifted': 'revocation.false_alarm',
  'revocation.confirmed': 'revocation.confirmed',
};

/** The changes that come after each event in a run: a containment's fallback seq stays before them. */
const LATER_ACTIONS: Record<RevocationEvent, string[]> = {
  'revocation.contained': ['revocation.false_alarm', 'revocation.confirmed'],
  'revocation.lifted': [],
  'revocation.confirmed': [],
};

/**
 * The seq a notice of `event` by the revocation workflow `workflowId` carries: the audit entry of
 * the change it reports (written by RevocationResponder in the change's own transaction, under the
 * audit log's append lock), so seqs follow the order in which the changes of one target committed.
 * With no such entry (the step changed nothing: a containment that had already lapsed when it was
 * lifted, a key already revoked for good), the run's own latest entry before any change that comes
 * after the event in a run: no later than the step, and later than anything the run had seen of the
 * target before it. Never the log's latest seq, which could be another run's later change.
 */
export async function noticeSeq(db: Queryable, workflowId: string, event: RevocationEvent): Promise<number> {
  const { rows } = await db.query<{ seq: string }>(
    `WITH run AS (SELECT seq, action, actor ->> 'role' AS role, outcome FROM audit_log WHERE actor ->> 'workflowId' = $1)
     SELECT coalesce(
       (SELECT max(seq) FROM run WHERE role = 'RevocationResponder' AND action = $2 AND outcome = 'ok'),
       (SELECT max(seq) FROM run WHERE seq < coalesce((SELECT min(seq) FROM run WHERE role = 'RevocationResponder' AND action = ANY ($3::text[]) AND outcome = 'ok'), 9223372036854775807)),
       1)::text AS seq`,
    [workflowId, ACTION_OF[event], LATER_ACTIONS[event]],
  );
  return Number(rows[0]!.seq);
}

/** The workflow a notice belongs to: its id is `<workflowId>:<event>` (workflows/revocation.ts). */
export function workflowOfNotice(noticeId: string): string {
  const at = noticeId.lastIndexOf(':');
  return at > 0 ? noticeId.slice(0, at) : noticeId;
}
