import { describe, expect, it } from 'vitest';
import { isKeyturnError } from '../../config/errors.js';
import { parsePolicy } from './policy.js';
import { issuerWith, policyDoc } from './policy-fixtures.js';
import { assertSafeChange, refuseUnsafeChange, type InFlightRotation, type LiveTokens } from './policy-safety.js';

const A = 'https://auth.example.test';
const B = 'https://other.example.test';
const NOW = new Date('2030-01-01T12:00:00Z');
const minutesFromNow = (m: number) => new Date(NOW.getTime() + m * 60_000);
const policy = (...issuers: Array<Record<string, unknown>>) => parsePolicy(policyDoc(...issuers));

// Tokens live 1h (+1m skew) under the current policy, so its overlap is 1h2m; the proposal cuts
// the TTL to 10m and the overlap to 15m, which is valid for tokens issued from now on.
const current = policy(issuerWith({ accessTokenTtl: '1h', postRetireOverlap: '62m' }), issuerWith({ issuer: B }));
const shorter = policy(issuerWith({ accessTokenTtl: '10m', postRetireOverlap: '15m' }), issuerWith({ issuer: B }));
const rotatingA: InFlightRotation = { issuer: A, phase: 'overlap', workflowId: 'rotate-a', previousKid: 'kid-old' };
const tokensUntil = (m: number): LiveTokens[] => [{ issuer: A, maxExp: minutesFromNow(m) }];
const codes = (input: Parameters<typeof refuseUnsafeChange>[0]) => refuseUnsafeChange(input).map((r) => `${r.code} ${r.issuer}`);

describe('refuseUnsafeChange', () => {
  it('refuses shortening the overlap below tokens already issued for an issuer mid-rotation', () => {
    expect(codes({ current, next: shorter, inFlight: [rotatingA], issuedTokens: tokensUntil(50), now: NOW })).toEqual([`overlap-shorter-than-live-tokens ${A}`]);
  });

  it('allows shortening the overlap once every issued token is covered by the new one', () => {
    expect(codes({ current, next: shorter, inFlight: [rotatingA], issuedTokens: tokensUntil(14), now: NOW })).toEqual([]);
  });

  it('allows shortening the overlap when no rotation of the issuer is in flight', () => {
    expect(codes({ current, next: shorter, inFlight: [], issuedTokens: tokensUntil(50), now: NOW })).toEqual([]);
  });

  it('counts the clock skew on top of the latest exp', () => {
    // now + 15m would be exactly the latest exp; the 1m skew still needs the key.
    expect(codes({ current, next: shorter, inFlight: [rotatingA], issuedTokens: tokensUntil(15), now: NOW })).toEqual([`overlap-shorter-than-live-tokens ${A}`]);
  });

  it('refuses a longer access token lifetime for an issuer mid-rotation, whose run retires the old key after the overlap it planned', () => {
    const longer = policy(issuerWith({ accessTokenTtl: '2h', postRetireOverlap: '3h' }), issuerWith({ issuer: B }));
    expect(codes({ current, next: longer, inFlight: [rotatingA], issuedTokens: [], now: NOW })).toEqual([`ttl-longer-in-flight ${A}`]);
    expect(codes({ current, next: longer, inFlight: [], issuedTokens: [], now: NOW })).toEqual([]);
  });

  it('refuses removing an issuer whose rotation is in flight', () => {
    expect(codes({ current, next: policy(issuerWith({ issuer: B })), inFlight: [rotatingA], issuedTokens: [], now: NOW })).toEqual([`issuer-removed-in-flight ${A}`]);
  });

  it('refuses changing the algorithm of an issuer mid-rotation', () => {
    const es = policy(issuerWith({ accessTokenTtl: '1h', postRetireOverlap: '62m', algorithm: 'ES256' }), issuerWith({ issuer: B }));
    expect(codes({ current, next: es, inFlight: [rotatingA], issuedTokens: [], now: NOW })).toEqual([`algorithm-changed-in-flight ${A}`]);
  });

  it('compares the algorithm with the one the running rotation rolls out', () => {
    const es = policy(issuerWith({ accessTokenTtl: '1h', postRetireOverlap: '62m', algorithm: 'ES256' }), issuerWith({ issuer: B }));
    expect(codes({ current, next: es, inFlight: [{ ...rotatingA, algorithm: 'ES256' }], issuedTokens: [], now: NOW })).toEqual([]);
  });

  it('allows changing another issuer than the one rotating', () => {
    const next = policy(issuerWith({ accessTokenTtl: '1h', postRetireOverlap: '62m' }), issuerWith({ issuer: B, algorithm: 'EdDSA', approvals: { quorum: 2 } }));
    expect(codes({ current, next, inFlight: [rotatingA], issuedTokens: tokensUntil(50), now: NOW })).toEqual([]);
  });

  it('explains an overlap refusal with both overlaps and when the tokens run out', () => {
    const [r] = refuseUnsafeChange({ current, next: shorter, inFlight: [rotatingA], issuedTokens: tokensUntil(50), now: NOW });
    expect(r!.message).toBe(
      `${A} (rotation rotate-a in flight, phase overlap): post-retire overlap 62m → 15m could retire the old key at 2030-01-01T12:15:00.000Z, ` +
        'but tokens already issued are accepted until 2030-01-01T12:51:00.000Z (latest exp + 1m skew); propose it after 2030-01-01T12:36:00.000Z or keep the overlap',
    );
  });
});

describe('assertSafeChange', () => {
  it('throws POLICY_CHANGE_UNSAFE carrying the refusals', () => {
    let caught: unknown;
    try {
      assertSafeChange({ current, next: shorter, inFlight: [rotatingA], issuedTokens: tokensUntil(50), now: NOW });
    } catch (e) {
      caught = e;
    }
    expect(isKeyturnError(caught, 'POLICY_CHANGE_UNSAFE')).toBe(true);
    expect((caught as { details: { refusals: unknown[] } }).details.refusals).toHaveLength(1);
  });
  it('refuses at once a change that could never be signed off: adding an issuer when the issuers share no approval channel', () => {
    const slackA = issuerWith({ approvals: { approvers: ['U0ANNA'], quorum: 1, channels: ['slack'] } });
    const cliB = issuerWith({ issuer: B, approvals: { approvers: ['cli:bob'], quorum: 1, channels: ['cli'] } });
    const added = policy(slackA, cliB, issuerWith({ issuer: 'https://third.example.test' }));
    const [refusal, ...more] = refuseUnsafeChange({ current: policy(slackA, cliB), next: added, inFlight: [], issuedTokens: [], now: NOW });
    expect(more).toEqual([]);
    expect(refusal?.code).toBe('sign-off-unreachable');
    expect(refusal?.message).toContain('the whole policy: 1 approver(s) needed, 0 reachable through no channel at all');
  });
});
