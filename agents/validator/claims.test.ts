import { describe, expect, it } from 'vitest';
import { checkClaims, type ClaimRules } from './claims.js';
import type { TokenRejected} from './errors.js';
import { type RejectionCode } from './errors.js';

const NOW = 1_800_000_000;
const rules: ClaimRules = { issuer: 'https://iss', audience: 'api', clockSkewSeconds: 60, maxTokenAgeSeconds: 3600 };
const base = { iss: 'https://iss', aud: 'api', iat: NOW, exp: NOW + 300, jti: 'j1', sub: 's' };

function codeOf(c: Record<string, unknown>): RejectionCode | 'ok' {
  try {
    checkClaims(c, rules, NOW);
    return 'ok';
  } catch (e) {
    return (e as TokenRejected).code;
  }
}

describe('checkClaims', () => {
  it('accepts a well-formed claim set and returns its identifiers', () => {
    expect(checkClaims(base, rules, NOW)).toEqual({ iss: 'https://iss', sub: 's', jti: 'j1', iat: NOW, exp: NOW + 300 });
  });
  it('accepts aud as an array that contains our audience', () => expect(codeOf({ ...base, aud: ['other', 'api'] })).toBe('ok'));
  it('refuses aud as an array with a non-string member', () => expect(codeOf({ ...base, aud: ['api', 5] })).toBe('AUD_MISMATCH'));
  it('refuses iss with a different case', () => expect(codeOf({ ...base, iss: 'https://ISS' })).toBe('ISS_MISMATCH'));
  it('treats exp exactly at now - skew as expired', () => expect(codeOf({ ...base, exp: NOW - 60 })).toBe('EXPIRED'));
  it('accepts exp just inside the skew', () => expect(codeOf({ ...base, exp: NOW - 59 })).toBe('ok'));
  it('refuses exp beyond now + maxTokenAge + skew', () => expect(codeOf({ ...base, exp: NOW + 3600 + 61 })).toBe('EXP_INVALID'));
  it('refuses a non-numeric exp', () => expect(codeOf({ ...base, exp: '123' })).toBe('EXP_INVALID'));
  it('refuses a non-numeric nbf', () => expect(codeOf({ ...base, nbf: 'soon' })).toBe('NBF_INVALID'));
  it('accepts nbf within the skew', () => expect(codeOf({ ...base, nbf: NOW + 60 })).toBe('ok'));
  it('judges a fractional nbf against the whole current second, never a later fraction of it', () => {
    const at = (c: Record<string, unknown>) => {
      try {
        checkClaims(c, rules, NOW + 0.9);
        return 'ok';
      } catch (e) {
        return (e as TokenRejected).code;
      }
    };
    expect(at({ ...base, nbf: NOW + 60.5 })).toBe('NBF_IN_FUTURE');
    expect(at({ ...base, iat: NOW + 60.5 })).toBe('IAT_IN_FUTURE');
    expect(at({ ...base, nbf: NOW + 60 })).toBe('ok');
  });
  it('refuses a missing iat', () => expect(codeOf({ ...base, iat: undefined })).toBe('IAT_INVALID'));
  it('refuses an absent iat member', () => {
    const { iat: _iat, ...rest } = base;
    expect(codeOf(rest)).toBe('IAT_MISSING');
  });
  it('accepts iat exactly maxTokenAge + skew old', () => expect(codeOf({ ...base, iat: NOW - 3660 })).toBe('ok'));
  it('refuses iat older than maxTokenAge + skew', () => expect(codeOf({ ...base, iat: NOW - 3661 })).toBe('TOKEN_TOO_OLD'));
  it('refuses an empty jti', () => expect(codeOf({ ...base, jti: '' })).toBe('JTI_INVALID'));
  it('refuses a numeric jti', () => expect(codeOf({ ...base, jti: 7 })).toBe('JTI_INVALID'));
  it('refuses an absent jti', () => {
    const { jti: _jti, ...rest } = base;
    expect(codeOf(rest)).toBe('JTI_MISSING');
  });
  it('omits sub when the token has none', () => {
    const { sub: _sub, ...rest } = base;
    expect(checkClaims(rest, rules, NOW).sub).toBeUndefined();
  });
});
