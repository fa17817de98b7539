import { personOf, samePerson } from '../planner/people.js';
import type { ApprovalPolicy } from '../planner/policy-types.js';

export interface Vote {
  approver: string;
  decision: 'approve' | 'reject';
  channel: string;
  at: string;
  reason?: string;
  /** The policy-listed user group through which the channel found this approver allowed. */
  viaGroup?: string;
}

export type Refusal = 'not-an-approver' | 'self-approval' | 'already-voted' | 'decided';

/**
 * The sign-off rules, pure: approvers must be listed by the policy (directly, or through a group the
 * channel resolved), may not approve their own request, count once each; the first terminal
 * decision wins.
 */
export function refuseVote(vote: Vote, state: { votes: Vote[]; requester: string; decided: boolean }, policy: ApprovalPolicy): Refusal | undefined {
  if (state.decided) return 'decided';
  const listed = policy.approvers.includes(vote.approver) || (vote.channel === 'slack' && vote.viaGroup !== undefined && policy.approvers.includes(vote.viaGroup));
  if (!listed) return 'not-an-approver';
  if (samePerson(policy, vote.approver, state.requester)) return 'self-approval';
  if (state.votes.some((v) => samePerson(policy, v.approver, vote.approver))) return 'already-voted';
  return undefined;
}

export function tally(votes: Vote[], quorum: number, policy: Pick<ApprovalPolicy, 'people'> = {}): 'approved' | 'rejected' | 'pending' {
  if (votes.some((v) => v.decision === 'reject')) return 'rejected';
  const distinct = new Set(votes.filter((v) => v.decision === 'approve').map((v) => personOf(policy, v.approver)));
  return distinct.size >= quorum ? 'approved' : 'pending';
}
