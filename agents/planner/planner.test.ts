import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../auditor/canonical-json.js';
import type { KeyRecord } from '../key-manager/types.js';
import { fixedClock } from '../shared/clock.js';
import { planEmergencyRotation, planRotation, type PlanRequest } from './planner.js';
import { parsePolicy } from './policy.js';
import { formatDuration } from './duration.js';
import { issuerWith, policyDoc } from './policy-fixtures.js';
import type { Policy } from './policy-types.js';

const ISSUER = 'https://auth.example.test';
const NOW = '2026-11-22T10:00:00.000Z';
// lead 10m ≥ jwksMaxAge 5m; overlap 15m ≥ maxTokenAge 11m + skew 1m.
const policy = parsePolicy(policyDoc(issuerWith()));

function key(kid: string, over: Partial<KeyRecord> = {}): KeyRecord {
  return { kid, issuer: ISSUER, alg: 'RS256', state: 'active', publicJwk: {}, policyVersion: policy.version, createdAt: '2026-01-01T00:00:00.000Z', ...over };
}

function request(over: Partial<PlanRequest> = {}): PlanRequest {
  return { policy, issuer: ISSUER, currentKeys: [key('old-kid')], inFlight: false, reason: 'scheduled', requester: 'cli:alice', clock: fixedClock(NOW), ...over };
}

function policyWith(over: Record<string, unknown>): Policy {
  return parsePolicy(policyDoc(issuerWith(over)));
}

/** The policy with its only issuer's settings changed, bypassing parsePolicy's checks. */
function uncheckedPolicy(over: Partial<Policy['issuers'][number]>): Policy {
  return { ...policy, issuers: [{ ...policy.issuers[0]!, ...over }] };
}

describe('planRotation: the new key', () => {
  it('is an RS256 key of the policy modulus length', () => {
    expect(planRotation(request({ policy: policyWith({ rsaModulusLength: 3072 }) })).newKey).toEqual({ alg: 'RS256', rsaModulusLength: 3072 });
  });

  it('is a PS256 key with a modulus length', () => {
    expect(planRotation(request({ policy: policyWith({ algorithm: 'PS256' }) })).newKey).toEqual({ alg: 'PS256', rsaModulusLength: 2048 });
  });

  it('is a P-256 key for ES256', () => {
    expect(planRotation(request({ policy: policyWith({ algorithm: 'ES256' }) })).newKey).toEqual({ alg: 'ES256', crv: 'P-256' });
  });

  it('is an Ed25519 key for EdDSA', () => {
    expect(planRotation(request({ policy: policyWith({ algorithm: 'EdDSA' }) })).newKey).toEqual({ alg: 'EdDSA', crv: 'Ed25519' });
  });
});

describe('planRotation: the key it replaces', () => {
  it('is the issuer’s active key', () => {
    const keys = [key('retired-kid', { state: 'retired' }), key('active-kid'), key('pending-kid', { state: 'pending' })];
    expect(planRotation(request({ currentKeys: keys })).replacesKid).toBe('active-kid');
  });

  it('is never another issuer’s key', () => {
    expect(planRotation(request({ currentKeys: [key('foreign-kid', { issuer: 'https://other.example.test' })] })).replacesKid).toBeUndefined();
  });

  it('is absent for an issuer’s first key', () => {
    expect(planRotation(request({ currentKeys: [] }))).not.toHaveProperty('replacesKid');
  });
});

describe('planRotation: the timeline', () => {
  it('publishes now, activates after the lead, and retires and removes the old key after the overlap', () => {
    expect(planRotation(request()).timeline).toEqual({
      publishAt: '2026-11-22T10:00:00.000Z',
      activateAt: '2026-11-22T10:10:00.000Z',
      retireOldAt: '2026-11-22T10:25:00.000Z',
      removeOldAt: '2026-11-22T10:25:00.000Z',
    });
  });

  it('never activates before verifiers have the key, nor retires before its tokens expire, for any safe policy', () => {
    const seconds = (t: string) => Date.parse(t) / 1000;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3600 }), fc.integer({ min: 0, max: 3600 }), fc.integer({ min: 1, max: 3600 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 3600 }),
        (jwksMaxAge, extraLead, ttl, skew, extraOverlap) => {
          const lifetime = ttl + 2 * skew; // default maxTokenAge (ttl + skew) + skew
          const p = policyWith({ jwksMaxAge: `${jwksMaxAge}s`, prePublishLead: `${jwksMaxAge + extraLead}s`, accessTokenTtl: `${ttl}s`, clockSkew: `${skew}s`, postRetireOverlap: formatDuration(lifetime + extraOverlap), rotationPeriod: '90d' });
          const t = planRotation(request({ policy: p })).timeline;
          expect(seconds(t.activateAt) - seconds(t.publishAt)).toBeGreaterThanOrEqual(jwksMaxAge);
          expect(seconds(t.retireOldAt) - seconds(t.activateAt)).toBeGreaterThanOrEqual(lifetime);
        }),
      { numRuns: 50 },
    );
  });
});

