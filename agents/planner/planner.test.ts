import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { KeyRecord } from '../key-manager/types.js';
import { fixedClock } from '../shared/clock.js';
import { planRotation, type PlanRequest } from './planner.js';
import { parsePolicy } from './policy.js';

const policy = parsePolicy(readFileSync(new URL('../../policy.md', import.meta.url), 'utf8'));
const issuer = 'http://localhost:8080';
const activeKey: KeyRecord = { kid: 'old-kid', issuer, alg: 'RS256', state: 'active', publicJwk: {}, policyVersion: policy.version, createdAt: '2026-01-01T00:00:00.000Z' };
const request = (over: Partial<PlanRequest> = {}): PlanRequest => ({
  policy, issuer, currentKeys: [activeKey], inFlight: false, reason: 'scheduled', requester: 'cli:alice',
  clock: fixedClock('2026-11-22T10:00:00.000Z'), planId: 'abc123', ...over,
});

describe('Planner', () => {
  it('plans the policy algorithm and key size, replacing the active key', () => {
    const plan = planRotation(request());
    expect(plan.newKey).toEqual({ alg: 'RS256', rsaModulusLength: 2048 });
    expect(plan.replacesKid).toBe('old-kid');
  });

  it('lays out the timeline from the policy durations', () => {
    expect(planRotation(request()).timeline).toEqual({
      publishAt: '2026-11-22T10:00:00.000Z',
      activateAt: '2026-11-22T10:02:00.000Z',
      retireOldAt: '2026-11-22T10:17:00.000Z',
      removeOldAt: '2026-11-22T10:17:00.000Z',
    });
  });

  it('gives the same plan the same hash', () => {
    expect(planRotation(request()).planHash).toBe(planRotation(request()).planHash);
  });

  it('gives another run a different plan hash', () => {
    expect(planRotation(request({ planId: 'other' })).planHash).not.toBe(planRotation(request()).planHash);
  });

  it('refuses a plan while another rotation of the issuer is in flight', () => {
    expect(() => planRotation(request({ inFlight: true }))).toThrow(expect.objectContaining({ code: 'PLAN_IN_FLIGHT' }));
  });

  it('refuses an issuer the policy does not know', () => {
    expect(() => planRotation(request({ issuer: 'https://other.example' }))).toThrow(expect.objectContaining({ code: 'PLAN_UNKNOWN_ISSUER' }));
  });

  it('refuses an unsafe timeline even from an unchecked policy object', () => {
    const unsafe = { ...policy, issuers: [{ ...policy.issuers[0]!, postRetireOverlapSeconds: 60 }] };
    expect(() => planRotation(request({ policy: unsafe }))).toThrow(expect.objectContaining({ code: 'PLAN_UNSAFE' }));
  });

  it('plans an emergency rotation with no pre-publication wait', () => {
    const plan = planRotation(request({ emergency: true }));
    expect(plan.timeline.activateAt).toBe(plan.timeline.publishAt);
  });
});
