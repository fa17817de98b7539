import { describe, expect, it } from 'vitest';
import type { TokenRejected} from './errors.js';
import { type RejectionCode } from './errors.js';
import { CheckedHeaders, checkHeader } from './header.js';

const base = { alg: 'ES256', kid: 'k1', typ: 'at+jwt' };
function codeOf(h: Record<string, unknown>): RejectionCode | 'ok' {
  try {
    checkHeader(h, ['ES256']);
    return 'ok';
  } catch (e) {
    return (e as TokenRejected).code;
  }
}

describe('checkHeader', () => {
  it('accepts typ at+jwt in any case', () => expect(codeOf({ ...base, typ: 'AT+JWT' })).toBe('ok'));
  it('accepts typ application/at+jwt', () => expect(codeOf({ ...base, typ: 'application/at+jwt' })).toBe('ok'));
  it('refuses a header without alg as malformed', () => expect(codeOf({ kid: 'k1', typ: 'at+jwt' })).toBe('TOKEN_MALFORMED'));
  it('reports alg none before anything else', () => expect(codeOf({ alg: 'nOnE', jku: 'https://x' })).toBe('ALG_NONE'));
  it('refuses an alg outside the policy list even if supported', () => expect(codeOf({ ...base, alg: 'RS256' })).toBe('ALG_NOT_ALLOWED'));
  it('refuses b64 true-ish values that are not true', () => expect(codeOf({ ...base, b64: 'false' })).toBe('HEADER_B64_FALSE'));
  it('accepts an explicit b64 true', () => expect(codeOf({ ...base, b64: true })).toBe('ok'));
  it('refuses a kid that is not a string', () => expect(codeOf({ ...base, kid: 12 })).toBe('KID_INVALID'));
  it('refuses a kid of 129 characters', () => expect(codeOf({ ...base, kid: 'a'.repeat(129) })).toBe('KID_INVALID'));
  it('accepts a kid of 128 characters', () => expect(codeOf({ ...base, kid: 'a'.repeat(128) })).toBe('ok'));
  it('refuses an empty kid', () => expect(codeOf({ ...base, kid: '' })).toBe('KID_INVALID'));
  it('refuses a typ that is not a string', () => expect(codeOf({ ...base, typ: ['at+jwt'] })).toBe('TYP_INVALID'));
});

describe('CheckedHeaders', () => {
  const segment = (h: Record<string, unknown>) => Buffer.from(JSON.stringify(h)).toString('base64url');

  it('remembers a header that passed, returning one deep-frozen entry for its bytes', () => {
    const headers = new CheckedHeaders(['ES256']);
    const first = headers.check({ headerSegment: segment(base), header: { ...base } });
    const again = headers.check({ headerSegment: segment(base), header: { ...base } });
    expect([again === first, Object.isFrozen(first.header), first.alg, first.kid, headers.known.has(segment(base))]).toEqual([true, true, 'ES256', 'k1', true]);
  });

  it('never remembers a header that failed: the same bytes are refused every time', () => {
    const headers = new CheckedHeaders(['ES256']);
    const bad = { ...base, jku: 'https://attacker.example/jwks' };
    for (let i = 0; i < 2; i++) {
      expect(() => headers.check({ headerSegment: segment(bad), header: { ...bad } })).toThrow(expect.objectContaining({ code: 'HEADER_JKU_FORBIDDEN' }));
    }
    expect(headers.known.size).toBe(0);
  });

  it('holds at most its bound, starting over when a new header would exceed it', () => {
    const headers = new CheckedHeaders(['ES256'], 2);
    for (const kid of ['a', 'b', 'c']) headers.check({ headerSegment: segment({ ...base, kid }), header: { ...base, kid } });
    expect([headers.known.size, headers.known.has(segment({ ...base, kid: 'c' }))]).toEqual([1, true]);
  });
});
