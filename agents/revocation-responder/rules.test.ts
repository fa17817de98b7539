import { describe, expect, it } from 'vitest';
import { clip, subjectOf, toDate } from './common.js';
import { jtiDigest, kidHorizonAtConfirmation, kidRevocationHorizon } from './compromise.js';
import { containmentPauseReason, isContainmentPause } from './containment.js';

describe('kidRevocationHorizon', () => {
  it('covers a cached JWKS plus the oldest acceptable token plus skew after the revocation', () => {
    const at = '2030-01-01T00:00:00.000Z';
    expect(kidRevocationHorizon({ jwksMaxAgeSeconds: 300, maxTokenAgeSeconds: 3600, clockSkewSeconds: 30 }, at)).toBe('2030-01-01T01:05:30.000Z');
    expect(() => kidRevocationHorizon({ jwksMaxAgeSeconds: 1, maxTokenAgeSeconds: 1, clockSkewSeconds: 1 }, 'nope')).toThrow(/revokedAt/);
  });
});

describe('kidHorizonAtConfirmation', () => {
  const policy = { jwksMaxAgeSeconds: 300, maxTokenAgeSeconds: 3600, clockSkewSeconds: 30 };
  const planned = '2030-01-01T01:05:30.000Z';

  it('is counted from the confirmation, when the key leaves the JWKS, and never ends before the plan\'s horizon', () => {
    expect(kidHorizonAtConfirmation(planned, policy, '2030-01-01T00:10:00.000Z')).toBe('2030-01-01T01:15:30.000Z');
    expect(kidHorizonAtConfirmation(planned, { ...policy, maxTokenAgeSeconds: 60 }, '2030-01-01T00:10:00.000Z')).toBe(planned);
  });

  it('is counted from the confirmation when the sign-off came after the plan\'s horizon had passed', () => {
    expect(kidHorizonAtConfirmation(planned, policy, '2030-01-09T00:00:00.000Z')).toBe('2030-01-09T01:05:30.000Z');
  });

  it('is the plan\'s horizon when the issuer has left the policy, and refuses a planned horizon that is not an instant', () => {
    expect(kidHorizonAtConfirmation(planned, undefined, '2030-01-09T00:00:00.000Z')).toBe(planned);
    expect(() => kidHorizonAtConfirmation('nope', policy, '2030-01-09T00:00:00.000Z')).toThrow(/planned kid horizon/);
  });
});

describe('jtiDigest', () => {
  it('depends on the set of jtis, not their order', () => {
    expect(jtiDigest(['b', 'a', 'c'])).toBe(jtiDigest(['c', 'b', 'a']));
    expect(jtiDigest(['a', 'b'])).not.toBe(jtiDigest(['a', 'b', 'c']));
    expect(jtiDigest([])).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('containment pause reason', () => {
  it('is recognised for its own kid only, and clipped to the column limit', () => {
    const reason = containmentPauseReason('kid-1', 'leaked in a paste');
    expect(isContainmentPause({ reason }, 'kid-1')).toBe(true);
    expect(isContainmentPause({ reason }, 'kid-2')).toBe(false);
    expect(isContainmentPause({ reason: 'maintenance' }, 'kid-1')).toBe(false);
    expect(isContainmentPause(undefined, 'kid-1')).toBe(false);
    const long = containmentPauseReason('kid-1', 'x'.repeat(5000));
    expect(long).toHaveLength(2048);
    expect(isContainmentPause({ reason: long }, 'kid-1')).toBe(true);
  });
});

describe('helpers', () => {
  it('toDate accepts Dates and ISO strings and refuses anything else', () => {
    expect(toDate('2030-01-01T00:00:00Z', 'x').toISOString()).toBe('2030-01-01T00:00:00.000Z');
    const d = new Date(5);
    expect(toDate(d, 'x')).not.toBe(d);
    expect(() => toDate('soon', 'expiresAt')).toThrow(/expiresAt/);
    expect(() => toDate(42 as never, 'expiresAt')).toThrow(/expiresAt/);
  });

  it('clip and subjectOf', () => {
    expect(clip('abc', 5)).toBe('abc');
    expect(clip('abcdef', 5)).toBe('abcd…');
    expect(subjectOf('kid', 'k', 'https://i')).toEqual({ kid: 'k', issuer: 'https://i' });
    expect(subjectOf('jti', 'j')).toEqual({ jti: 'j' });
  });
});
