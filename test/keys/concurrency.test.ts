import { afterAll, describe, expect, it } from 'vitest';
import { superuserPool, testPool } from '../support/db.js';
import { errorCode, generate, keyIn, keyManager, opBase, statesOf } from './support.js';

const pool = testPool();
const su = superuserPool();
afterAll(async () => {
  await pool.end();
  await su.end();
});

describe('concurrent activations', () => {
  it('two concurrent activations of different keys leave exactly one active key', async () => {
    const current = await keyIn(keyManager(pool), 'active');
    const issuer = current.issuer;
    // Two KeyManager instances, as two workers would have.
    const [a, b] = [keyManager(pool), keyManager(pool)];
    const [ka, kb] = [await generate(a, issuer), await generate(b, issuer)];
    const results = await Promise.allSettled([
      a.activate({ ...opBase(), issuer, kid: ka.kid }),
      b.activate({ ...opBase(), issuer, kid: kb.kid }),
    ]);
    for (const r of results) if (r.status === 'rejected') expect(await errorCode(Promise.reject(r.reason))).toBe('KEY_ACTIVE_CONFLICT');
    const states = Object.values(await statesOf(pool, issuer));
    expect(states.filter((s) => s === 'active')).toHaveLength(1);
  });

  it('two concurrent activations of the same key activate it once and refuse the other', async () => {
    const m = keyManager(pool);
    const key = await generate(m, (await keyIn(m, 'active')).issuer);
    const codes = await Promise.all([0, 1].map(() => errorCode(m.activate({ ...opBase(), issuer: key.issuer, kid: key.kid }))));
    expect(codes.sort()).toEqual(['KEY_TRANSITION_FORBIDDEN', undefined]);
    expect(Object.values(await statesOf(pool, key.issuer)).filter((s) => s === 'active')).toHaveLength(1);
  });

  it('the database itself refuses a second active key for an issuer', async () => {
    const m = keyManager(pool);
    const active = await keyIn(m, 'active');
    const other = await generate(m, active.issuer);
    await expect(su.query(`UPDATE signing_keys SET state = 'active', activated_at = now() WHERE kid = $1`, [other.kid])).rejects.toMatchObject({
      code: '23505',
      constraint: 'signing_keys_one_active_per_issuer',
    });
  });
});