describe('planRotation: what it records', () => {
  it('carries the reason, the requester and the policy version', () => {
    expect(planRotation(request({ reason: 'quarterly', requester: 'slack:U0LEAD1' }))).toMatchObject({ reason: 'quarterly', requester: 'slack:U0LEAD1', policyVersion: policy.version, issuer: ISSUER });
  });

  it('is not an emergency', () => expect(planRotation(request()).emergency).toBe(false));

  it('hashes the canonical JSON of the plan without its id and hash', () => {
    const { planId: _id, planHash, ...body } = planRotation(request());
    expect(planHash).toBe(createHash('sha256').update(canonicalJson(body)).digest('hex'));
  });

  it('takes its id from the first 12 hex digits of the hash', () => {
    const plan = planRotation(request());
    expect(plan.planId).toBe(plan.planHash.slice(0, 12));
  });

  it('gives the same request at the same instant the same hash', () => {
    expect(planRotation(request()).planHash).toBe(planRotation(request()).planHash);
  });

  it('gives a plan made a second later a different hash', () => {
    expect(planRotation(request({ clock: fixedClock('2026-11-22T10:00:01.000Z') })).planHash).not.toBe(planRotation(request()).planHash);
  });

  it('binds the caller’s run id into the hash', () => {
    expect(planRotation(request({ runId: 'run-a' })).planHash).not.toBe(planRotation(request({ runId: 'run-b' })).planHash);
  });

  it('accepts the run id under its deprecated name planId', () => {
    expect(planRotation(request({ planId: 'run-a' })).planHash).toBe(planRotation(request({ runId: 'run-a' })).planHash);
  });
});

describe('planRotation: refusals', () => {
  it('refuses while another rotation of the issuer is in flight', () => {
    expect(() => planRotation(request({ inFlight: true }))).toThrow(expect.objectContaining({ code: 'PLAN_IN_FLIGHT' }));
  });

  it('refuses an issuer the policy does not list', () => {
    expect(() => planRotation(request({ issuer: 'https://other.example.test' }))).toThrow(expect.objectContaining({ code: 'PLAN_UNKNOWN_ISSUER' }));
  });

  it('refuses a blank reason', () => {
    expect(() => planRotation(request({ reason: '  ' }))).toThrow(expect.objectContaining({ code: 'PLAN_REASON_REQUIRED' }));
  });

  it('refuses an overlap shorter than the token lifetime even from an unchecked policy object', () => {
    expect(() => planRotation(request({ policy: uncheckedPolicy({ postRetireOverlapSeconds: 700 }) }))).toThrow(
      expect.objectContaining({ code: 'PLAN_UNSAFE', details: { rule: 'overlap-shorter-than-token-lifetime' } }),
    );
  });

  it('refuses a lead shorter than the JWKS max-age even from an unchecked policy object', () => {
    expect(() => planRotation(request({ policy: uncheckedPolicy({ prePublishLeadSeconds: 60 }) }))).toThrow(
      expect.objectContaining({ code: 'PLAN_UNSAFE', details: { rule: 'lead-shorter-than-jwks-max-age' } }),
    );
  });
});

describe('planEmergencyRotation', () => {
  it('activates the new key the moment it is published', () => {
    const { timeline } = planEmergencyRotation(request({ reason: 'key leaked' }));
    expect(timeline.activateAt).toBe(timeline.publishAt);
  });

  it('keeps the old key published for the full overlap', () => {
    expect(planEmergencyRotation(request({ reason: 'key leaked' })).timeline.retireOldAt).toBe('2026-11-22T10:15:00.000Z');
  });

  it('marks the plan as an emergency', () => expect(planEmergencyRotation(request({ reason: 'key leaked' })).emergency).toBe(true));

  it('has the same shape as a scheduled plan', () => {
    expect(Object.keys(planEmergencyRotation(request({ reason: 'key leaked' }))).sort()).toEqual(Object.keys(planRotation(request())).sort());
  });

  it('hashes differently from a scheduled plan of the same key', () => {
    expect(planEmergencyRotation(request()).planHash).not.toBe(planRotation(request()).planHash);
  });

  it('requires a reason', () => {
    expect(() => planEmergencyRotation(request({ reason: '' }))).toThrow(expect.objectContaining({ code: 'PLAN_REASON_REQUIRED' }));
  });

  it('refuses while another rotation of the issuer is in flight', () => {
    expect(() => planEmergencyRotation(request({ reason: 'key leaked', inFlight: true }))).toThrow(expect.objectContaining({ code: 'PLAN_IN_FLIGHT' }));
  });

  it('still refuses an overlap shorter than the token lifetime', () => {
    expect(() => planEmergencyRotation(request({ reason: 'key leaked', policy: uncheckedPolicy({ postRetireOverlapSeconds: 60 }) }))).toThrow(expect.objectContaining({ code: 'PLAN_UNSAFE' }));
  });
});
