import { afterAll, describe, expect, inject, it } from 'vitest';
import { containToken, liftContainment } from '../../agents/revocation-responder/containment.js';
import { pgListener, RevocationCache } from '../../agents/validator/revocation-list.js';
import { isKeyturnError } from '../../config/errors.js';
import { testPool } from '../support/db.js';
import { base } from '../revocation/support.js';
import { app, auditEntries, basic, client, post, world } from './support.js';

const pool = testPool();
afterAll(() => pool.end());

const SKEW_MS = 30_000; // the test issuer's clockSkewSeconds

async function setup() {
  const w = await world(pool);
  const [owner, other] = [await client(pool), await client(pool)];
  const issued = await w.tokens.issue({ issuer: w.issuer, clientId: owner.clientId, authentication: 'in-process' });
  const notified: string[] = [];
  const a = app(pool, w, { onRevoke: async (jti) => void notified.push(jti) });
  const exp = new Date(JSON.parse(Buffer.from(issued.accessToken.split('.')[1]!, 'base64url').toString()).exp * 1000);
  const revokeAs = (c: { clientId: string; secret: string }, token = issued.accessToken) => post(a, '/oauth2/revoke', { token }, { authorization: basic(c.clientId, c.secret) });
  return { w, owner, other, issued, exp, notified, a, revokeAs };
}

async function rows(jti: string) {
  return (await pool.query<{ temporary: boolean; expires_at: Date }>(`SELECT temporary, expires_at FROM revocations WHERE kind = 'jti' AND value = $1`, [jti])).rows;
}

/** What a validator started now answers for the token's jti (a fresh cache reads every entry when it starts). */
async function validatorSees(jti: string): Promise<string> {
  const cache = new RevocationCache({ db: pool, connectListener: pgListener(inject('databaseUrl')), freshnessSeconds: 60, resyncIntervalMs: 60_000 });
  await cache.start();
  try {
    return await cache.check({ jti, kid: 'any', iat: Math.floor(Date.now() / 1000) }).then(
      () => 'accepted',
      (e: { code?: string }) => e.code ?? 'error',
    );
  } finally {
    await cache.close();
  }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isKeyturnError(e) ? e.code : `not a KeyturnError: ${String(e)}`;
  }
  return 'resolved';
}

