import { afterAll, describe, expect, it } from 'vitest';
import { revoke } from '../../agents/validator/revocation-list.js';
import type { KeyRecord } from '../../agents/key-manager/types.js';
import { testPool } from '../support/db.js';
import { activate, errorCode, generate, keyIn, keyManager, opBase, statesOf } from './support.js';

const pool = testPool();
afterAll(() => pool.end());
const km = keyManager(pool);

/** An issuer whose rotation went ahead: `previous` retiring, `current` active. */
async function rotated(): Promise<{ previous: KeyRecord; current: KeyRecord }> {
  const previous = await keyIn(km, 'active');
  const current = await activate(km, await generate(km, previous.issuer));
  return { previous: await km.getKey(previous.kid), current };
}

/** A kid deny-list entry, as a revocation's containment (temporary) or its confirmation (permanent) writes it. */
const denyKid = (kid: string, temporary: boolean, expiresAt = new Date(Date.now() + 3_600_000)) =>
  revoke(pool, { kind: 'kid', value: kid, expiresAt, temporary, reason: 'suspected compromise' });

/** The codes of refused `action`s audited with `subject[field]` = `kid`. */
const refusals = async (action: string, field: string, kid: string) =>
  (await pool.query<{ code: string }>(`SELECT details ->> 'code' AS code FROM audit_log WHERE action = $1 AND outcome = 'refused' AND subject ->> $2 = $3`, [action, field, kid])).rows.map((r) => r.code);

describe('activate with expectedPreviousKid', () => {
  it('refuses with KEY_ACTIVE_CHANGED when another key is active, and changes nothing', async () => {
    const { previous: compromised, current } = await rotated();
    const replacement = await generate(km, compromised.issuer);
    const before = await statesOf(pool, compromised.issuer);

    const code = await errorCode(km.activate({ ...opBase(), issuer: compromised.issuer, kid: replacement.kid, previousTo: 'revoked', expectedPreviousKid: compromised.kid }));

    expect(code).toBe('KEY_ACTIVE_CHANGED');
    expect(await statesOf(pool, compromised.issuer)).toEqual(before);
    expect(before[current.kid]).toBe('active');
    expect(await refusals('key.activate', 'kid', replacement.kid)).toEqual(['KEY_ACTIVE_CHANGED']);
  });

  it('refuses with KEY_ACTIVE_CHANGED when the issuer has no active key', async () => {
    const compromised = await keyIn(km, 'revoked');
    const replacement = await generate(km, compromised.issuer);

    expect(await errorCode(km.activate({ ...opBase(), issuer: compromised.issuer, kid: replacement.kid, expectedPreviousKid: compromised.kid }))).toBe('KEY_ACTIVE_CHANGED');
    expect((await km.getKey(replacement.kid)).state).toBe('pending');
  });

  it('replaces the active key it names', async () => {
    const compromised = await keyIn(km, 'active');
    const replacement = await generate(km, compromised.issuer);

    const { active, previous } = await km.activate({ ...opBase(), issuer: compromised.issuer, kid: replacement.kid, previousTo: 'revoked', expectedPreviousKid: compromised.kid });

    expect([active.kid, active.state, previous?.kid, previous?.state]).toEqual([replacement.kid, 'active', compromised.kid, 'revoked']);
  });
});

describe('a deny-listed key is never made active', () => {
  it.each([true, false])('restorePrevious refuses a retiring key with a live kid entry (temporary: %s) with KEY_DENY_LISTED, and changes nothing', async (temporary) => {
    const { previous, current } = await rotated();
    await denyKid(previous.kid, temporary);

    const code = await errorCode(km.restorePrevious({ ...opBase(), issuer: previous.issuer, previousKid: previous.kid, failedKid: current.kid, reason: 'canary failed' }));

    expect(code).toBe('KEY_DENY_LISTED');
    expect(await statesOf(pool, previous.issuer)).toEqual({ [previous.kid]: 'retiring', [current.kid]: 'active' });
    expect(await refusals('key.restore', 'previousKid', previous.kid)).toEqual(['KEY_DENY_LISTED']);
  });

  it('restorePrevious restores a retiring key whose kid entry has expired', async () => {
    const { previous, current } = await rotated();
    await pool.query(`INSERT INTO revocations (kind, value, expires_at, temporary, reason) VALUES ('kid', $1, now() - interval '1 second', true, 'lapsed')`, [previous.kid]);

    const { active } = await km.restorePrevious({ ...opBase(), issuer: previous.issuer, previousKid: previous.kid, failedKid: current.kid, reason: 'canary failed' });

    expect(active.kid).toBe(previous.kid);
  });

  it('activate refuses a pending key with a live kid entry with KEY_DENY_LISTED, and changes nothing', async () => {
    const current = await keyIn(km, 'active');
    const next = await generate(km, current.issuer);
    await denyKid(next.kid, true);

    expect(await errorCode(km.activate({ ...opBase(), issuer: current.issuer, kid: next.kid }))).toBe('KEY_DENY_LISTED');
    expect(await statesOf(pool, current.issuer)).toEqual({ [current.kid]: 'active', [next.kid]: 'pending' });
  });
});
