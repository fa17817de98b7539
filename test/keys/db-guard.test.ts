import { afterAll, describe, expect, it } from 'vitest';
import type { KeyState } from '../../agents/key-manager/types.js';
import { testPool } from '../support/db.js';
import { generate, keyManager, newIssuer } from './support.js';

const pool = testPool();
afterAll(() => pool.end());
const km = keyManager(pool);

const ALLOWED = new Set([
  'pending→active', 'pending→failed', 'pending→revoked',
  'active→retiring', 'active→revoked', 'active→failed',
  'retiring→active', 'retiring→retired', 'retiring→revoked',
  'retired→revoked',
]);
const STATES: KeyState[] = ['pending', 'active', 'retiring', 'retired', 'revoked', 'failed'];
const PAIRS = STATES.flatMap((from) => STATES.filter((to) => to !== from).map((to) => ({ from, to })));

const STAMPS = `activated_at = now(), retiring_at = now(), retired_at = now(), revoked_at = now(), failed_at = now()`;

/** Allowed steps from pending to each state. */
const PATH: Record<KeyState, KeyState[]> = {
  pending: [],
  active: ['active'],
  retiring: ['active', 'retiring'],
  retired: ['active', 'retiring', 'retired'],
  revoked: ['revoked'],
  failed: ['failed'],
};

describe('the database enforces the transition table too', () => {
  it.each(PAIRS)('$from → $to by plain SQL as keyturn_app', async ({ from, to }) => {
    const key = await generate(km, newIssuer());
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      for (const step of PATH[from]) await c.query(`UPDATE signing_keys SET state = $2, ${STAMPS} WHERE kid = $1`, [key.kid, step]);
      const code = await c.query(`UPDATE signing_keys SET state = $2, ${STAMPS} WHERE kid = $1`, [key.kid, to]).then(
        () => undefined,
        (e: { code?: string }) => e.code,
      );
      expect(code).toBe(ALLOWED.has(`${from}→${to}`) ? undefined : '23514');
    } finally {
      await c.query('ROLLBACK');
      c.release();
    }
  });

  it('keyturn_app cannot delete a key', async () => {
    const key = await generate(km, newIssuer());
    await expect(pool.query('DELETE FROM signing_keys WHERE kid = $1', [key.kid])).rejects.toMatchObject({ code: '42501' });
  });

  it('a key\'s kid and issuer cannot be rewritten', async () => {
    const key = await generate(km, newIssuer());
    await expect(pool.query('UPDATE signing_keys SET issuer = $2 WHERE kid = $1', [key.kid, newIssuer()])).rejects.toMatchObject({ code: '23514' });
  });
});