describe('POST /oauth2/revoke', () => {
  it('deny-lists the calling client own token, permanently, until its exp plus the clock skew', async () => {
    const { revokeAs, owner, issued, exp } = await setup();
    expect((await revokeAs(owner)).statusCode).toBe(200);
    expect(await rows(issued.jti)).toEqual([{ temporary: false, expires_at: new Date(exp.getTime() + SKEW_MS) }]);
  });

  it('audits the revocation as token.revoke ok and calls onRevoke', async () => {
    const { revokeAs, owner, issued, notified } = await setup();
    await revokeAs(owner);
    expect((await auditEntries(pool, 'token.revoke', 'jti', issued.jti)).map((e) => e.outcome)).toEqual(['ok']);
    expect(notified).toEqual([issued.jti]);
  });

  it('revokes a token past its exp but within the clock skew, which validators still accept', async () => {
    const { revokeAs, owner, issued } = await setup();
    await pool.query(`UPDATE issued_tokens SET iat = now() - interval '20 seconds', exp = now() - interval '10 seconds' WHERE jti = $1`, [issued.jti]);
    expect((await revokeAs(owner)).statusCode).toBe(200);
    expect((await rows(issued.jti)).map((r) => r.expires_at.getTime() > Date.now())).toEqual([true]);
  });

  it('forgets deny-list entries that expired once it has revoked a token', async () => {
    const { revokeAs, owner, issued } = await setup();
    const expired = `expired-${issued.jti}`;
    await pool.query(`INSERT INTO revocations (kind, value, expires_at, temporary, reason) VALUES ('jti', $1, now() - interval '1 second', false, 'test')`, [expired]);
    expect((await revokeAs(owner)).statusCode).toBe(200);
    expect((await pool.query('SELECT 1 FROM revocations WHERE value = $1', [expired])).rowCount).toBe(0);
  });

  it("answers 200 but revokes nothing when the token is another client's, and audits the attempt under the caller", async () => {
    const { a, revokeAs, other, issued, notified } = await setup();
    expect((await revokeAs(other)).statusCode).toBe(200);
    await a.close(); // waits for the refusal's audit entry, written after the answer
    expect(await rows(issued.jti)).toEqual([]);
    expect(notified).toEqual([]);
    expect((await auditEntries(pool, 'token.revoke', 'jti', issued.jti)).map((e) => [e.outcome, e.actor.client])).toEqual([['refused', other.clientId]]);
  });

  it('answers 200 and does nothing for a token it never issued', async () => {
    const { revokeAs, owner, notified } = await setup();
    const forged = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ jti: 'x'.repeat(22), client_id: owner.clientId })).toString('base64url')}.`;
    for (const token of [forged, 'garbage']) expect((await revokeAs(owner, token)).statusCode).toBe(200);
    expect(await rows('x'.repeat(22))).toEqual([]);
    expect(notified).toEqual([]);
  });

  it('requires client authentication: 401 invalid_client without it', async () => {
    const { a, issued } = await setup();
    expect((await post(a, '/oauth2/revoke', { token: issued.accessToken })).statusCode).toBe(401);
    expect(await rows(issued.jti)).toEqual([]);
  });

  describe('revoking again (RFC 7009: idempotent)', () => {
    it('answers 200 each time and audits the revocation once', async () => {
      const { revokeAs, owner, issued } = await setup();
      for (let i = 0; i < 3; i++) expect((await revokeAs(owner)).statusCode).toBe(200);
      expect((await auditEntries(pool, 'token.revoke', 'jti', issued.jti)).map((e) => e.outcome)).toEqual(['ok']);
    });

    it('does not call onRevoke again: the token is already refused', async () => {
      const { revokeAs, owner, issued, notified } = await setup();
      for (let i = 0; i < 3; i++) await revokeAs(owner);
      expect(notified).toEqual([issued.jti]);
    });
  });

  it("past its budget, a client's refused revocations are summarised under it, naming whose tokens it tried", async () => {
    const w = await world(pool);
    const [owner, prober] = [await client(pool), await client(pool)];
    const token = (await w.tokens.issue({ issuer: w.issuer, clientId: owner.clientId, authentication: 'in-process' })).accessToken;
    const now = Date.now(); // one budget window throughout
    const a = app(pool, w, { auditBudget: { perClientWindow: 2, now: () => now } });
    for (let i = 0; i < 5; i++) expect((await post(a, '/oauth2/revoke', { token }, { authorization: basic(prober.clientId, prober.secret) })).statusCode).toBe(200);
    await a.close(); // writes the summary of the window still open
    const entries = (await pool.query<{ details: Record<string, unknown> }>(`SELECT details FROM audit_log WHERE action = 'token.revoke' AND actor ->> 'client' = $1 ORDER BY seq`, [prober.clientId])).rows;
    expect(entries.map((e) => [e.details.reason, e.details.suppressed ?? null, e.details.clients ?? null])).toEqual([
      ['not_token_owner', null, null], ['not_token_owner', null, null], ['audit_budget_exceeded', 3, [owner.clientId]],
    ]);
  });

  describe('of a token under a pending containment (a temporary deny-list entry awaiting sign-off)', () => {
    async function contained(o: { containedFor: number }) {
      const s = await setup();
      await containToken(pool, { ...base, kind: 'jti', value: s.issued.jti, expiresAt: new Date(Date.now() + o.containedFor), reason: 'token seen in a log line' });
      return s;
    }

    it('makes the entry permanent, so a false alarm cannot lift it and validators keep refusing the token', async () => {
      const { revokeAs, owner, issued } = await contained({ containedFor: 600_000 });
      expect((await revokeAs(owner)).statusCode).toBe(200);
      expect(await codeOf(liftContainment(pool, { ...base, kind: 'jti', value: issued.jti, reason: 'false alarm: rejected by the approver' }))).toBe('REVOCATION_PERMANENT');
      expect((await rows(issued.jti)).map((r) => r.temporary)).toEqual([false]);
      expect(await validatorSees(issued.jti)).toBe('REVOKED_JTI');
    });

    it('extends an entry shorter than the token exp plus the clock skew', async () => {
      const { revokeAs, owner, issued, exp } = await contained({ containedFor: 5_000 });
      await revokeAs(owner);
      expect(await rows(issued.jti)).toEqual([{ temporary: false, expires_at: new Date(exp.getTime() + SKEW_MS) }]);
    });

    it('keeps an entry longer than the token exp plus the clock skew', async () => {
      const { revokeAs, owner, issued } = await contained({ containedFor: 3_600_000 });
      const before = (await rows(issued.jti))[0]!.expires_at;
      await revokeAs(owner);
      expect(await rows(issued.jti)).toEqual([{ temporary: false, expires_at: before }]);
    });

    it('audits the revocation, noting that the entry was temporary', async () => {
      const { revokeAs, owner, issued } = await contained({ containedFor: 600_000 });
      await revokeAs(owner);
      expect((await auditEntries(pool, 'token.revoke', 'jti', issued.jti)).map((e) => [e.outcome, e.details.wasTemporary])).toEqual([['ok', true]]);
    });
  });
});
