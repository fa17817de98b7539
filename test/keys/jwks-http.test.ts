import { createHash } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyRecord } from '../../agents/key-manager/types.js';
import { registerJwksRoutes } from '../../http/jwks.js';
import { testPool } from '../support/db.js';
import { keyIn, keyManager, newIssuer, opBase } from './support.js';

const pool = testPool();
const km = keyManager(pool);
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
let app: FastifyInstance;
let issuer: string;
const keys: Partial<Record<'pending' | 'active' | 'retiring' | 'retired' | 'revoked', KeyRecord>> = {};
const jwksUrl = () => `/.well-known/jwks.json?issuer=${encodeURIComponent(issuer)}`;

beforeAll(async () => {
  issuer = newIssuer();
  keys.retired = await keyIn(km, 'retired', issuer); // leaves one active key behind
  keys.retiring = (await km.activeKey(issuer))!;
  keys.active = await keyIn(km, 'active', issuer); // the previous active becomes retiring
  keys.pending = await keyIn(km, 'pending', issuer);
  keys.revoked = await keyIn(km, 'revoked', issuer);
  app = Fastify({ logger: false });
  registerJwksRoutes(app, { keyManager: km, jwksMaxAgeSeconds: (iss) => (iss === issuer ? 300 : 60), issuerBaseUrl: 'https://auth.example.test/', issuers: () => [issuer], tokenIssuer: () => issuer });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await pool.end();
});

describe('GET /.well-known/jwks.json', () => {
  it('publishes the pending, active and retiring keys and nothing else', async () => {
    const res = await app.inject({ url: jwksUrl() });
    expect(res.statusCode).toBe(200);
    const kids = (res.json() as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid).sort();
    expect(kids).toEqual([keys.pending!.kid, keys.active!.kid, keys.retiring!.kid].sort());
  });

  it('every key has use sig, alg and kid and no private or symmetric member', async () => {
    const { keys: published } = (await app.inject({ url: jwksUrl() })).json() as { keys: Array<Record<string, unknown>> };
    expect(published).toHaveLength(3);
    for (const k of published) {
      expect(k).toMatchObject({ use: 'sig', alg: 'ES256', kid: expect.any(String) });
      for (const m of PRIVATE_MEMBERS) expect(k).not.toHaveProperty(m);
    }
  });

  it('the unfiltered set includes this issuer\'s keys and no private member of any key', async () => {
    const res = await app.inject({ url: '/.well-known/jwks.json' });
    const published = (res.json() as { keys: Array<Record<string, unknown>> }).keys;
    expect(published.map((k) => k.kid)).toContain(keys.active!.kid);
    for (const k of published) for (const m of PRIVATE_MEMBERS) expect(k).not.toHaveProperty(m);
  });

  it('over a real socket, GET sends the exact bytes its Content-Length announces and HEAD sends none', async () => {
    const server = Fastify({ logger: false });
    registerJwksRoutes(server, { keyManager: km, jwksMaxAgeSeconds: () => 60, issuerBaseUrl: 'https://auth.example.test/', issuers: () => [issuer], tokenIssuer: () => issuer });
    const base = await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const get = await fetch(`${base}${jwksUrl()}`);
      const body = Buffer.from(await get.arrayBuffer());
      expect([get.status, get.headers.get('content-type'), Number(get.headers.get('content-length'))]).toEqual([200, 'application/json', body.length]);
      const head = await fetch(`${base}${jwksUrl()}`, { method: 'HEAD' });
      expect([head.status, head.headers.get('etag'), (await head.arrayBuffer()).byteLength]).toEqual([200, get.headers.get('etag'), 0]);
    } finally {
      await server.close();
    }
  });

  it('Cache-Control carries the policy max-age', async () => {
    expect((await app.inject({ url: jwksUrl() })).headers['cache-control']).toBe('public, max-age=300');
  });

  it('the ETag is the quoted sha256 of the body bytes (a strong validator)', async () => {
    const res = await app.inject({ url: jwksUrl() });
    expect(res.headers.etag).toBe(`"${createHash('sha256').update(res.rawPayload).digest('base64url')}"`);
  });

  it.each([
    ['the exact tag', (etag: string) => etag],
    ['a list containing it', (etag: string) => `"nope", ${etag}`],
    ['its weak form', (etag: string) => `W/${etag}`],
    ['*', () => '*'],
  ])('If-None-Match with %s answers 304 without a body', async (_name, header) => {
    const first = await app.inject({ url: jwksUrl() });
    const res = await app.inject({ url: jwksUrl(), headers: { 'if-none-match': header(first.headers.etag as string) } });
    expect(res.statusCode).toBe(304);
    expect(res.body).toBe('');
    expect(res.headers.etag).toBe(first.headers.etag);
  });

  it('If-None-Match with another tag answers 200', async () => {
    const res = await app.inject({ url: jwksUrl(), headers: { 'if-none-match': '"stale"' } });
    expect(res.statusCode).toBe(200);
  });

  it('a key change through KeyManager changes the body and ETag at once', async () => {
    const before = await app.inject({ url: jwksUrl() });
    await km.revoke({ ...opBase(), kid: keys.pending!.kid, reason: 'test' });
    const after = await app.inject({ url: jwksUrl(), headers: { 'if-none-match': before.headers.etag as string } });
    expect(after.statusCode).toBe(200);
    expect(after.headers.etag).not.toBe(before.headers.etag);
    expect(after.body).not.toContain(keys.pending!.kid);
  });

  it('an issuer outside the policy answers 404 without asking the database', async () => {
    let asked = 0;
    const server = Fastify({ logger: false });
    registerJwksRoutes(server, { keyManager: { jwks: async () => (asked++, { keys: [] }) }, jwksMaxAgeSeconds: () => 60, issuerBaseUrl: 'https://x.test', issuers: () => ['https://known.test'], tokenIssuer: () => 'https://known.test' });
    const res = await server.inject({ url: `/.well-known/jwks.json?issuer=${encodeURIComponent('https://random.test/123')}` });
    expect([res.statusCode, res.headers['cache-control'], asked]).toEqual([404, 'no-store', 0]);
    await server.close();
  });

  it('a database failure answers 503 and is not cached', async () => {
    const broken = Fastify({ logger: false });
    registerJwksRoutes(broken, { keyManager: { jwks: () => Promise.reject(new Error('db down')) }, jwksMaxAgeSeconds: () => 60, issuerBaseUrl: 'https://x.test', issuers: () => [], tokenIssuer: () => 'https://x.test' });
    const res = await broken.inject({ url: '/.well-known/jwks.json' });
    expect([res.statusCode, res.headers['cache-control']]).toEqual([503, 'no-store']);
    await broken.close();
  });
});

