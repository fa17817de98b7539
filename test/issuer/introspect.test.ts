import { afterAll, describe, expect, it } from 'vitest';
import { testPool } from '../support/db.js';
import { setIntrospection } from '../../agents/token-issuer/clients.js';
import { app, basic, client, post, verifyToken, world, type World } from './support.js';

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
