import { afterAll, describe, expect, it } from 'vitest';
import type { AppendAudit } from '../../agents/auditor/types.js';
import { testPool } from '../support/db.js';
import { actor, errorCode, generate, keyIn, keyManager, newIssuer, opBase, policyVersion, rid, statesOf } from './support.js';

const pool = testPool();
afterAll(() => pool.end());
const km = keyManager(pool);

async function auditCount(kid: string): Promise<number> {
  const res = await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM audit_log WHERE subject ->> 'kid' = $1 AND outcome = 'ok'`, [kid]);
  return Number(res.rows[0]!.n);
}

describe('idempotency under requestId', () => {
  it('a replayed generateKey returns the first key and stores no second one', async () => {
    const issuer = newIssuer();
    const req = { requestId: rid(), issuer, alg: 'ES256' as const, policyVersion, actor };
    const first = await km.generateKey(req);
    const again = await km.generateKey(req);
    expect(again).toEqual(first);
    expect(Object.keys(await statesOf(pool, issuer))).toEqual([first.kid]);
  });

  it('a replayed activate returns the first result and changes nothing made since', async () => {
    const a = await keyIn(km, 'pending');
    const b = await generate(km, a.issuer);
    const first = { ...opBase(), issuer: a.issuer, kid: a.kid };
    const firstResult = await km.activate(first);
    await km.activate({ ...opBase(), issuer: a.issuer, kid: b.kid });
    const before = await statesOf(pool, a.issuer);
    expect(await km.activate(first)).toEqual(firstResult);
    expect(await statesOf(pool, a.issuer)).toEqual(before);
  });

  it('a replayed revoke appends no second audit entry', async () => {
    const key = await keyIn(km, 'pending');
    const req = { ...opBase(), kid: key.kid, reason: 'compromised' };
    await km.revoke(req);
    const n = await auditCount(key.kid);
    await km.revoke(req);
    expect(await auditCount(key.kid)).toBe(n);
  });

  it('concurrent calls with one requestId generate one key', async () => {
    const issuer = newIssuer();
    const req = { requestId: rid(), issuer, alg: 'EdDSA' as const, policyVersion, actor };
    const [x, y] = await Promise.all([km.generateKey(req), km.generateKey(req)]);
    expect(y.kid).toBe(x.kid);
    expect(Object.keys(await statesOf(pool, issuer))).toHaveLength(1);
  });

  it('a requestId reused for a different request is refused with REQUEST_ID_CONFLICT', async () => {
    const [a, b] = [await keyIn(km, 'pending'), await keyIn(km, 'pending')];
    const requestId = rid();
    await km.revoke({ requestId, policyVersion, actor, kid: a.kid, reason: 'x' });
    expect(await errorCode(km.revoke({ requestId, policyVersion, actor, kid: b.kid, reason: 'x' }))).toBe('REQUEST_ID_CONFLICT');
    expect((await km.getKey(b.kid)).state).toBe('pending');
  });
});

describe('atomicity with the audit log', () => {
  it('each transition appends exactly one audit entry', async () => {
    const key = await keyIn(km, 'pending');
    await km.markFailed({ ...opBase(), kid: key.kid, reason: 'probe failed' });
    const res = await pool.query<{ action: string }>(`SELECT action FROM audit_log WHERE subject ->> 'kid' = $1 AND outcome = 'ok' ORDER BY seq`, [key.kid]);
    expect(res.rows.map((r) => r.action)).toEqual(['key.generate', 'key.fail']);
  });

  it('a transition whose audit append fails is not applied', async () => {
    const key = await keyIn(km, 'pending');
    const failing: AppendAudit = async () => {
      throw new Error('audit unavailable');
    };
    const broken = keyManager(pool, { appendAudit: failing });
    await expect(broken.revoke({ ...opBase(), kid: key.kid, reason: 'x' })).rejects.toThrow('audit unavailable');
    expect((await km.getKey(key.kid)).state).toBe('pending');
  });

  it('a generated key whose audit append fails is not stored', async () => {
    const issuer = newIssuer();
    const broken = keyManager(pool, { appendAudit: async () => Promise.reject(new Error('audit unavailable')) });
    await expect(generate(broken, issuer)).rejects.toThrow('audit unavailable');
    expect(await statesOf(pool, issuer)).toEqual({});
  });

  it('a refused transition is audited as refused', async () => {
    const key = await keyIn(km, 'revoked');
    await errorCode(km.markFailed({ ...opBase(), kid: key.kid, reason: 'x' }));
    const res = await pool.query<{ details: { code: string } }>(`SELECT details FROM audit_log WHERE subject ->> 'kid' = $1 AND outcome = 'refused'`, [key.kid]);
    expect(res.rows.map((r) => r.details.code)).toEqual(['KEY_TRANSITION_FORBIDDEN']);
  });
});
