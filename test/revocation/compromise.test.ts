import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { isKeyturnError } from '../../config/errors.js';
import { jtiDigest, releaseIssuance, revokeCompromisedKey } from '../../agents/revocation-responder/compromise.js';
import { containKeyCompromise } from '../../agents/revocation-responder/containment.js';
import { isPaused } from '../../agents/token-issuer/issuance-control.js';
import { REVOCATION_CHANNEL } from '../../agents/validator/revocation-list.js';
import { superuserPool, testPool } from '../support/db.js';
import { activeKid, auditCount, auditEntries, base, client, entries, recordToken, replaceKey, world } from './support.js';

const pool = testPool();
const su = superuserPool();
afterAll(async () => {
  await pool.end();
  await su.end();
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isKeyturnError(e) ? e.code : `not a KeyturnError: ${String(e)}`;
  }
  return 'resolved';
}

const minutes = (n: number) => new Date(Date.now() + n * 60_000);

describe('revokeCompromisedKey (after approval)', () => {
  it('deny-lists every unexpired token issued under the kid until its own expiry, and makes the kid entry permanent', async () => {
    const w = await world(pool);
    const owner = await client(pool);
    const kid = await activeKid(w);
    const issued = await w.tokens.issue({ issuer: w.issuer, clientId: owner.clientId, authentication: 'in-process' });
    const soon = await recordToken(pool, w, kid, minutes(-5), minutes(3));
    const late = await recordToken(pool, w, kid, minutes(-1), minutes(50));
    const expired = await recordToken(pool, w, kid, minutes(-30), minutes(-20));
    const c = await containKeyCompromise(pool, { ...base, issuer: w.issuer, kid, reason: 'HSM audit found an export' });
    const newKid = await replaceKey(w);
    const otherKidToken = await recordToken(pool, w, newKid, minutes(-1), minutes(10));

    const r = await revokeCompromisedKey(pool, { ...base, issuer: w.issuer, kid, reason: 'compromise confirmed by the security lead' });

    // Every token under the kid, each until its own exp (the approved outcome of issue #7) ...
    const expected = [issued.jti, soon, late];
    expect(r).toMatchObject({ issuer: w.issuer, kid, keyState: 'revoked', kidRevocationId: c.revocationId, deniedCount: 3, expiredCount: 1, jtisTruncated: false, changed: true });
    expect([...r.jtis].sort()).toEqual([...expected].sort());
    expect(r.jtiDigest).toBe(jtiDigest(expected));
    const exps = (await pool.query<{ jti: string; exp: Date }>(`SELECT jti, exp FROM issued_tokens WHERE jti = ANY($1)`, [expected])).rows;
    for (const { jti, exp } of exps) {
      expect(await entries(pool, 'jti', jti)).toEqual([expect.objectContaining({ temporary: false, expires_at: exp })]);
    }
    // ... but not the already expired one nor tokens of the replacement key.
    expect(await entries(pool, 'jti', expired)).toEqual([]);
    expect(await entries(pool, 'jti', otherKidToken)).toEqual([]);
    // The kid entry is the containment's, now permanent and outliving every token under the kid.
    const [kidEntry] = await entries(pool, 'kid', kid);
    expect(kidEntry).toMatchObject({ id: c.revocationId, temporary: false });
    expect(kidEntry!.expires_at.getTime()).toBeGreaterThanOrEqual(minutes(50).getTime() - 1000);
    expect(new Date(r.kidExpiresAt)).toEqual(kidEntry!.expires_at);
    const audit = await auditEntries(pool, 'revocation.confirmed', 'kid', kid);
    expect(audit).toHaveLength(1);
    expect(audit[0]!.details).toMatchObject({ deniedCount: 3, newJtiEntries: 3, expiredCount: 1, jtiDigest: r.jtiDigest });

    // The jti entries stand on their own: even if the kid entry disappeared, each token stays revoked.
    await su.query(`DELETE FROM revocations WHERE id = $1`, [c.revocationId]);
    const stillDenied = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM revocations WHERE kind = 'jti' AND value = ANY($1) AND NOT temporary AND expires_at > now()`, [expected]);
    expect(stillDenied.rows[0]!.n).toBe(3);
  });

  it('is idempotent: a repeat writes and audits nothing and reports the same tokens', async () => {
    const w = await world(pool);
    const kid = await activeKid(w);
    await recordToken(pool, w, kid, minutes(-1), minutes(5));
    await containKeyCompromise(pool, { ...base, issuer: w.issuer, kid, reason: 'alert' });
    const req = { ...base, issuer: w.issuer, kid, reason: 'confirmed' };
    const first = await revokeCompromisedKey(pool, req);
    const rows = await pool.query(`SELECT id, kind, value, temporary, expires_at FROM revocations WHERE reason IN ('confirmed', 'alert') AND (value = $1 OR value = ANY($2)) ORDER BY id`, [kid, first.jtis]);

    const second = await revokeCompromisedKey(pool, req);

    expect(second).toEqual({ ...first, changed: false });
    expect((await pool.query(`SELECT id, kind, value, temporary, expires_at FROM revocations WHERE reason IN ('confirmed', 'alert') AND (value = $1 OR value = ANY($2)) ORDER BY id`, [kid, first.jtis])).rows).toEqual(rows.rows);
    expect(await auditCount(pool, 'revocation.confirmed', 'kid', kid)).toBe(1);
  });

  it('announces every new entry to validators on the revocation channel, in the transaction', async () => {
    const w = await world(pool);
    const kid = await activeKid(w);
    const jtis = [await recordToken(pool, w, kid, minutes(-1), minutes(5)), await recordToken(pool, w, kid, minutes(-1), minutes(6))];
    const listener = new pg.Client({ connectionString: inject('databaseUrl') });
    await listener.connect();
    const seen: Array<{ kind: string; value: string; op: string }> = [];
    listener.on('notification', (m) => seen.push(JSON.parse(m.payload!) as { kind: string; value: string; op: string }));
    await listener.query(`LISTEN ${REVOCATION_CHANNEL}`);
    try {
      await revokeCompromisedKey(pool, { ...base, issuer: w.issuer, kid, reason: 'confirmed' });
      await listener.query('SELECT 1');
      await new Promise((r) => setTimeout(r, 100));
      const mine = seen.filter((n) => n.value === kid || jtis.includes(n.value));
      expect(mine.map((n) => `${n.op}:${n.kind}:${n.value}`).sort()).toEqual([`upsert:kid:${kid}`, ...jtis.map((j) => `upsert:jti:${j}`)].sort());
    } finally {
      await listener.end();
    }
  });

  it('works without a prior containment, honours an explicit horizon, and refuses another issuer', async () => {
    const w = await world(pool);
    const other = await world(pool);
    const kid = await activeKid(w);
    const horizon = minutes(24 * 60);
    const r = await revokeCompromisedKey(pool, { ...base, issuer: w.issuer, kid, reason: 'confirmed', kidExpiresAt: horizon.toISOString() });
    expect(r).toMatchObject({ deniedCount: 0, jtis: [], latestExp: null, kidExpiresAt: horizon.toISOString(), changed: true });
    expect(await entries(pool, 'kid', kid)).toEqual([expect.objectContaining({ temporary: false, expires_at: horizon })]);
    expect(await code(revokeCompromisedKey(pool, { ...base, issuer: other.issuer, kid, reason: 'confirmed' }))).toBe('REVOCATION_INVALID');
  });
});

describe('releaseIssuance', () => {
  it('keeps issuance paused until KeyManager has a clean active key, then resumes it with the new key', async () => {
    const w = await world(pool);
    const owner = await client(pool);
    const kid = await activeKid(w);
    await containKeyCompromise(pool, { ...base, issuer: w.issuer, kid, reason: 'alert' });
    const req = { ...base, issuer: w.issuer, compromisedKid: kid, reason: 'replacement key active' };

    expect(await code(releaseIssuance(pool, req))).toBe('REVOCATION_RELEASE_UNSAFE');
    expect(await isPaused(pool, w.issuer)).toBe(true);

    const newKid = await replaceKey(w);
    await revokeCompromisedKey(pool, { ...base, issuer: w.issuer, kid, reason: 'confirmed' });
    expect(await releaseIssuance(pool, req)).toEqual({ activeKid: newKid, resumed: true });
    expect(await isPaused(pool, w.issuer)).toBe(false);
    await expect(w.tokens.issue({ issuer: w.issuer, clientId: owner.clientId, authentication: 'in-process' })).resolves.toMatchObject({ kid: newKid });
    expect(await releaseIssuance(pool, req)).toEqual({ activeKid: newKid, resumed: false });
  });
});
