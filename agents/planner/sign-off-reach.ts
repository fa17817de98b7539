import { combineApprovals, wholePolicyGroup } from './policy-change-approvals.js';
import { reachableApprovers } from './policy-rules.js';
import type { ApprovalPolicy, IssuerPolicy, Policy } from './policy-types.js';
import { revocationApprovals } from './revocation-approvals.js';

/** A quorum that the channels of a combined sign-off cannot reach. */
export interface SignOffGap {
  /** The group's label (an issuer, or the whole policy); the issuer's own for a single-issuer sign-off. */
  label: string;
  quorum: number;
  /** Distinct people of the group some allowed channel can reach. */
  reachable: number;
  /** The channels the sign-off takes votes from: those every deciding issuer allows. */
  channels: ApprovalPolicy['channels'];
}

/**
 * The groups of a sign-off that can never be met: votes come only through the channels every
 * deciding issuer allows, so a group whose approvers are reachable only through another channel
 * waits until the deadline. Empty when every group (or the single quorum) can be met.
 */
export function signOffGaps(a: ApprovalPolicy): SignOffGap[] {
  const groups = a.groups?.length ? a.groups : [{ label: '', approvers: a.approvers, quorum: a.quorum }];
  return groups
    .map((g) => ({ label: g.label, quorum: g.quorum, reachable: reachableApprovers(g.approvers, a.channels, a.people ?? []), channels: a.channels }))
    .filter((g) => g.reachable < g.quorum);
}

/** One line per gap: "https://a…: 1 approver(s) needed, 0 reachable through no channel at all". */
export function describeGaps(gaps: readonly SignOffGap[]): string {
  const through = (c: readonly string[]) => (c.length ? `through ${c.join(', ')}` : 'through no channel at all');
  return gaps.map((g) => `${g.label ? `${g.label}: ` : ''}${g.quorum} approver(s) needed, ${g.reachable} reachable ${through(g.channels)}`).join('; ');
}

const channelsOf = (issuers: readonly IssuerPolicy[]) => issuers.map((p) => `${p.issuer} takes ${p.approvals.channels.join(', ')}`).join(', ');

/**
 * What `keyturn policy check` warns about: sign-offs this policy makes impossible. A change to the
 * whole policy (adding, removing or reordering issuers) is decided by every issuer, and a jti or
 * sub revocation reaching two issuers by both; each takes votes only through the channels all of
 * its deciding issuers allow.
 */
export function unreachableSignOffWarnings(policy: Policy): string[] {
  const warnings: string[] = [];
  if (policy.issuers.length < 2) return warnings;
  const all = policy.issuers.map((p) => p.approvals);
  const whole = combineApprovals(all, [wholePolicyGroup(all)], all);
  const wholeGaps = signOffGaps(whole);
  if (wholeGaps.length) {
    warnings.push(`a change to the whole policy (adding, removing or reordering issuers) could never be signed off: ${describeGaps(wholeGaps)} (${channelsOf(policy.issuers)}); give every issuer a channel in common, one issuer at a time`);
  }
  policy.issuers.forEach((p, i) => {
    for (const q of policy.issuers.slice(i + 1)) {
      const gaps = signOffGaps(revocationApprovals(policy, [p, q]));
      if (gaps.length) {
        warnings.push(`a jti or sub revocation with live tokens at both ${p.issuer} and ${q.issuer} could never be signed off, only held contained until its tokens expire: ${describeGaps(gaps)} (${channelsOf([p, q])})`);
      }
    }
  });
  return warnings;
}
