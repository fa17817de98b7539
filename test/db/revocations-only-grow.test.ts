import { afterAll, describe, expect, it } from 'vitest';
import { liftRevocation, makePermanent, purgeExpiredRevocations, revoke } from '../../agents/validator/revocation-list.js';
import { testPool, unique } from '../support/db.js';

// Played by the runtime login (keyturn_app), whose grants allow UPDATE and DELETE on revocations.
const pool = testPool();
afterAll(() => pool.end());

const inAnHour = () => new Date(Date.now() + 3_600_000);
const entry = (temporary = false, expiresAt = inAnHour()) => revoke(pool, { kind: 'jti', value: unique('jti'), expiresAt, temporary, reason: 'test' });
const rowOf = async (id: string) => (await pool.query<{ temporary: boolean; expires_at: Date }>('SELECT temporary, expires_at FROM revocations WHERE id = $1', [id])).rows[0];

describe('a revocation only grows stronger, whoever writes the table', () => {
  it('deleting a permanent entry that has not expired deletes nothing', async () => {
    const { id } = await entry();
    const res = await pool.query('DELETE FROM revocations WHERE id = $1', [id]);
    expect(res.rowCount).toBe(0);
    expect(await rowOf(id)).toMatchObject({ temporary: false });
  });

  it('moving a permanent entry\'s expiry earlier is refused', async () => {
    const { id } = await entry();
    await expect(pool.query('UPDATE revocations SET expires_at = now() WHERE id = $1', [id])).rejects.toThrow(/never shortened/);
  });

  it('making a permanent entry temporary is refused, so no lift can remove it', async () => {
    const { id } = await entry();
    await expect(pool.query('UPDATE revocations SET temporary = true WHERE id = $1', [id])).rejects.toThrow(/never becomes temporary/);
  });

  it('an entry\'s value never changes', async () => {
    const { id } = await entry();
    await expect(pool.query(`UPDATE revocations SET value = 'other' WHERE id = $1`, [id])).rejects.toThrow(/never change/);
  });

  it('what keyturn does still works: a temporary entry is extended, made permanent or lifted', async () => {
    const suspended = await entry(true);
    const later = new Date(Date.now() + 7_200_000);
    await revoke(pool, { kind: 'jti', value: suspended.value, expiresAt: later, temporary: true, reason: 'test' });
    await makePermanent(pool, suspended.id);
    expect(await rowOf(suspended.id)).toEqual({ temporary: false, expires_at: later });
    const lifted = await entry(true);
    await liftRevocation(pool, lifted.id);
    expect(await rowOf(lifted.id)).toBeUndefined();
  });

  it('an expired permanent entry is purged, and a purge whose clock runs ahead skips one that has not expired', async () => {
    const expired = await entry(false, new Date(Date.now() - 1000));
    const live = await entry(false, new Date(Date.now() + 60_000));
    await purgeExpiredRevocations(pool, new Date(Date.now() + 120_000));
    expect(await rowOf(expired.id)).toBeUndefined();
    expect(await rowOf(live.id)).toMatchObject({ temporary: false });
  });
});
