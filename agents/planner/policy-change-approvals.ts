import { canonicalJson } from '../auditor/canonical-json.js';
import { mergePeople } from './people.js';
import type { ApprovalChannel, ApprovalPolicy, IssuerPolicy, Policy, QuorumGroup } from './policy-types.js';

export const WHOLE_POLICY = 'the whole policy';

/**
 * Who signs off a policy change. The policy IN FORCE decides, never the proposal (it could name its
 * own approvers):
 * - each issuer the change modifies or removes needs its own quorum of its own approvers, so one
 *   issuer's approvers cannot change another issuer;
 * - adding an issuer or reordering them (the first is the token endpoint's default), or a change that
 *   touches no issuer's settings, needs the largest quorum from every issuer's approvers.
 * Channels are those every deciding issuer allows; the earliest timeout applies.
 */
export function policyChangeApprovals(current: Policy, next: Policy): ApprovalPolicy {
  const after = new Map(next.issuers.map((p) => [p.issuer, p]));
  const touched = current.issuers.filter((p) => !after.has(p.issuer) || canonicalJson(p) !== canonicalJson(after.get(p.issuer)));
  const before = new Set(current.issuers.map((p) => p.issuer));
  const kept = next.issuers.filter((p) => before.has(p.issuer)).map((p) => p.issuer);
  const wholePolicy = next.issuers.some((p) => !before.has(p.issuer))
    || kept.join('\n') !== current.issuers.filter((p) => after.has(p.issuer)).map((p) => p.issuer).join('\n')
    || touched.length === 0;
  const deciding: IssuerPolicy[] = wholePolicy ? current.issuers : touched;
  const all = deciding.map((p) => p.approvals);
  const groups: QuorumGroup[] = touched.map((p) => ({ label: p.issuer, approvers: [...p.approvals.approvers], quorum: p.approvals.quorum }));
  if (wholePolicy) groups.push({ label: WHOLE_POLICY, approvers: [...new Set(all.flatMap((a) => a.approvers))], quorum: Math.max(...all.map((a) => a.quorum)) });

  const channels = (['slack', 'cli'] as ApprovalChannel[]).filter((c) => all.every((a) => a.channels.includes(c)));
  const firstWith = <K extends keyof ApprovalPolicy>(k: K) => all.find((a) => a[k] !== undefined)?.[k];
  const slackChannel = firstWith('slackChannel');
  const escalationChannel = firstWith('escalationChannel');
  const escalationGroup = firstWith('escalationGroup');
  const people = mergePeople(all.flatMap((a) => a.people ?? []));
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
  };
}
