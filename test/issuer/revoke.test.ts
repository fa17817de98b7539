import { afterAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../agents/shared/db.js';
import type { JtiRevocation } from '../../http/oauth.js';
import { testPool } from '../support/db.js';
import { app, auditEntries, basic, client, post, world } from './support.js';

const pool = testPool();
afterAll(() => pool.end());

/** The validator's revocations table (db/migrations/1700000000400_revocations.sql) may not exist yet. */
const hasRevocationsTable = (await pool.query<{ t: string | null }>(`SELECT to_regclass('revocations')::text AS t`)).rows[0]!.t !== null;

async function setup() {
  const w = await world(pool);
  const [owner, other] = [await client(pool), await client(pool)];
  const issued = await w.tokens.issue({ issuer: w.issuer, clientId: owner.clientId, authentication: 'in-process' });
  const written: JtiRevocation[] = [];
  const notified: string[] = [];
  const revokeJti = async (_db: Queryable, r: JtiRevocation) => void written.push(r);
  const a = app(pool, w, { revokeJti, onRevoke: async (jti) => void notified.push(jti) });
  return { w, owner, other, issued, written, notified, a };
}

describe('POST /oauth2/revoke', () => {
  it('revokes the calling client own token until its exp plus the clock skew, audits it and calls onRevoke', async () => {
    const { a, owner, issued, written, notified } = await setup();
    const res = await post(a, '/oauth2/revoke', { token: issued.accessToken, token_type_hint: 'access_token' }, { authorization: basic(owner.clientId, owner.secret) });
    expect(res.statusCode).toBe(200);
    expect(written).toEqual([{ jti: issued.jti, expiresAt: expect.any(Date), reason: expect.stringContaining(owner.clientId) }]);
    const payload = JSON.parse(Buffer.from(issued.accessToken.split('.')[1]!, 'base64url').toString()) as { exp: number };
    expect(written[0]!.expiresAt.getTime()).toBe((payload.exp + 30) * 1000); // the issuer's clockSkew: 30 s
    expect(notified).toEqual([issued.jti]);
    expect((await auditEntries(pool, 'token.revoke', 'jti', issued.jti)).map((e) => e.outcome)).toEqual(['ok']);
  });

  it('revokes a token past its exp but within the clock skew, which validators still accept', async () => {
    const { a, owner, issued, written } = await setup();
    await pool.query(`UPDATE issued_tokens SET iat = now() - interval '20 seconds', exp = now() - interval '10 seconds' WHERE jti = $1`, [issued.jti]);
    const res = await post(a, '/oauth2/revoke', { token: issued.accessToken }, { authorization: basic(owner.clientId, owner.secret) });
    expect(res.statusCode).toBe(200);
    expect(written.map((r) => r.jti)).toEqual([issued.jti]);
    expect(written[0]!.expiresAt.getTime()).toBeGreaterThan(Date.now());
  });

  it('forgets deny-list entries that expired once it has revoked a token', async () => {
    const { a, owner, issued } = await setup();
    const expired = `expired-${issued.jti}`;
    await pool.query(`INSERT INTO revocations (kind, value, expires_at, temporary, reason) VALUES ('jti', $1, now() - interval '1 second', false, 'test')`, [expired]);
    const res = await post(a, '/oauth2/revoke', { token: issued.accessToken }, { authorization: basic(owner.clientId, owner.secret) });
    expect(res.statusCode).toBe(200);
    expect((await pool.query('SELECT 1 FROM revocations WHERE value = $1', [expired])).rowCount).toBe(0);
  });

  it("answers 200 but revokes nothing when the token is another client's (and audits the attempt)", async () => {
    const { a, other, issued, written, notified } = await setup();
    const res = await post(a, '/oauth2/revoke', { token: issued.accessToken }, { authorization: basic(other.clientId, other.secret) });
    expect(res.statusCode).toBe(200);
    expect(written).toEqual([]);
    expect(notified).toEqual([]);
    expect((await auditEntries(pool, 'token.revoke', 'jti', issued.jti)).map((e) => e.outcome)).toEqual(['refused']);
  });

  it('answers 200 and does nothing for a token it never issued', async () => {
    const { a, owner, written } = await setup();
    const forged = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ jti: 'x'.repeat(22), client_id: owner.clientId })).toString('base64url')}.`;
    for (const token of [forged, 'garbage']) {
      expect((await post(a, '/oauth2/revoke', { token }, { authorization: basic(owner.clientId, owner.secret) })).statusCode).toBe(200);
    }
    expect(written).toEqual([]);
  });

  it('requires client authentication: 401 invalid_client without it', async () => {
    const { a, issued, written } = await setup();
    const res = await post(a, '/oauth2/revoke', { token: issued.accessToken });
    expect(res.statusCode).toBe(401);
    expect(written).toEqual([]);
  });

  it.skipIf(!hasRevocationsTable)('by default writes a permanent jti row into the validator revocations table', async () => {
    const w = await world(pool);
    const owner = await client(pool);
    const issued = await w.tokens.issue({ issuer: w.issuer, clientId: owner.clientId, authentication: 'in-process' });
    const res = await post(app(pool, w), '/oauth2/revoke', { token: issued.accessToken }, { authorization: basic(owner.clientId, owner.secret) });
    expect(res.statusCode).toBe(200);
    const rows = await pool.query(`SELECT kind, value, temporary FROM revocations WHERE kind = 'jti' AND value = $1`, [issued.jti]);
    expect(rows.rows).toEqual([{ kind: 'jti', value: issued.jti, temporary: false }]);
  });
});
