import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { authenticateClient, disableClient, rotateSecret, setAudiences } from '../../agents/token-issuer/clients.js';
import { pauseIssuance } from '../../agents/token-issuer/issuance-control.js';
import { findIssued } from '../../agents/token-issuer/issued-tokens.js';
import { isKeyturnError } from '../../config/errors.js';
import { superuserPool, testPool } from '../support/db.js';
import { actor, client, issuedCount, POLICY_VERSION, verifyToken, world } from './support.js';

const pool = testPool();
const su = superuserPool();
afterAll(() => Promise.all([pool.end(), su.end()]));
const code = (e: unknown) => (isKeyturnError(e) ? e.code : String(e));

/** Whether a statement starting like `query` (LIKE pattern) is waiting for a lock. */
async function waitingOnLock(query: string): Promise<boolean> {
  return (await su.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`, [query])).rowCount! > 0;
}

async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((r) => setTimeout(r, 10));
}

/** A test-only trigger that holds the issuer's issued_tokens inserts (after the commit's checks ran) until release(). */
async function holdInserts(issuer: string): Promise<{ release(): Promise<unknown>; remove(): Promise<void> }> {
  const { rows } = await su.query<{ k: string }>(`SELECT hashtextextended($1, 0)::text AS k`, [`gate:${issuer}`]);
  const gateKey = rows[0]!.k;
  const fn = `hold_${randomUUID().replaceAll('-', '')}`;
  await su.query(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_lock_shared(${gateKey}); PERFORM pg_advisory_unlock_shared(${gateKey}); RETURN NEW; END $$`);
  await su.query(`CREATE TRIGGER ${fn} BEFORE INSERT ON issued_tokens FOR EACH ROW WHEN (NEW.issuer = '${issuer}') EXECUTE FUNCTION ${fn}()`);
  const gate = await su.connect();
  await gate.query(`SELECT pg_advisory_lock(${gateKey})`);
  return {
    release: () => gate.query(`SELECT pg_advisory_unlock(${gateKey})`),
    async remove() {
      await gate.query('SELECT pg_advisory_unlock_all()');
      gate.release();
      await su.query(`DROP TRIGGER ${fn} ON issued_tokens`);
      await su.query(`DROP FUNCTION ${fn}()`);
    },
  };
}

/** A world and a client whose credentials were checked, with one token already issued under them. */
async function authenticatedClient() {
  const w = await world(pool);
  const c = await client(pool);
  const auth = await authenticateClient(pool, c.clientId, c.secret);
  if (!auth.ok) throw new Error('the test client did not authenticate');
  await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: { secretHash: auth.secretHash, remembered: false } });
  return { w, c, auth };
}

/**
 * The TokenIssuer remembers a client, its issuer's signing handle and "not paused" between calls;
 * the commit of each token's record re-checks all three under the issuance lock.
 */
