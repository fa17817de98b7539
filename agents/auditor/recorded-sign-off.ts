import type { Vote } from '../approvals/quorum.js';
import type { Queryable } from '../shared/db.js';

/** A run, as the audit log names it. */
export interface RunRef {
  workflowId: string;
  runId: string;
}

interface VoteRow {
  at: Date;
  actor: { cliUser?: string; slackUser?: string };
  details: { channel?: string; reason?: string; viaGroup?: string; viaGroups?: string[] };
}

/**
 * The votes of `decision` that this run's sign-off check accepted and recorded for `planHash`.
 * Effects that follow a sign-off count these, never the votes the workflow passes along: those
 * come from Temporal history, where someone with access to the namespace (but not to keyturn's
 * keys) could have put an encrypted check result copied from another run.
 */
export async function recordedVotes(db: Queryable, run: RunRef, planHash: string, decision: 'approve' | 'reject'): Promise<Vote[]> {
  const { rows } = await db.query<VoteRow & Record<string, unknown>>(
    `SELECT at, actor, details FROM audit_log
      WHERE action = $1 AND outcome = 'ok' AND subject ->> 'workflowId' = $2 AND actor ->> 'runId' = $3 AND subject ->> 'planHash' = $4
      ORDER BY seq`,
    [`approval.${decision}`, run.workflowId, run.runId, planHash],
  );
  return rows.flatMap((r): Vote[] => {
    const approver = r.actor.cliUser ?? r.actor.slackUser;
    if (approver === undefined || r.details.channel === undefined) return [];
    return [{
      approver, decision, channel: r.details.channel, at: new Date(r.at).toISOString(),
      ...(r.details.reason ? { reason: r.details.reason } : {}),
      ...(r.details.viaGroup ? { viaGroup: r.details.viaGroup } : {}),
      ...(r.details.viaGroups?.length ? { viaGroups: r.details.viaGroups } : {}),
    }];
  });
}

/** The entry `requestId` recorded for `action`, if any: a run's own step, found by its request id. */
export async function recordedEntry(db: Queryable, requestId: string, action: string): Promise<{ outcome: string; subject: Record<string, unknown>; details: Record<string, unknown> } | undefined> {
  const { rows } = await db.query<{ outcome: string; subject: Record<string, unknown>; details: Record<string, unknown> }>(
    'SELECT outcome, subject, details FROM audit_log WHERE request_id = $1 AND action = $2',
    [requestId, action],
  );
  return rows[0];
}
