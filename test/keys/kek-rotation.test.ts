import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { LocalKekProvider } from '../../agents/key-manager/kek.js';
import { resealUnderActiveKek } from '../../agents/key-manager/reseal.js';
import { testPool } from '../support/db.js';
import { actor, errorCode, keyIn, keyManager, policyVersion } from './support.js';

const pool = testPool();
afterAll(() => pool.end());

const kekOf = async (kid: string) => (await pool.query<{ kek_id: string }>('SELECT kek_id FROM signing_keys WHERE kid = $1', [kid])).rows[0]!.kek_id;

describe('rotating the KEK', () => {
  it('the new KEK with the old one behind it signs with keys sealed under the old; reseal moves them, audited, and the old KEK can go', async () => {
    const [oldKek, newKek] = [randomBytes(32), randomBytes(32)];
    const key = await keyIn(keyManager(pool, { kek: new LocalKekProvider(oldKek) }), 'active');
    const ring = new LocalKekProvider(newKek, [oldKek]);
    expect((await keyManager(pool, { kek: ring }).signingHandle(key.issuer)).kid).toBe(key.kid);

    const { resealed, failed } = await resealUnderActiveKek({ pool, kek: ring, appendAudit }, { actor, policyVersion });
    expect(resealed).toEqual([{ kid: key.kid, issuer: key.issuer, fromKek: new LocalKekProvider(oldKek).id }]);
    expect(failed).toEqual([]);
    expect(await kekOf(key.kid)).toBe(ring.id);
    const audited = await pool.query(`SELECT details FROM audit_log WHERE action = 'key.resealed' AND subject ->> 'kid' = $1`, [key.kid]);
    expect(audited.rows).toEqual([{ details: { fromKek: new LocalKekProvider(oldKek).id, toKek: ring.id } }]);

    const newOnly = keyManager(pool, { kek: new LocalKekProvider(newKek) });
    const handle = await newOnly.signingHandle(key.issuer);
    expect((await handle.sign(Buffer.from('after the rotation'))).length).toBeGreaterThan(0);
    expect((await resealUnderActiveKek({ pool, kek: ring, appendAudit }, { actor, policyVersion })).resealed.filter((r) => r.kid === key.kid)).toEqual([]);
  });

  it('without the old KEK in the ring, a key sealed under it is refused with KEK_MISMATCH', async () => {
    const key = await keyIn(keyManager(pool, { kek: new LocalKekProvider(randomBytes(32)) }), 'active');
    expect(await errorCode(keyManager(pool, { kek: new LocalKekProvider(randomBytes(32)) }).signingHandle(key.issuer))).toBe('KEK_MISMATCH');
  });
});
