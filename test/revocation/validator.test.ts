import { afterAll, describe, expect, inject, it } from 'vitest';
import { revokeCompromisedKey } from '../../agents/revocation-responder/compromise.js';
import { containKeyCompromise, liftContainment } from '../../agents/revocation-responder/containment.js';
import { pgListener, RevocationCache } from '../../agents/validator/revocation-list.js';
import { testPool } from '../support/db.js';
import { activeKid, base, recordToken, world } from './support.js';

const pool = testPool();
afterAll(() => pool.end());

async function until(cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 25));
  }
}

const rejection = (cache: RevocationCache, t: { jti: string; kid: string; iat: number }) =>
  cache.check(t).then(
    () => 'accepted',
    (e: { code?: string }) => e.code ?? 'error',
  );

describe('what a validator sees (RevocationCache over LISTEN/NOTIFY)', () => {
  it('rejects the contained kid at once, accepts it again after a false alarm, and after approval rejects each token by jti', async () => {
    const w = await world(pool);
    const kid = await activeKid(w);
    const iat = Math.floor(Date.now() / 1000);
    const jti = await recordToken(pool, w, kid, new Date(Date.now() - 1000), new Date(Date.now() + 600_000));
    const cache = new RevocationCache({ db: pool, connectListener: pgListener(inject('databaseUrl')), freshnessSeconds: 60, resyncIntervalMs: 60_000 });
    await cache.start();
    try {
      expect(await rejection(cache, { jti, kid, iat })).toBe('accepted');

      await containKeyCompromise(pool, { ...base, issuer: w.issuer, kid, reason: 'alert' });
      await until(async () => (await rejection(cache, { jti, kid, iat })) === 'REVOKED_KID');

      await liftContainment(pool, { ...base, kind: 'kid', issuer: w.issuer, kid, reason: 'false alarm' });
      await until(async () => (await rejection(cache, { jti, kid, iat })) === 'accepted');

      await containKeyCompromise(pool, { ...base, issuer: w.issuer, kid, reason: 'alert again' });
      await revokeCompromisedKey(pool, { ...base, issuer: w.issuer, kid, reason: 'confirmed' });
      // A token under another (clean) kid but with the denied jti is still refused: the jti entry stands alone.
      await until(async () => (await rejection(cache, { jti, kid: 'some-other-kid', iat })) === 'REVOKED_JTI');
      expect(await rejection(cache, { jti, kid, iat })).toMatch(/^REVOKED_(JTI|KID)$/);
    } finally {
      await cache.close();
    }
  });
});
