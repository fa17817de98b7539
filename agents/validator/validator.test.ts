import { beforeAll, describe, expect, it, vi } from 'vitest';
import { isKeyturnError } from '../../config/errors.js';
import { fixedClock } from '../shared/clock.js';
import { AUDIENCE, expectRejected, ISSUER, NOW, T0, testKey, token, validatorFor, type TestKey } from '../../test/validator/support.js';
import { REJECTION_CODES, TokenRejected } from './errors.js';
import { createValidator, MemorySingleUseStore, type RejectionCode } from './index.js';

const algs = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;
const keys = {} as Record<(typeof algs)[number], TestKey>;
beforeAll(async () => {
  for (const a of algs) keys[a] = await testKey(a);
});

describe('createValidator', () => {
  for (const alg of algs) {
    it(`accepts a valid ${alg} token and returns its identifiers`, async () => {
      const k = keys[alg];
      const v = validatorFor([k]);
      const t = await v.verify(token(k, { claims: { jti: 'jti-1' } }));
      expect(t).toMatchObject({ kid: k.kid, alg, iss: ISSUER, sub: 'client-1', jti: 'jti-1', iat: NOW - 10, exp: NOW + 290 });
      expect(t.claims.aud).toBe(AUDIENCE);
    });
  }

  it('picks the key by kid from a multi-algorithm set', async () => {
    const v = validatorFor(Object.values(keys));
    await expect(v.verify(token(keys.ES256))).resolves.toMatchObject({ alg: 'ES256' });
  });

  it('calls onReject with the code of every rejection', async () => {
    const onReject = vi.fn();
    const v = validatorFor([keys.ES256], { onReject });
    await expectRejected(v.verify('a.b'), 'TOKEN_MALFORMED');
    expect(onReject).toHaveBeenCalledWith('TOKEN_MALFORMED');
  });

  it('keeps the verdict when the onReject hook throws', async () => {
    const v = validatorFor([keys.ES256], { onReject: () => { throw new Error('metrics down'); } });
    await expectRejected(v.verify('a.b'), 'TOKEN_MALFORMED');
  });

  it('passes jti, kid, sub and iat to the revocation checker', async () => {
    const check = vi.fn(async () => {});
    const v = validatorFor([keys.ES256], { revocation: { check } });
    await v.verify(token(keys.ES256, { claims: { jti: 'j-9' } }));
    expect(check).toHaveBeenCalledWith({ jti: 'j-9', kid: keys.ES256.kid, sub: 'client-1', iat: NOW - 10 });
  });

  it('fails closed with REVOCATION_STALE when the revocation checker errors', async () => {
    const v = validatorFor([keys.ES256], { revocation: { check: async () => { throw new Error('db down'); } } });
    await expectRejected(v.verify(token(keys.ES256)), 'REVOCATION_STALE');
  });

  it('does not consult revocation for a token with a bad signature', async () => {
    const check = vi.fn(async () => {});
    const v = validatorFor([keys.ES256], { revocation: { check } });
    const t = token(keys.ES256);
    await expectRejected(v.verify(`${t.slice(0, -4)}AAAA`), 'SIGNATURE_INVALID');
    expect(check).not.toHaveBeenCalled();
  });

  it('refuses the second use of a token verified with singleUse', async () => {
    const v = validatorFor([keys.ES256], { singleUse: new MemorySingleUseStore(fixedClock(T0)) });
    const t = token(keys.ES256);
    await v.verify(t, { singleUse: true });
    await expectRejected(v.verify(t, { singleUse: true }), 'TOKEN_REPLAYED');
  });

  it('refuses a replay for as long as the token is accepted, up to exp + a clock skew longer than the store\'s own margin', async () => {
    const clock = fixedClock(T0);
    const v = validatorFor([keys.ES256], { clock, clockSkewSeconds: 600, singleUse: new MemorySingleUseStore(clock) });
    const t = token(keys.ES256);
    await v.verify(t, { singleUse: true });
    clock.advance(290 + 400); // the token's exp + 400 s: within exp + 600 s of skew
    await expectRejected(v.verify(t, { singleUse: true }), 'TOKEN_REPLAYED');
  });

  it('lets a token be verified repeatedly without singleUse', async () => {
    const v = validatorFor([keys.ES256], { singleUse: new MemorySingleUseStore(fixedClock(T0)) });
    const t = token(keys.ES256);
    await v.verify(t);
    await expect(v.verify(t)).resolves.toBeDefined();
  });

  it('throws a configuration error (not a rejection) for singleUse without a store', async () => {
    const v = validatorFor([keys.ES256]);
    const e = await v.verify(token(keys.ES256), { singleUse: true }).catch((x: unknown) => x);
    expect(isKeyturnError(e, 'VALIDATOR_CONFIG_INVALID')).toBe(true);
  });

  it('refuses options with both jwksUri and keys', () => {
    expect(() => createValidator({ issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], keys: [], jwksUri: 'https://x/jwks', clockSkewSeconds: 0, maxTokenAgeSeconds: 60 })).toThrow(/exactly one/);
  });

  it('refuses a plain-http jwksUri off localhost', () => {
    expect(() => createValidator({ issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], jwksUri: 'http://jwks.example/keys', clockSkewSeconds: 0, maxTokenAgeSeconds: 60 })).toThrow(/https/);
  });

  it('refuses HS256 in the algorithm list', () => {
    expect(() => createValidator({ issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256' as 'RS256'], keys: [], clockSkewSeconds: 0, maxTokenAgeSeconds: 60 })).toThrow(/algorithms/);
  });

  it('refuses verify after close', async () => {
    const v = validatorFor([keys.ES256]);
    v.close();
    await expect(v.verify(token(keys.ES256))).rejects.toMatchObject({ code: 'VALIDATOR_CLOSED' });
  });

  it('honours a smaller maxTokenBytes', async () => {
    await expectRejected(validatorFor([keys.RS256], { maxTokenBytes: 100 }).verify(token(keys.RS256)), 'TOKEN_TOO_LARGE');
  });

  it('never echoes token content in a rejection message', async () => {
    const e = (await validatorFor([keys.ES256]).verify(token(keys.ES256, { header: { kid: 'evil<script>' } })).catch((x: unknown) => x)) as TokenRejected;
    expect(e.code).toBe('KID_INVALID');
    expect(e.message).not.toContain('evil');
  });
});

describe('REJECTION_CODES', () => {
  it('has no duplicates', () => expect(new Set(REJECTION_CODES).size).toBe(REJECTION_CODES.length));
  it('gives each TokenRejected its code and the KeyturnError shape', () => {
    const e = new TokenRejected('EXPIRED' satisfies RejectionCode, 'token has expired');
    expect(isKeyturnError(e, 'EXPIRED')).toBe(true);
    expect(e.toLine()).toMatch(/^error EXPIRED: token has expired/);
  });
});