describe('TokenIssuer.issue: a token leaves only once its record commits against current state', () => {
  it('a key activated after the handle was remembered: the token is signed again under the new key', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const before = await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' });
    const base = { requestId: `test-${randomUUID()}`, policyVersion: POLICY_VERSION, actor };
    const next = await w.km.generateKey({ ...base, issuer: w.issuer, alg: 'ES256' });
    await w.km.activate({ ...base, requestId: `test-${randomUUID()}`, issuer: w.issuer, kid: next.kid });
    const after = await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' });
    expect([before.kid === next.kid, after.kid]).toEqual([false, next.kid]);
    expect((await verifyToken(w, after.accessToken)).jti).toBe(after.jti);
    expect((await findIssued(pool, after.jti))?.kid).toBe(next.kid);
  });

  it('a client disabled after it was remembered is refused at once, and nothing more is recorded', async () => {
    const w = await world(pool);
    const c = await client(pool);
    await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' });
    await disableClient(pool, c.clientId);
    expect(await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' }).catch(code)).toBe('CLIENT_NOT_AUTHORIZED');
    expect(await issuedCount(pool, w.issuer)).toBe(1);
  });

  it("a client's scopes changed after it was remembered: the token carries the current scopes", async () => {
    const w = await world(pool);
    const c = await client(pool, ['read', 'write']);
    await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' });
    await pool.query(`UPDATE clients SET scopes = $2 WHERE client_id = $1`, [c.clientId, ['read']]);
    const t = await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' });
    expect([t.scope, (await verifyToken(w, t.accessToken)).scope]).toEqual(['read', 'read']);
  });

  it("a client's audiences narrowed after it was remembered: the token carries only the audiences it may have now", async () => {
    const w = await world(pool, { audiences: ['https://a.test', 'https://b.test'] });
    const c = await client(pool, ['read']);
    await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' });
    await setAudiences(pool, c.clientId, ['https://b.test']);
    const t = await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' });
    expect((await verifyToken(w, t.accessToken)).aud).toBe('https://b.test');
    expect(await issuedCount(pool, w.issuer)).toBe(2);
  });

  it('a client given back an audience after it was remembered without it gets a token at once, not a refusal from the remembered record', async () => {
    const w = await world(pool, { audiences: ['https://a.test', 'https://b.test'] });
    const c = await client(pool, ['read']);
    await setAudiences(pool, c.clientId, ['https://a.test']);
    const issue = (audience: string) => w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process', audience });
    await issue('https://a.test');
    await expect(issue('https://b.test')).rejects.toSatisfy((e) => code(e) === 'INVALID_TARGET');
    await setAudiences(pool, c.clientId, undefined);
    expect((await verifyToken(w, (await issue('https://b.test')).accessToken)).aud).toBe('https://b.test');
  });

  it('a worker of the version before, committing through the old record_issued_tokens, issues nothing for a client limited to audiences', async () => {
    const w = await world(pool);
    const c = await client(pool, ['read']);
    await setAudiences(pool, c.clientId, ['https://elsewhere.test']);
    const kid = (await w.km.activeKey(w.issuer))!.kid;
    const jti = `old-worker-${randomUUID()}`;
    const { rows } = await pool.query<{ verdicts: string[] }>(
      `SELECT record_issued_tokens($1, $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::text[], $9::text[], $10::text[], $11::text[]) AS verdicts`,
      [w.issuer, [jti], [c.clientId], [c.clientId], [kid], [new Date(Date.now() + 60_000)], [new Date()], [POLICY_VERSION], ['read'], [null], [null]],
    );
    expect(rows[0]!.verdicts).toEqual(['client-changed']);
    expect(await findIssued(pool, jti)).toBeUndefined();
  });

  it('a pause after "not paused" was remembered: ISSUANCE_PAUSED, and the signed token is neither returned nor recorded', async () => {
    const w = await world(pool);
    const c = await client(pool);
    await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' });
    await pauseIssuance(pool, w.issuer, 'incident', { role: 'RevocationResponder' });
    expect(await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' }).catch(code)).toBe('ISSUANCE_PAUSED');
    expect(await issuedCount(pool, w.issuer)).toBe(1);
  });

  it('a secret rotated after the request was authenticated: CLIENT_SECRET_CHANGED, and nothing is recorded', async () => {
    const { w, c, auth } = await authenticatedClient();
    await rotateSecret(pool, c.clientId);
    expect(await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: { secretHash: auth.secretHash, remembered: false } }).catch(code)).toBe('CLIENT_SECRET_CHANGED');
    expect(await issuedCount(pool, w.issuer)).toBe(1);
  });

  it('a secret rotation that starts while a token is committing waits for that commit, so no token leaves after the rotation returned', async () => {
    const { w, c, auth } = await authenticatedClient();
    const hold = await holdInserts(w.issuer);
    try {
      const issuing = w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: { secretHash: auth.secretHash, remembered: false } });
      await until(() => waitingOnLock('SELECT record_issued_tokens%'));
      let rotated = false;
      const rotating = rotateSecret(pool, c.clientId).then(() => (rotated = true));
      await until(async () => rotated || (await waitingOnLock('UPDATE clients SET secret_hash%')));
      expect(rotated).toBe(false);
      await hold.release();
      const issued = await issuing;
      await rotating;
      expect((await findIssued(pool, issued.jti))?.clientId).toBe(c.clientId);
      expect(await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: { secretHash: auth.secretHash, remembered: false } }).catch(code)).toBe('CLIENT_SECRET_CHANGED');
    } finally {
      await hold.remove();
    }
  });

  it('a key activation that starts while a token is committing waits for that commit, so no token under the old key leaves after the activation returned', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const first = await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' });
    const base = { policyVersion: POLICY_VERSION, actor, issuer: w.issuer };
    const next = await w.km.generateKey({ ...base, requestId: `test-${randomUUID()}`, alg: 'ES256' });
    const hold = await holdInserts(w.issuer);
    try {
      const issuing = w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' });
      await until(() => waitingOnLock('SELECT record_issued_tokens%'));
      let activated = false;
      const activating = w.km.activate({ ...base, requestId: `test-${randomUUID()}`, kid: next.kid, previousTo: 'revoked' }).then(() => (activated = true));
      await until(async () => activated || (await waitingOnLock('SELECT kid FROM signing_keys%FOR UPDATE')));
      expect(activated).toBe(false);
      await hold.release();
      const issued = await issuing;
      await activating;
      expect([issued.kid, (await findIssued(pool, issued.jti))?.kid]).toEqual([first.kid, first.kid]);
      expect((await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' })).kid).toBe(next.kid);
    } finally {
      await hold.remove();
    }
  });

  it('many concurrent issuances each return a distinct token, each recorded once', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const issued = await Promise.all(Array.from({ length: 60 }, () => w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' })));
    expect(new Set(issued.map((t) => t.jti)).size).toBe(60);
    expect(await issuedCount(pool, w.issuer)).toBe(60);
  });
  it('a token whose commit waits on a pause in progress is refused once the pause commits: the check runs after the lock', async () => {
    const w = await world(pool);
    const c = await client(pool);
    await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' });
    const pausing = await pool.connect();
    try {
      await pausing.query('BEGIN');
      await pausing.query(`SELECT pg_advisory_xact_lock(hashtextextended('keyturn.issuance:' || $1, 0))`, [w.issuer]);
      await pausing.query(`INSERT INTO issuance_pauses (issuer, reason, paused_by) VALUES ($1, 'incident', '{"role":"RevocationResponder"}'::jsonb)`, [w.issuer]);
      const pending = w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' }).catch(code);
      for (;;) {
        const { rows } = await pool.query(
          `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('keyturn.issuance:' || $1, 0)`,
          [w.issuer],
        );
        if (rows.length > 0) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      await pausing.query('COMMIT');
      expect(await pending).toBe('ISSUANCE_PAUSED');
    } finally {
      pausing.release();
    }
    expect(await issuedCount(pool, w.issuer)).toBe(1);
  });
});
