import { describe, expect, it } from 'vitest';
import type { Vote } from '../approvals/quorum.js';
import { policyChangeApprovals, requirePolicyChangeSignedOff, WHOLE_POLICY } from './policy-change-approvals.js';
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

  it('removing the first issuer (the token endpoint default moves to the next) needs the whole policy sign-off', () => {
    expect(approvalsFor(b()).groups!.map((g) => g.label)).toEqual([A, WHOLE_POLICY]);
  });

  it("keeps every issuer's people, so a person cannot approve under one id a change they requested under another", () => {
    const linked = parsePolicy(policyDoc(a({ approvals: { approvers: ['U0ALICE', 'U0ANNA'], quorum: 2, people: [['cli:bob', 'U0BOB']] } }), b()));
    const next = parsePolicy(policyDoc(a({ approvals: { approvers: ['U0ALICE', 'U0ANNA'], quorum: 2, people: [['cli:bob', 'U0BOB']] } }), b({ jwksMaxAge: '10m' })));
    expect(policyChangeApprovals(linked, next).people).toEqual([['cli:bob', 'U0BOB']]);
  });
});

describe('requirePolicyChangeSignedOff (at activation)', () => {
  const next = parsePolicy(policyDoc(a({ jwksMaxAge: '10m' }), b({ jwksMaxAge: '10m' })));
  const vote = (approver: string): Vote => ({ approver, decision: 'approve', channel: 'slack', at: '2026-11-30T00:00:00Z' });

  it("passes when every touched issuer's quorum approved", () => {
    expect(() => requirePolicyChangeSignedOff(current, next, { approvers: [], votes: [vote('U0ALICE'), vote('U0ANNA'), vote('U0BOB')], requester: 'cli:req' })).not.toThrow();
  });

  it('refuses with POLICY_CHANGE_NOT_SIGNED_OFF when one issuer lacks its quorum, however many votes the other has', () => {
    expect(() => requirePolicyChangeSignedOff(current, next, { approvers: ['U0ALICE', 'U0ANNA'], requester: 'cli:req' })).toThrow(expect.objectContaining({ code: 'POLICY_CHANGE_NOT_SIGNED_OFF' }));
  });

  it("does not count the requester's own vote", () => {
    const bOnly = parsePolicy(policyDoc(a(), b({ jwksMaxAge: '10m' })));
    expect(() => requirePolicyChangeSignedOff(current, bOnly, { approvers: [], votes: [vote('U0BOB')], requester: 'U0BOB' })).toThrow(expect.objectContaining({ code: 'POLICY_CHANGE_NOT_SIGNED_OFF' }));
  });
});
