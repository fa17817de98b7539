import { describe, expect, it } from 'vitest';
import { policyChangeApprovals, WHOLE_POLICY } from './policy-change-approvals.js';
import { issuerWith, policyDoc } from './policy-fixtures.js';
import { parsePolicy } from './policy.js';

const A = 'https://a.example.test';
const B = 'https://b.example.test';
const C = 'https://c.example.test';
const a = (over: Record<string, unknown> = {}) => issuerWith({ issuer: A, approvals: { approvers: ['U0ALICE', 'U0ANNA'], quorum: 2 }, ...over });
const b = (over: Record<string, unknown> = {}) => issuerWith({ issuer: B, approvals: { approvers: ['U0BOB'], quorum: 1 }, ...over });
const current = parsePolicy(policyDoc(a(), b()));
const approvalsFor = (...issuers: Array<Record<string, unknown>>) => policyChangeApprovals(current, parsePolicy(policyDoc(...issuers)));

describe('policyChangeApprovals', () => {
  it("a change to one issuer needs that issuer's quorum from its approvers only", () => {
    const r = approvalsFor(a(), b({ jwksMaxAge: '10m' }));
    expect(r.groups).toEqual([{ label: B, approvers: ['U0BOB'], quorum: 1 }]);
    expect([r.approvers, r.quorum]).toEqual([['U0BOB'], 1]);
  });

  it("a change to two issuers needs each one's own quorum", () => {
    const r = approvalsFor(a({ jwksMaxAge: '10m' }), b({ jwksMaxAge: '10m' }));
    expect(r.groups).toEqual([{ label: A, approvers: ['U0ALICE', 'U0ANNA'], quorum: 2 }, { label: B, approvers: ['U0BOB'], quorum: 1 }]);
  });

  it("removing an issuer needs that issuer's quorum", () => {
    expect(approvalsFor(a()).groups).toEqual([{ label: B, approvers: ['U0BOB'], quorum: 1 }]);
  });

  it("a change to an issuer's own approvers is signed off by the approvers in force, not the proposed ones", () => {
    expect(approvalsFor(a(), b({ approvals: { approvers: ['U0MALLORY'], quorum: 1 } })).groups).toEqual([{ label: B, approvers: ['U0BOB'], quorum: 1 }]);
  });

  it("adding an issuer needs the largest quorum from every issuer's approvers", () => {
    const r = approvalsFor(a(), b(), issuerWith({ issuer: C, approvals: { approvers: ['U0CAROL'] } }));
    expect(r.groups).toEqual([{ label: WHOLE_POLICY, approvers: ['U0ALICE', 'U0ANNA', 'U0BOB'], quorum: 2 }]);
  });

  it('reordering the issuers (the first is the default for the token endpoint) needs the whole policy sign-off', () => {
    expect(approvalsFor(b(), a()).groups).toEqual([{ label: WHOLE_POLICY, approvers: ['U0ALICE', 'U0ANNA', 'U0BOB'], quorum: 2 }]);
  });

  it("adding an issuer while changing another needs both the whole policy's and that issuer's quorum", () => {
    const r = approvalsFor(a(), b({ jwksMaxAge: '10m' }), issuerWith({ issuer: C, approvals: { approvers: ['U0CAROL'] } }));
    expect(r.groups!.map((g) => g.label)).toEqual([B, WHOLE_POLICY]);
  });

  it('a change of prose alone, which changes no issuer, needs the whole policy sign-off', () => {
    const text = policyDoc(a(), b()).replace('Prose for people.', 'Other prose.');
    expect(policyChangeApprovals(current, parsePolicy(text)).groups!.map((g) => g.label)).toEqual([WHOLE_POLICY]);
  });

  it('allows only the channels every deciding issuer allows', () => {
    const withCliOnlyB = parsePolicy(policyDoc(a({ approvals: { approvers: ['U0ALICE', 'cli:anna'], quorum: 1, channels: ['slack', 'cli'] } }), b({ approvals: { approvers: ['cli:bob'], channels: ['cli'] } })));
    const next = parsePolicy(policyDoc(a({ jwksMaxAge: '10m', approvals: { approvers: ['U0ALICE', 'cli:anna'], quorum: 1, channels: ['slack', 'cli'] } }), b({ approvals: { approvers: ['cli:bob'], channels: ['cli'] } })));
    expect(policyChangeApprovals(withCliOnlyB, next).channels).toEqual(['slack', 'cli']);
  });
});
