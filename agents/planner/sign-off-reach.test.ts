import { describe, expect, it } from 'vitest';
import { parsePolicy } from './policy.js';
import { policyChangeApprovals } from './policy-change-approvals.js';
import { issuerWith, policyDoc } from './policy-fixtures.js';
import { revocationApprovals } from './revocation-approvals.js';
import { signOffGaps, unreachableSignOffWarnings } from './sign-off-reach.js';

const A = 'https://a.example.test';
const B = 'https://b.example.test';
const C = 'https://c.example.test';
const policy = (...issuers: Array<Record<string, unknown>>) => parsePolicy(policyDoc(...issuers));
const slackOnly = (issuer: string) => issuerWith({ issuer, approvals: { approvers: ['U0ANNA'], quorum: 1, channels: ['slack'] } });
const cliOnly = (issuer: string) => issuerWith({ issuer, approvals: { approvers: ['cli:bob'], quorum: 1, channels: ['cli'] } });
const both = (issuer: string, approvers: string[]) => issuerWith({ issuer, approvals: { approvers, quorum: 1, channels: ['slack', 'cli'] } });

describe('sign-offs that could never be met', () => {
  it('a single issuer\'s own approvals always can (the policy rules check its quorum)', () => {
    expect(signOffGaps(policy(slackOnly(A)).issuers[0]!.approvals)).toEqual([]);
  });

  it('issuers that share no channel leave every group of a joint sign-off unreachable', () => {
    const p = policy(slackOnly(A), cliOnly(B));
    expect(signOffGaps(revocationApprovals(p, p.issuers))).toEqual([
      { label: A, quorum: 1, reachable: 0, channels: [] },
      { label: B, quorum: 1, reachable: 0, channels: [] },
    ]);
  });

  it('a shared channel is not enough when a group\'s approvers are reachable only through the other one', () => {
    const p = policy(both(A, ['U0ANNA']), cliOnly(B));
    expect(signOffGaps(revocationApprovals(p, p.issuers))).toEqual([{ label: A, quorum: 1, reachable: 0, channels: ['cli'] }]);
  });

  it('a Slack approver linked to a CLI id under people is still not reachable through the CLI: votes count by listed id', () => {
    const p = policy(issuerWith({ issuer: A, approvals: { approvers: ['U0ANNA'], quorum: 1, channels: ['slack', 'cli'], people: [['U0ANNA', 'cli:anna']] } }), cliOnly(B));
    expect(signOffGaps(revocationApprovals(p, p.issuers)).map((g) => g.label)).toEqual([A]);
  });

  it('issuers whose approvers share a channel can sign off together', () => {
    const p = policy(both(A, ['cli:alice', 'U0ANNA']), cliOnly(B));
    expect(signOffGaps(revocationApprovals(p, p.issuers))).toEqual([]);
  });

  it('adding an issuer to a policy whose issuers share no channel is a whole-policy change nobody can sign off', () => {
    const current = policy(slackOnly(A), cliOnly(B));
    const next = policy(slackOnly(A), cliOnly(B), slackOnly(C));
    expect(signOffGaps(policyChangeApprovals(current, next)).map((g) => g.label)).toEqual(['the whole policy']);
  });

  it('a change to one of those issuers alone is signed off by that issuer, through its own channels', () => {
    const current = policy(slackOnly(A), cliOnly(B));
    const next = policy(both(A, ['U0ANNA', 'cli:alice']), cliOnly(B));
    expect(signOffGaps(policyChangeApprovals(current, next))).toEqual([]);
  });
});

describe('policy check warnings about unreachable sign-offs', () => {
  it('names the whole-policy change and each pair of issuers whose joint revocation could never be signed off', () => {
    const warnings = unreachableSignOffWarnings(policy(slackOnly(A), cliOnly(B), slackOnly(C)));
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(/^a change to the whole policy .* could never be signed off: the whole policy: 1 approver\(s\) needed, 0 reachable through no channel at all/);
    expect(warnings[1]).toContain(`at both ${A} and ${B} could never be signed off, only held contained`);
    expect(warnings[2]).toContain(`at both ${B} and ${C}`);
  });

  it('says nothing when every joint sign-off can be met, or when there is one issuer', () => {
    expect(unreachableSignOffWarnings(policy(both(A, ['cli:alice']), cliOnly(B)))).toEqual([]);
    expect(unreachableSignOffWarnings(policy(cliOnly(A)))).toEqual([]);
  });
});
