import { describe, expect, it } from 'vitest';
import { issuerWith, policyDoc } from './policy-fixtures.js';
import { parsePolicy } from './policy.js';
import { affectedIssuers, revocationApprovals } from './revocation-approvals.js';

const A = 'https://a.example.test';
const B = 'https://b.example.test';
const policy = parsePolicy(policyDoc(
  issuerWith({ issuer: A, approvals: { approvers: ['cli:alice', 'U0ANNA'], quorum: 1, channels: ['slack', 'cli'], people: [['cli:alice', 'U0ALICE']] } }),
  issuerWith({ issuer: B, approvals: { approvers: ['cli:bob'], quorum: 1, channels: ['slack', 'cli'] } }),
));

describe('who signs off a revocation', () => {
  it('a revocation that affects one issuer is signed off by that issuer\'s approvals as they are', () => {
    expect(revocationApprovals(policy, affectedIssuers(policy, A, []))).toEqual(policy.issuers[0]!.approvals);
  });

  it('a jti or sub with live tokens on two issuers needs a quorum of each issuer\'s own approvers', () => {
    const approvals = revocationApprovals(policy, affectedIssuers(policy, A, [B]));
    expect(approvals.groups).toEqual([
      { label: A, approvers: ['cli:alice', 'U0ANNA'], quorum: 1 },
      { label: B, approvers: ['cli:bob'], quorum: 1 },
    ]);
    expect(approvals.people).toEqual([['cli:alice', 'U0ALICE']]);
  });

  it('the named issuer comes first (its Slack channel carries the request), issuers outside the policy are not asked', () => {
    expect(affectedIssuers(policy, B, [A, 'https://gone.example.test']).map((p) => p.issuer)).toEqual([B, A]);
  });
});
