import { recordedEntry, recordedVotes } from '../agents/auditor/recorded-sign-off.js';
import { tally } from '../agents/approvals/quorum.js';
import type { ApprovalPolicy } from '../agents/planner/policy-types.js';
import type { Queryable } from '../agents/shared/db.js';
import { KeyturnError } from '../config/errors.js';
import { actorFor, requestIdFor } from './context.js';

/**
 * Effects that follow a sign-off act only on what this run's own activities recorded in the audit
 * log: its plan, and the votes its sign-off check accepted for that plan. The workflow's word for
 * them comes from Temporal history, where someone with access to the namespace but not to keyturn's
 * keys could have answered the check with an encrypted result copied from another run.
 */
async function recordedSignOff(db: Queryable, planActions: readonly string[], decision: 'approve' | 'reject') {
  const { workflowId, runId } = actorFor('Auditor');
  const entries = await Promise.all(planActions.map((action) => recordedEntry(db, requestIdFor('plan'), action)));
  const planned = entries.find((e) => e?.outcome === 'ok')?.details;
  const planHash = typeof planned?.planHash === 'string' ? planned.planHash : undefined;
  const votes = planHash === undefined ? [] : await recordedVotes(db, { workflowId: workflowId ?? '', runId: runId ?? '' }, planHash, decision);
  return { planned, votes };
}

const notRecorded = (what: string) =>
  new KeyturnError('SIGN_OFF_NOT_RECORDED', `${what} was recorded by this run's sign-off check`, 'Decide again from Slack or with `keyturn approve` / `keyturn reject`; if this persists, someone may be answering keyturn activities outside its workers.');

/** A rejection of this run's recorded plan, accepted and recorded by its own check. */
export async function requireRecordedRejection(db: Queryable, planActions: readonly string[]): Promise<void> {
  const { votes } = await recordedSignOff(db, planActions, 'reject');
  if (votes.length === 0) throw notRecorded('no rejection');
}

/** Approvals of this run's recorded plan that meet the approvals the plan entry pinned (at least one for plans recorded without them). */
export async function requireRecordedApproval(db: Queryable, planActions: readonly string[]): Promise<void> {
  const { planned, votes } = await recordedSignOff(db, planActions, 'approve');
  const pinned = planned?.approvals as ApprovalPolicy | undefined;
  const met = pinned ? tally(votes, pinned.quorum, pinned) === 'approved' : votes.length > 0;
  if (!met) throw notRecorded('no approval meeting the quorum');
}