describe('GET /.well-known/openid-configuration', () => {
  it('describes the issuer its tokens carry as iss, its endpoints and client_credentials with client secrets', async () => {
    const res = await app.inject({ url: '/.well-known/openid-configuration' });
    expect(res.json()).toMatchObject({
      issuer,
      jwks_uri: `https://auth.example.test/.well-known/jwks.json?issuer=${encodeURIComponent(issuer)}`,
      token_endpoint: 'https://auth.example.test/oauth2/token',
      introspection_endpoint: 'https://auth.example.test/oauth2/introspect',
      revocation_endpoint: 'https://auth.example.test/oauth2/revoke',
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    });
  });

  it('names the issuer tokens are issued under now: a policy change shows at once', async () => {
    let current = 'https://first.test';
    const server = Fastify({ logger: false });
    registerJwksRoutes(server, { keyManager: km, jwksMaxAgeSeconds: () => 60, issuerBaseUrl: 'https://x.test', issuers: () => [current], tokenIssuer: () => current });
    const before = (await server.inject({ url: '/.well-known/oauth-authorization-server' })).json<{ issuer: string }>();
    current = 'https://second.test';
    const after = (await server.inject({ url: '/.well-known/oauth-authorization-server' })).json<{ issuer: string }>();
    expect([before.issuer, after.issuer]).toEqual(['https://first.test', 'https://second.test']);
    await server.close();
  });

  it('for an issuer with a path, is served at the well-known prefix followed by that path (RFC 8414 §3.1), and only there', async () => {
    const server = Fastify({ logger: false });
    const issuer = 'https://auth.test/tenants/blue';
    registerJwksRoutes(server, { keyManager: km, jwksMaxAgeSeconds: () => 60, issuerBaseUrl: 'https://auth.test', issuers: () => [issuer], tokenIssuer: () => issuer });
    const at = (path: string) => server.inject({ url: `/.well-known/oauth-authorization-server${path}` });
    const [right, other, root] = await Promise.all([at('/tenants/blue'), at('/tenants/red'), at('')]);
    expect([right.statusCode, right.json<{ issuer: string }>().issuer, other.statusCode, root.statusCode]).toEqual([200, issuer, 404, 200]);
    await server.close();
  });

  it('for an issuer with a path, is served at that path followed by /.well-known/openid-configuration (OpenID Connect Discovery §4), byte for byte as at the other forms', async () => {
    const server = Fastify({ logger: false });
    const issuer = 'http://localhost:8080/tenant-a';
    registerJwksRoutes(server, { keyManager: km, jwksMaxAgeSeconds: () => 60, issuerBaseUrl: 'http://localhost:8080', issuers: () => [issuer], tokenIssuer: () => issuer });
    const [appended, inserted, root] = await Promise.all([
      server.inject({ url: '/tenant-a/.well-known/openid-configuration' }),
      server.inject({ url: '/.well-known/oauth-authorization-server/tenant-a' }),
      server.inject({ url: '/.well-known/openid-configuration' }),
    ]);
    expect([appended.statusCode, appended.headers['content-type'], appended.headers['cache-control']]).toEqual([200, 'application/json', 'public, max-age=60']);
    expect(appended.json<{ issuer: string; jwks_uri: string }>()).toMatchObject({ issuer, jwks_uri: `http://localhost:8080/.well-known/jwks.json?issuer=${encodeURIComponent(issuer)}` });
    expect([inserted.body, root.body]).toEqual([appended.body, appended.body]);
    await server.close();
  });

  it('at a path that is no served issuer\'s followed by /.well-known/openid-configuration, answers 404 not_found with no-store', async () => {
    const server = Fastify({ logger: false });
    const issuer = 'https://auth.test/tenants/blue';
    registerJwksRoutes(server, { keyManager: km, jwksMaxAgeSeconds: () => 60, issuerBaseUrl: 'https://auth.test', issuers: () => [issuer], tokenIssuer: () => issuer });
    for (const path of ['/tenants/red', '/tenants', '/tenants/blue/more', '/x/tenants/blue']) {
      const res = await server.inject({ url: `${path}/.well-known/openid-configuration` });
      expect([path, res.statusCode, res.headers['cache-control'], res.json()]).toEqual([path, 404, 'no-store', { error: 'not_found', message: 'no issuer served here has this path', hint: expect.any(String) }]);
    }
    await server.close();
  });

  it('for an issuer without a path, is served only at /.well-known/openid-configuration: no path followed by the suffix serves it', async () => {
    const server = Fastify({ logger: false });
    registerJwksRoutes(server, { keyManager: km, jwksMaxAgeSeconds: () => 60, issuerBaseUrl: 'https://auth.test', issuers: () => ['https://auth.test'], tokenIssuer: () => 'https://auth.test' });
    const [root, appended] = await Promise.all([server.inject({ url: '/.well-known/openid-configuration' }), server.inject({ url: '/tenant-a/.well-known/openid-configuration' })]);
    expect([root.statusCode, root.json<{ issuer: string }>().issuer, appended.statusCode]).toEqual([200, 'https://auth.test', 404]);
    await server.close();
  });

  it('follows the issuer tokens are issued under now: after a policy change only the new issuer\'s path serves it', async () => {
    let current = 'https://auth.test/first';
    const server = Fastify({ logger: false });
    registerJwksRoutes(server, { keyManager: km, jwksMaxAgeSeconds: () => 60, issuerBaseUrl: 'https://auth.test', issuers: () => [current], tokenIssuer: () => current });
    const at = (path: string) => server.inject({ url: `${path}/.well-known/openid-configuration` });
    const before = await at('/first');
    current = 'https://auth.test/second';
    const [oldPath, newPath] = await Promise.all([at('/first'), at('/second')]);
    expect([before.statusCode, oldPath.statusCode, newPath.statusCode, newPath.json<{ issuer: string }>().issuer]).toEqual([200, 404, 200, current]);
    await server.close();
  });

  it('the appended form leaves every other route, and the usual 404 of every other path, as they were', async () => {
    const server = Fastify({ logger: false });
    const issuer = 'https://auth.test/tenant-a';
    server.get('/healthz', async () => ({ status: 'ok' }));
    registerJwksRoutes(server, { keyManager: km, jwksMaxAgeSeconds: () => 60, issuerBaseUrl: 'https://auth.test', issuers: () => [issuer], tokenIssuer: () => issuer });
    server.post('/oauth2/token', async () => ({ ok: true }));
    server.get('/codec/login', async () => 'login');
    const [health, token, codec, jwks, unknown, tokenByGet] = await Promise.all([
      server.inject({ url: '/healthz' }),
      server.inject({ method: 'POST', url: '/oauth2/token' }),
      server.inject({ url: '/codec/login' }),
      server.inject({ url: `/.well-known/jwks.json?issuer=${encodeURIComponent(issuer)}` }),
      server.inject({ url: '/nothing/here' }),
      server.inject({ url: '/oauth2/token' }),
    ]);
    expect([health.statusCode, token.statusCode, codec.body, jwks.statusCode]).toEqual([200, 200, 'login', 200]);
    expect([unknown.statusCode, unknown.json(), tokenByGet.statusCode, tokenByGet.json<{ message: string }>().message]).toEqual([
      404, { message: 'Route GET:/nothing/here not found', error: 'Not Found', statusCode: 404 }, 404, 'Route GET:/oauth2/token not found',
    ]);
    await server.close();
  });

  it('is also served at the RFC 8414 path', async () => {
    const [a, b] = await Promise.all([app.inject({ url: '/.well-known/openid-configuration' }), app.inject({ url: '/.well-known/oauth-authorization-server' })]);
    expect(b.body).toBe(a.body);
  });
});
