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
  /** Every such user group, when more than one (a policy change whose issuers list different ones). */
  viaGroups?: string[];
}

/** A Slack user group id (`S…`): the only kind of id a vote may count through. */
export const SLACK_USER_GROUP = /^S[A-Z0-9]+$/;

/** Listed directly, or through a user group a Slack vote came through (only the Slack app vouches for groups). */
function listedIn(vote: Vote, approvers: readonly string[]): boolean {
  if (approvers.includes(vote.approver)) return true;
  if (vote.channel !== 'slack') return false;
  return [vote.viaGroup, ...(vote.viaGroups ?? [])].some((g) => typeof g === 'string' && SLACK_USER_GROUP.test(g) && approvers.includes(g));
}

export type Refusal = 'not-an-approver' | 'self-approval' | 'already-voted' | 'decided';

/**
 * The sign-off rules, pure: approvers must be listed by the policy (directly, or through a group the
 * channel resolved), may not approve their own request, count once each; the first terminal
 * decision wins.
 */
export function refuseVote(vote: Vote, state: { votes: Vote[]; requester: string; decided: boolean }, policy: ApprovalPolicy): Refusal | undefined {
  if (state.decided) return 'decided';
  if (!listedIn(vote, policy.approvers)) return 'not-an-approver';
  if (samePerson(policy, vote.approver, state.requester)) return 'self-approval';
  if (state.votes.some((v) => samePerson(policy, v.approver, vote.approver))) return 'already-voted';
  return undefined;
}

/**
 * Whether a vote may reject a run pinned across several issuers' groups (a revocation reaching
 * several): only an approver of the group of `named`, the issuer the run is about, because a
 * rejection lifts the containment for every issuer. Without groups, any approver may.
 */
export function mayReject(vote: Vote, approvals: Pick<ApprovalPolicy, 'groups'>, named: string): boolean {
  if (!approvals.groups?.length) return true;
  const own = approvals.groups.find((g) => g.label === named);
  return own !== undefined && listedIn(vote, own.approvers);
}

/**
 * A vote checked against today's approvals of its run's issuer as well as the pinned ones: the
 * refusal names what today's policy no longer allows (the issuer, the channel, or the person).
 */
export function refuseVoteToday(vote: Vote, state: { votes: Vote[]; requester: string; decided: boolean }, today: ApprovalPolicy | undefined): string | undefined {
  if (!today) return 'issuer-not-in-current-policy';
  if (!(today.channels as readonly string[]).includes(vote.channel)) return 'channel-not-allowed-by-current-policy';
  const refusal = refuseVote(vote, state, today);
  return refusal ? `${refusal}-in-current-policy` : undefined;
}

/**
 * Where the votes stand. Any rejection rejects. Otherwise approved once `quorum` distinct people
 * approved; with groups (policy changes), once every group has its own quorum of distinct people
 * from its own approvers (a Slack vote counts for a group that lists the user group it came through).
 */
export function tally(votes: Vote[], quorum: number, policy: Pick<ApprovalPolicy, 'people' | 'groups'> = {}): 'approved' | 'rejected' | 'pending' {
  if (votes.some((v) => v.decision === 'reject')) return 'rejected';
  const approving = votes.filter((v) => v.decision === 'approve');
  const distinct = (among: Vote[]) => new Set(among.map((v) => personOf(policy, v.approver))).size;
  if (policy.groups?.length) {
    return policy.groups.every((g) => distinct(approving.filter((v) => listedIn(v, g.approvers))) >= g.quorum) ? 'approved' : 'pending';
  }
  return distinct(approving) >= quorum ? 'approved' : 'pending';
}

/** What a run with per-issuer groups waits for: "2 of https://a…'s approvers and 1 of the whole policy's approvers". */
export const groupNeeds = (groups: ReadonlyArray<{ label: string; quorum: number }>): string => groups.map((g) => `${g.quorum} of ${g.label}'s approvers`).join(' and ');
