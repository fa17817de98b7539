import { beforeAll, describe, expect, it, vi } from 'vitest';
import { fixedClock } from '../shared/clock.js';
import { expectRejected, MAX_AGE, SKEW, T0, testKey, token, validatorFor, type TestKey } from '../../test/validator/support.js';
import { TokenRejected } from './errors.js';
import { MemorySingleUseStore } from './index.js';
import * as signature from './signature.js';
import { VerifiedTokenCache } from './verified-cache.js';

let es: TestKey;
beforeAll(async () => {
  es = await testKey('ES256');
});

/** A JWKS endpoint serving `keys()` (whatever it holds at each fetch), max-age 0. */
const jwksOf = (keys: () => TestKey[]) => (async () => new Response(JSON.stringify({ keys: keys().map((k) => k.publicJwk) }), { headers: { 'cache-control': 'max-age=0' } })) as unknown as typeof fetch;

/** Verifies `t` twice, so the validator remembers it: later verifies take the warm path. */
const remembered = async (v: { verify(t: string): Promise<unknown> }, t: string) => {
  await v.verify(t);
  await v.verify(t);
};

describe('a token seen before (warm verify)', () => {
  it('is remembered once it comes back: from its third verify on, only the signature check is skipped', async () => {
    const spy = vi.spyOn(signature, 'verifySignature');
    try {
      const v = validatorFor([es]);
      const t = token(es);
      for (let i = 0; i < 4; i++) await v.verify(t);
      expect(spy).toHaveBeenCalledTimes(2);
    } finally {
      spy.mockRestore();
    }
  });

  it('a token verified only once is noted, not remembered: a stream of one-off tokens keeps no claims', async () => {
    const v = validatorFor([es], { verifiedCacheSize: 10 });
    const spy = vi.spyOn(signature, 'verifySignature');
    try {
      for (let i = 0; i < 20; i++) await v.verify(token(es));
      expect(spy).toHaveBeenCalledTimes(20);
    } finally {
      spy.mockRestore();
    }
  });

  it('is refused once it expires, though its signature is remembered', async () => {
    const clock = fixedClock(T0);
    const v = validatorFor([es], { clock });
    const t = token(es);
    await remembered(v, t);
    clock.advance(MAX_AGE + SKEW + 1);
    await expectRejected(v.verify(t), 'EXPIRED');
  });

  it('is refused once revoked: the revocation check runs on every verify', async () => {
    let revoked = false;
    const v = validatorFor([es], { revocation: { check: async () => { if (revoked) throw new TokenRejected('REVOKED_JTI', 'revoked'); } } });
    const t = token(es);
    await remembered(v, t);
    revoked = true;
    await expectRejected(v.verify(t), 'REVOKED_JTI');
  });

  it('is refused once its key leaves the JWKS', async () => {
    let served = [es];
    const v = validatorFor([es], { keys: undefined, jwksUri: 'https://issuer.test/jwks', fetch: jwksOf(() => served), jwksCooldownMs: 0 });
    const t = token(es);
    await remembered(v, t);
    served = [];
    await expectRejected(v.verify(t), 'KID_UNKNOWN');
  });

  it('is still refused as a replay when single use is asked for', async () => {
    const v = validatorFor([es], { singleUse: new MemorySingleUseStore(fixedClock(T0)) });
    const t = token(es);
    await remembered(v, t);
    await v.verify(t, { singleUse: true });
    await expectRejected(v.verify(t, { singleUse: true }), 'TOKEN_REPLAYED');
  });

  it('returns frozen claims, so a caller cannot change what later verifies see', async () => {
    const v = validatorFor([es]);
    const t = token(es);
    const first = await v.verify(t);
    expect(() => { (first.claims as Record<string, unknown>).sub = 'someone-else'; }).toThrow(TypeError);
    const remembered = (await v.verify(t), await v.verify(t));
    expect(() => { (remembered.claims as Record<string, unknown>).sub = 'someone-else'; }).toThrow(TypeError);
    expect((await v.verify(t)).sub).toBe('client-1');
  });

  it('is never remembered when its signature fails', async () => {
    const spy = vi.spyOn(signature, 'verifySignature');
    const v = validatorFor([es]);
    const bad = `${token(es).slice(0, -4)}AAAA`;
    await expectRejected(v.verify(bad), 'SIGNATURE_INVALID');
    await expectRejected(v.verify(bad), 'SIGNATURE_INVALID');
    expect(spy).toHaveBeenCalledTimes(2);
    spy.mockRestore();
  });

  it('is verified in full every time with verifiedCacheSize 0', async () => {
    const spy = vi.spyOn(signature, 'verifySignature');
    const v = validatorFor([es], { verifiedCacheSize: 0 });
    const t = token(es);
    for (let i = 0; i < 3; i++) await v.verify(t);
    expect(spy).toHaveBeenCalledTimes(3);
    spy.mockRestore();
  });
});

describe('VerifiedTokenCache', () => {
  it('holds at most its bound, dropping the oldest entry first', () => {
    const c = new VerifiedTokenCache(2);
    const e = { key: {} as never, header: {}, claims: {}, kid: 'k', alg: 'ES256' as const };
    c.set('a', e);
    c.set('b', e);
    c.set('c', e);
    expect([c.size, c.get('a'), c.get('c')]).toEqual([2, undefined, e]);
  });

  it('admits a token on its second full verification only, and notes at most its bound of first ones', () => {
    const c = new VerifiedTokenCache(2);
    expect([c.admit('a'), c.admit('a')]).toEqual([false, true]);
    c.admit('b');
    c.admit('c');
    c.admit('d');
    expect([c.admit('b'), c.admit('d')]).toEqual([false, true]);
  });
});
