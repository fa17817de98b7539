import { describe, expect, it } from 'vitest';
import { parsePolicy } from './policy.js';
import { diffPolicies } from './policy-diff.js';
import { baseIssuer, issuerWith, policyDoc } from './policy-fixtures.js';

const A = baseIssuer.issuer;
const B = 'https://other.example.test';
const policy = (...issuers: Array<Record<string, unknown>>) => parsePolicy(policyDoc(...issuers));
const base = policy(baseIssuer);
/** The lines describing base → base with `over` applied to its one issuer. */
const changes = (over: Record<string, unknown>) => diffPolicies(base, policy(issuerWith(over)));

describe('diffPolicies', () => {
  it('says nothing when only the prose changed', () => {
    const reworded = parsePolicy(policyDoc(baseIssuer).replace('Prose for people.', 'Other words.'));
    expect(diffPolicies(base, reworded)).toEqual([]);
  });

  it('names an access-token TTL change in human durations', () => {
    expect(changes({ accessTokenTtl: '15m', clockSkew: '1m', postRetireOverlap: '20m' })).toContain(`${A}: access-token TTL 10m → 15m`);
  });

  it('names turning signed starts on, so approvers see the change they sign', () => {
    expect(changes({ approvals: { approvers: ['U0LEAD1', 'U0LEAD2'], requireSignedStart: true } })).toEqual([`${A}: signed starts optional → required`]);
  });

  it('lists each added approver', () => {
    expect(changes({ approvals: { approvers: ['U0LEAD1', 'U0LEAD2', 'U123'] } })).toEqual([`${A}: approvers + U123`]);
  });

  it('lists each removed approver', () => {
    const withBob = policy(issuerWith({ approvals: { approvers: ['U0LEAD1', 'cli:bob'], channels: ['slack', 'cli'] } }));
    const withoutBob = policy(issuerWith({ approvals: { approvers: ['U0LEAD1'], channels: ['slack', 'cli'] } }));
    expect(diffPolicies(withBob, withoutBob)).toEqual([`${A}: approvers − cli:bob`]);
  });

  it('names a quorum change', () => {
    expect(changes({ approvals: { quorum: 2 } })).toEqual([`${A}: quorum 1 → 2`]);
  });

  it('names an algorithm change', () => {
    expect(changes({ algorithm: 'ES256' })).toEqual([`${A}: algorithm RS256 → ES256`]);
  });

  it('names overlap, lead and JWKS max-age changes', () => {
    expect(changes({ postRetireOverlap: '30m', prePublishLead: '20m', jwksMaxAge: '10m' })).toEqual([
      `${A}: JWKS max-age 5m → 10m`,
      `${A}: pre-publish lead 10m → 20m`,
      `${A}: post-retire overlap 15m → 30m`,
    ]);
  });

  it('names approval channels added and a Slack channel set', () => {
    expect(changes({ approvals: { channels: ['slack', 'cli'], slackChannel: 'C0SEC' } })).toEqual([`${A}: approval channels + cli`, `${A}: Slack channel (none) → C0SEC`]);
  });

  it('names an added issuer', () => {
    expect(diffPolicies(base, policy(baseIssuer, issuerWith({ issuer: B })))).toEqual([`issuer ${B} added`]);
  });

  it('names a removed issuer', () => {
    expect(diffPolicies(policy(baseIssuer, issuerWith({ issuer: B })), base)).toEqual([`issuer ${B} removed`]);
  });

  it('ignores the order of issuers', () => {
    expect(diffPolicies(policy(baseIssuer, issuerWith({ issuer: B })), policy(issuerWith({ issuer: B }), baseIssuer))).toEqual([]);
  });
});
