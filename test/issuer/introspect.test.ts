import { afterAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { testPool } from '../support/db.js';
import { setIntrospection } from '../../agents/token-issuer/clients.js';
import { app, auditEntries, basic, client, post, verifyToken, world, type World } from './support.js';

const pool = testPool();
afterAll(() => pool.end());

/** The injected validator: signature and claims against the issuer's JWKS (a test stand-in for createValidator). */
const validatorFor = (w: World) => ({ verify: (token: string) => verifyToken(w, token) as Promise<Record<string, unknown>> });

async function setup() {
  const w = await world(pool);
  const c = await client(pool);
  const token = (await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' })).accessToken;
  return { w, c, token, a: app(pool, w, { validator: validatorFor(w) }) };
}

describe('POST /oauth2/introspect', () => {
  it('requires client authentication: 401 invalid_client without it', async () => {
    const { a, token } = await setup();
    const res = await post(a, '/oauth2/introspect', { token });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('answers active: true with the claims for a valid token', async () => {
    const { a, c, token, w } = await setup();
    const res = await post(a, '/oauth2/introspect', { token }, { authorization: basic(c.clientId, c.secret) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json()).toMatchObject({ active: true, iss: w.issuer, sub: c.clientId, client_id: c.clientId, scope: 'read write' });
  });

  it('answers only active: false for an invalid token, with no error details', async () => {
    const { a, c, token } = await setup();
    const tampered = `${token.slice(0, -4)}AAAA`;
    for (const t of [tampered, 'not-a-jwt']) {
      const res = await post(a, '/oauth2/introspect', { token: t }, { authorization: basic(c.clientId, c.secret) });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ active: false });
    }
  });

  it('a missing token parameter gets 400 invalid_request', async () => {
    const { a, c } = await setup();
    const res = await post(a, '/oauth2/introspect', {}, { authorization: basic(c.clientId, c.secret) });
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
  });

  describe('another client\'s token', () => {
    it('a client not granted introspection learns only active: false, even for a valid token', async () => {
      const { a, token } = await setup();
      const other = await client(pool);
      const res = await post(a, '/oauth2/introspect', { token }, { authorization: basic(other.clientId, other.secret) });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ active: false });
    });

    it('a client granted introspection gets active: true with the claims', async () => {
      const { a, c, token } = await setup();
      const server = await client(pool, ['introspect'], undefined, { mayIntrospect: true });
      const res = await post(a, '/oauth2/introspect', { token }, { authorization: basic(server.clientId, server.secret) });
      expect(res.json()).toMatchObject({ active: true, client_id: c.clientId });
    });

    it('a granted client with a tenant learns only active: false for a token of another tenant', async () => {
      const w = await world(pool);
      const owner = await client(pool, ['read'], 't1');
      const token = (await w.tokens.issue({ issuer: w.issuer, clientId: owner.clientId, authentication: 'in-process' })).accessToken;
      const a = app(pool, w, { validator: validatorFor(w) });
      const sameTenant = await client(pool, ['introspect'], 't1', { mayIntrospect: true });
      const otherTenant = await client(pool, ['introspect'], 't2', { mayIntrospect: true });
      expect((await post(a, '/oauth2/introspect', { token }, { authorization: basic(sameTenant.clientId, sameTenant.secret) })).json()).toMatchObject({ active: true, tenant: 't1' });
      expect((await post(a, '/oauth2/introspect', { token }, { authorization: basic(otherTenant.clientId, otherTenant.secret) })).json()).toEqual({ active: false });
    });

    it("a refusal is audited as token.introspect under the caller, naming the token's jti and client but never the token, and counted", async () => {
      const { w, c, token } = await setup();
      let refused = 0;
      const a = app(pool, w, { validator: validatorFor(w), onIntrospectionRefused: () => refused++ });
      const other = await client(pool);
      await post(a, '/oauth2/introspect', { token }, { authorization: basic(other.clientId, other.secret) });
      await a.close(); // waits for the refusal's audit entry, written after the answer
      const { jti } = await verifyToken(w, token);
      const entries = await auditEntries(pool, 'token.introspect', 'jti', jti!);
      expect(entries).toEqual([expect.objectContaining({ outcome: 'refused', actor: { role: 'TokenIssuer', client: other.clientId }, details: expect.objectContaining({ reason: 'not_allowed_to_introspect' }) })]);
      expect(JSON.stringify(entries)).not.toContain(token.split('.')[2]);
      expect((await pool.query(`SELECT subject FROM audit_log WHERE action = 'token.introspect' AND subject ->> 'jti' = $1`, [jti])).rows[0].subject).toEqual({ jti, client: c.clientId });
      expect(refused).toBe(1);
    });

    it('the refusal is answered without waiting for its audit entry to be written', async () => {
      const { w, token } = await setup();
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const slowAudit: typeof appendAudit = async (db, entry) => {
        if (entry.action === 'token.introspect') await held;
        return appendAudit(db, entry);
      };
      const a = app(pool, w, { validator: validatorFor(w), appendAudit: slowAudit });
      const other = await client(pool);
      const res = await post(a, '/oauth2/introspect', { token }, { authorization: basic(other.clientId, other.secret) });
      expect(res.json()).toEqual({ active: false });
      release();
      await a.close();
      expect(await auditEntries(pool, 'token.introspect', 'jti', (await verifyToken(w, token)).jti!)).toHaveLength(1);
    });

    it('past its budget, a client\'s refused introspections are summarised under that client, naming whose tokens it asked about', async () => {
      const { w, c, token } = await setup();
      let now = Date.now();
      const a = app(pool, w, { validator: validatorFor(w), auditBudget: { perClientWindow: 2, now: () => now } });
      const prober = await client(pool);
      const probe = () => post(a, '/oauth2/introspect', { token }, { authorization: basic(prober.clientId, prober.secret) });
      for (let i = 0; i < 5; i++) expect((await probe()).json()).toEqual({ active: false });
      // Each refusal is counted on the event loop's next turn, after its answer went out.
      for (let i = 0; i < 2; i++) await new Promise((r) => setImmediate(r));
      now += 60_000;
      await probe();
      await a.close();
      const entries = (await pool.query<{ details: Record<string, unknown> }>(`SELECT details FROM audit_log WHERE action = 'token.introspect' AND actor ->> 'client' = $1 ORDER BY seq`, [prober.clientId])).rows;
      expect(entries.map((e) => [e.details.reason, e.details.suppressed ?? null, e.details.clients ?? null])).toEqual([
        ['not_allowed_to_introspect', null, null], ['not_allowed_to_introspect', null, null], ['audit_budget_exceeded', 3, [c.clientId]], ['not_allowed_to_introspect', null, null],
      ]);
    });

    it('a grant withdrawn takes effect on the next request', async () => {
      const { a, token } = await setup();
      const server = await client(pool, ['introspect'], undefined, { mayIntrospect: true });
      const ask = async () => (await post(a, '/oauth2/introspect', { token }, { authorization: basic(server.clientId, server.secret) })).json() as { active: boolean };
      expect((await ask()).active).toBe(true);
      await setIntrospection(pool, server.clientId, false);
      expect(await ask()).toEqual({ active: false });
    });
  });
});
