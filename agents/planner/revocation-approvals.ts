import type { ApprovalPolicy, IssuerPolicy, Policy } from './policy-types.js';
import { combineApprovals } from './policy-change-approvals.js';

/**
 * The issuers a jti or sub revocation affects: the one named first (its Slack channels carry the
 * request), then every other issuer of the policy with unexpired tokens of it, in policy order
 * (the deny-list is not per issuer).
 */
export function affectedIssuers(policy: Policy, named: string, withLiveTokens: readonly string[]): IssuerPolicy[] {
  return [...policy.issuers.filter((p) => p.issuer === named), ...policy.issuers.filter((p) => p.issuer !== named && withLiveTokens.includes(p.issuer))];
}

/**
 * Who signs off a revocation: the approvals of its one affected issuer, or, when a jti or sub
 * revocation reaches several, each issuer's own quorum of its own approvers (as for a policy change
 * that touches several issuers), so one issuer's approvers cannot deny-list another's clients alone.
 */
export function revocationApprovals(policy: Policy, affected: readonly IssuerPolicy[]): ApprovalPolicy {
  if (affected.length === 1) return affected[0]!.approvals;
  const all = affected.map((p) => p.approvals);
  return combineApprovals(all, affected.map((p) => ({ label: p.issuer, approvers: [...p.approvals.approvers], quorum: p.approvals.quorum })), policy.issuers.map((p) => p.approvals));
}
