import { groupNeeds, refuseVote, tally, type Vote } from '../approvals/quorum.js';
import { canonicalJson } from '../auditor/canonical-json.js';
import { KeyturnError } from '../../config/errors.js';
import { mergePeople } from './people.js';
import type { ApprovalChannel, ApprovalPolicy, IssuerPolicy, Policy, QuorumGroup } from './policy-types.js';

export const WHOLE_POLICY = 'the whole policy';

/**
 * Who signs off a policy change. The policy IN FORCE decides, never the proposal (it could name its
 * own approvers):
 * - each issuer the change modifies or removes needs its own quorum of its own approvers, so one
 *   issuer's approvers cannot change another issuer;
 * - adding an issuer, reordering them or changing which is first (the token endpoint's default), or
 *   a change that touches no issuer's settings, needs the largest quorum from every issuer's approvers.
 * People (one person under several ids) are merged from every issuer, whichever decides.
 * Channels are those every deciding issuer allows; the earliest timeout applies.
 */
export function policyChangeApprovals(current: Policy, next: Policy): ApprovalPolicy {
  const after = new Map(next.issuers.map((p) => [p.issuer, p]));
  const touched = current.issuers.filter((p) => !after.has(p.issuer) || canonicalJson(p) !== canonicalJson(after.get(p.issuer)));
  const before = new Set(current.issuers.map((p) => p.issuer));
  const kept = next.issuers.filter((p) => before.has(p.issuer)).map((p) => p.issuer);
  const wholePolicy = next.issuers.some((p) => !before.has(p.issuer))
    || kept.join('\n') !== current.issuers.filter((p) => after.has(p.issuer)).map((p) => p.issuer).join('\n')
    || next.issuers[0]?.issuer !== current.issuers[0]?.issuer
    || touched.length === 0;
  const deciding: IssuerPolicy[] = wholePolicy ? current.issuers : touched;
  const all = deciding.map((p) => p.approvals);
  const groups: QuorumGroup[] = touched.map((p) => ({ label: p.issuer, approvers: [...p.approvals.approvers], quorum: p.approvals.quorum }));
  if (wholePolicy) groups.push(wholePolicyGroup(all));

  return combineApprovals(all, groups, current.issuers.map((p) => p.approvals));
}

/** The group that signs off a change to the whole policy: the largest quorum, from every issuer's approvers. */
export function wholePolicyGroup(all: readonly ApprovalPolicy[]): QuorumGroup {
  return { label: WHOLE_POLICY, approvers: [...new Set(all.flatMap((a) => a.approvers))], quorum: Math.max(...all.map((a) => a.quorum)) };
}

/**
 * One sign-off over several issuers' approvals: `groups` say who must approve, channels are those
 * every deciding issuer allows, the earliest timeout applies, and the first Slack channels named
 * are used. Who is who is not per issuer: people links are merged from every issuer in `peopleFrom`.
 */
export function combineApprovals(all: ApprovalPolicy[], groups: QuorumGroup[], peopleFrom: ApprovalPolicy[]): ApprovalPolicy {
  const channels = (['slack', 'cli'] as ApprovalChannel[]).filter((c) => all.every((a) => a.channels.includes(c)));
  const firstWith = <K extends keyof ApprovalPolicy>(k: K) => all.find((a) => a[k] !== undefined)?.[k];
  const slackChannel = firstWith('slackChannel');
  const escalationChannel = firstWith('escalationChannel');
  const escalationGroup = firstWith('escalationGroup');
  const people = mergePeople(peopleFrom.flatMap((a) => a.people ?? []));
  return {
    approvers: [...new Set(groups.flatMap((g) => g.approvers))],
    quorum: Math.max(...groups.map((g) => g.quorum)),
    timeoutSeconds: Math.min(...all.map((a) => a.timeoutSeconds)),
    escalationIntervalSeconds: Math.min(...all.map((a) => a.escalationIntervalSeconds)),
    channels,
    groups,
    ...(people.length > 0 ? { people } : {}),
    ...(slackChannel ? { slackChannel: slackChannel as string } : {}),
    ...(escalationChannel ? { escalationChannel: escalationChannel as string } : {}),
    ...(escalationGroup ? { escalationGroup: escalationGroup as string } : {}),
    ...(all.some((a) => a.requireSignedStart) ? { requireSignedStart: true } : {}),
  };
}

/**
 * Activation checks the sign-off again, against the approvals the policy in force gives this change,
 * whatever the workflow concluded (a worker of an older version counts votes without groups). Votes
 * from before they were passed along arrive as approver ids only and count as direct listings.
 */
export function requirePolicyChangeSignedOff(current: Policy, next: Policy, input: { approvers: string[]; votes?: Vote[]; requester: string }): void {
  const approvals = policyChangeApprovals(current, next);
  const votes = input.votes ?? input.approvers.map((approver): Vote => ({ approver, decision: 'approve', channel: approver.startsWith('cli:') ? 'cli' : 'slack', at: '' }));
  const counted: Vote[] = [];
  for (const v of votes) if (v.decision === 'approve' && !refuseVote(v, { votes: counted, requester: input.requester, decided: false }, approvals)) counted.push(v);
  if (tally(counted, approvals.quorum, approvals) !== 'approved') {
    throw new KeyturnError('POLICY_CHANGE_NOT_SIGNED_OFF', `the approvals do not meet what this change needs: ${groupNeeds(approvals.groups ?? [])}`, 'Apply the change again and have each group approve it.');
  }
}
