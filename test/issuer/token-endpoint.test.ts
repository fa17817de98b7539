import { connect, type AddressInfo } from 'node:net';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { addClient, disableClient, rotateSecret } from '../../agents/token-issuer/clients.js';
import type { Pool } from '../../db/pool.js';
import { pauseIssuance } from '../../agents/token-issuer/issuance-control.js';
import { FailureLimiter } from '../../agents/token-issuer/failure-limiter.js';
import { dummyHash, scryptSlots } from '../../agents/token-issuer/secret-hash.js';
import { unknownClientLabel } from '../../http/oauth-client-auth.js';
import { testPool } from '../support/db.js';
import { app, auditEntries, basic, client, freshIp, issuedCount, post, TTL, verifyToken, world } from './support.js';

const pool = testPool();
afterAll(() => pool.end());
const grant = { grant_type: 'client_credentials' };

/** Summary entries of failures over the audit budget that name the client label `clientId`. */
async function overBudgetSummaries(clientId: string): Promise<Array<{ suppressed: number; byReason: Record<string, number>; clients: string[]; addresses: string[] }>> {
  const { rows } = await pool.query<{ details: { suppressed: number; byReason: Record<string, number>; clients: string[]; addresses: string[] } }>(
    `SELECT details FROM audit_log WHERE action = 'client.authenticate' AND subject ->> 'client' = '(over the audit budget)' AND details -> 'clients' ? $1 ORDER BY seq`,
    [clientId],
  );
  return rows.map((r) => r.details);
}

/** Runs `during` with the shared scrypt line full (but for `freePlaces` waiting places), then lets it drain. */
async function withSecretChecksHeld<T>(during: () => Promise<T>, freePlaces = 0): Promise<T> {
  await dummyHash(); // computed before the line fills, as a running server has it
  let open!: () => void;
  const held = new Promise<void>((resolve) => (open = resolve));
  const holders = Array.from({ length: scryptSlots.size + scryptSlots.maxWaiting - freePlaces }, () => scryptSlots.run(() => held));
  try {
    return await during();
  } finally {
    open();
    await Promise.all(holders);
  }
}

/** Takes every secret-check slot at the same moment, then gives them back: whatever held one before has finished. */
async function holdEverySlotOnce(): Promise<void> {
  let taken = 0;
  let allTaken!: () => void;
  const together = new Promise<void>((resolve) => (allTaken = resolve));
  await Promise.all(
    Array.from({ length: scryptSlots.size }, () =>
      scryptSlots.run(async () => {
        if (++taken === scryptSlots.size) allTaken();
        await together;
      }),
    ),
  );
}

describe('POST /oauth2/token', () => {
  it('issues a token with client_secret_basic', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const res = await post(app(pool, w), '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json<{ access_token: string; token_type: string; expires_in: number; scope: string }>();
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: TTL, scope: 'read write' });
    expect((await verifyToken(w, body.access_token)).sub).toBe(c.clientId);
  });

  it('issues a token with client_secret_post', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const res = await post(app(pool, w), '/oauth2/token', { ...grant, client_id: c.clientId, client_secret: c.secret, scope: 'read' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ scope: 'read' });
  });

  it('refuses both methods at once with 400 invalid_request', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const res = await post(app(pool, w), '/oauth2/token', { ...grant, client_id: c.clientId, client_secret: c.secret }, { authorization: basic(c.clientId, c.secret) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('not both') });
  });

  it('a wrong secret gets 401 invalid_client with WWW-Authenticate: Basic, and an audit entry', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const res = await post(app(pool, w), '/oauth2/token', grant, { authorization: basic(c.clientId, 'wrong') });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_client' });
    expect(res.headers['www-authenticate']).toMatch(/^Basic /);
    expect(res.headers['cache-control']).toBe('no-store');
    const entries = await auditEntries(pool, 'client.authenticate', 'client', c.clientId);
    expect(entries.map((e) => [e.outcome, e.details.reason, e.details.method])).toEqual([['refused', 'bad_secret', 'client_secret_basic']]);
    expect(JSON.stringify(entries)).not.toContain('wrong');
  });

  it('past the audit budget, anonymous failures from many addresses are counted into one summary entry once the window ends, not audited one by one', async () => {
    const w = await world(pool);
    const unknown = `nobody-${Math.random().toString(36).slice(2)}`;
    let now = Date.now();
    const a = app(pool, w, { auditBudget: { perWindow: 2, now: () => now } });
    const ips = Array.from({ length: 5 }, () => freshIp());
    for (const ip of ips) expect((await post(a, '/oauth2/token', grant, { authorization: basic(unknown, 'whatever'), ip })).statusCode).toBe(401);
    expect(await auditEntries(pool, 'client.authenticate', 'client', unknownClientLabel(unknown))).toHaveLength(2);
    now += 60_000;
    await post(a, '/oauth2/token', grant, {});
    const summaries = await overBudgetSummaries(unknownClientLabel(unknown));
    expect(summaries.map((d) => [d.suppressed, d.byReason, d.clients, d.addresses])).toEqual([[3, { unknown_client: 3 }, [unknownClientLabel(unknown)], ips.slice(2).map((ip) => `ip:${ip}`)]]);
    await a.close();
  });

  it('past its own budget, failures against a registered client are summarised under that client, not among the anonymous ones', async () => {
    const w = await world(pool);
    const c = await client(pool);
    let now = Date.now();
    const a = app(pool, w, { auditBudget: { perClientWindow: 2, now: () => now } });
    for (let i = 0; i < 5; i++) expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, `wrong-${i}`) })).statusCode).toBe(401);
    expect((await auditEntries(pool, 'client.authenticate', 'client', c.clientId)).map((e) => e.details.reason)).toEqual(['bad_secret', 'bad_secret']);
    now += 60_000;
    await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, 'wrong-again') });
    const entries = await auditEntries(pool, 'client.authenticate', 'client', c.clientId);
    expect(entries.map((e) => [e.details.reason, e.details.suppressed ?? null, e.details.byReason ?? null])).toEqual([
      ['bad_secret', null, null], ['bad_secret', null, null], ['audit_budget_exceeded', 3, { bad_secret: 3 }], ['bad_secret', null, null],
    ]);
    await a.close();
  });

  it('a flood of anonymous failures leaves a registered client\'s failures audited one by one', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const a = app(pool, w, { auditBudget: { perWindow: 0 } });
    for (let i = 0; i < 3; i++) await post(a, '/oauth2/token', grant, {});
    await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, 'wrong') });
    expect((await auditEntries(pool, 'client.authenticate', 'client', c.clientId)).map((e) => e.details.reason)).toEqual(['bad_secret']);
    await a.close();
  });

  it('at shutdown, writes the summary of the window still open', async () => {
    const w = await world(pool);
    const unknown = `nobody-${Math.random().toString(36).slice(2)}`;
    const a = app(pool, w, { auditBudget: { perWindow: 0 } });
    await post(a, '/oauth2/token', grant, { authorization: basic(unknown, 'whatever') });
    expect(await overBudgetSummaries(unknownClientLabel(unknown))).toEqual([]);
    await a.close();
    expect((await overBudgetSummaries(unknownClientLabel(unknown))).map((d) => d.suppressed)).toEqual([1]);
  });

  it('an unknown client id is audited by a digest, never as sent: a client that swapped id and secret sent its secret as the id', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const res = await post(app(pool, w), '/oauth2/token', grant, { authorization: basic(c.secret, c.clientId) });
    expect(res.statusCode).toBe(401);
    const entries = await auditEntries(pool, 'client.authenticate', 'client', unknownClientLabel(c.secret));
    expect(entries.map((e) => [e.details.reason, e.actor.client])).toEqual([['unknown_client', unknownClientLabel(c.secret)]]);
    const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE position($1 in actor::text || subject::text || details::text) > 0`, [c.secret]);
    expect(rows[0]!.n).toBe(0);
  });

  it('a disabled client gets 401 invalid_client', async () => {
    const w = await world(pool);
    const c = await client(pool);
    await disableClient(pool, c.clientId);
    const res = await post(app(pool, w), '/oauth2/token', { ...grant, client_id: c.clientId, client_secret: c.secret });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('no credentials at all gets 401 invalid_client telling how to authenticate', async () => {
    const w = await world(pool);
    const res = await post(app(pool, w), '/oauth2/token', grant);
    expect(res.statusCode).toBe(401);
    expect(res.json<{ error_description: string }>().error_description).toMatch(/client_secret_basic.*client_secret_post/);
  });

  it('a secret of 2,100 combining marks (12 KiB as a form) gets 401 invalid_client, counts towards the address lock-out, and is never Unicode-normalised', async () => {
    const w = await world(pool);
    const c = await client(pool);
    // Marks of descending combining class: NFC must reorder them all, in time quadratic in their number.
    const marks = ['\u0345', '\u035D', '\u0301', '\u0316', '\u05BD', '\u05B0', '\u0334'].map((m) => m.repeat(300)).join('');
    const normalize = vi.spyOn(String.prototype, 'normalize');
    try {
      const ip = freshIp();
      const a = app(pool, w);
      for (let i = 0; i < 10; i++) {
        const res = await post(a, '/oauth2/token', { ...grant, client_id: c.clientId, client_secret: `a${marks}` }, { ip });
        expect(res.statusCode).toBe(401);
        expect(res.json<{ error: string; error_description: string }>()).toMatchObject({ error: 'invalid_client', error_description: expect.stringContaining('client_secret at most 128') });
      }
      expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret), ip })).statusCode).toBe(429);
      expect(normalize.mock.contexts.filter((s) => String(s).length > 128)).toEqual([]);
    } finally {
      normalize.mockRestore();
    }
  });

  it('a burst of wrong secrets from one address gets no more secret checks than its limit of 10, arriving before any failure is recorded', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const a = app(pool, w);
    const ip = freshIp();
    const burst = await Promise.all(Array.from({ length: 40 }, (_, i) => post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, `guess-${i}`), ip })));
    const statuses = burst.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s !== 401).every((s) => s === 429 || s === 503)).toBe(true);
    expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret), ip })).statusCode).toBe(429);
  });

  it('checks in flight of credentials that passed recently do not count towards their address\'s limit', async () => {
    const w = await world(pool);
    const [busy, other] = [await client(pool), await client(pool)];
    const a = app(pool, w);
    const ip = freshIp();
    expect((await post(a, '/oauth2/token', grant, { authorization: basic(busy.clientId, busy.secret), ip })).statusCode).toBe(200);
    // /oauth2/revoke checks the credentials on every request, remembered or not.
    const revoke = () => post(a, '/oauth2/revoke', { token: 'not-a-token' }, { authorization: basic(busy.clientId, busy.secret), ip });
    const [burst, first] = await Promise.all([Promise.all(Array.from({ length: 30 }, revoke)), post(a, '/oauth2/token', grant, { authorization: basic(other.clientId, other.secret), ip })]);
    expect(burst.map((r) => r.statusCode).filter((s) => s !== 200)).toEqual([]);
    expect(first.statusCode).toBe(200);
  });

  it('failures for one client id from other addresses do not lock that client out: its right secret still gets a token', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const a = app(pool, w);
    for (let i = 0; i < 20; i++) expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, `bad-${i}`) })).statusCode).toBe(401);
    expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret) })).statusCode).toBe(200);
  });

  it('after 10 failures from one address answers 429 with Retry-After, even to the right secret', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const a = app(pool, w);
    const ip = freshIp();
    for (let i = 0; i < 10; i++) expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, `bad-${i}`), ip })).statusCode).toBe(401);
    const res = await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret), ip });
    expect(res.statusCode).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
  });

  it('failures from addresses of one IPv6 /64 count together', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const a = app(pool, w);
    const prefix = `2001:db8:${(process.pid % 0xffff).toString(16)}:${Math.floor(Math.random() * 0xffff).toString(16)}`;
    for (let i = 1; i <= 10; i++) await post(a, '/oauth2/token', grant, { authorization: basic(`guess-${i}`, 'x'), ip: `${prefix}::${i.toString(16)}` });
    expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret), ip: `${prefix}::beef` })).statusCode).toBe(429);
    expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret), ip: `${prefix.replace(/:[0-9a-f]+$/, ':1')}::beef` })).statusCode).not.toBe(429);
  });

  it('behind a trusted proxy, counts failures by the address the proxy forwards, not the proxy\'s own', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const proxy = freshIp();
    const a = app(pool, w, {}, { trustProxy: [proxy] });
    const via = (from: string, authorization: string) =>
      a.inject({ method: 'POST', url: '/oauth2/token', remoteAddress: proxy, headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': from, authorization }, payload: 'grant_type=client_credentials' });
    const attacker = freshIp();
    for (let i = 0; i < 10; i++) expect((await via(attacker, basic(`guess-${i}`, 'x'))).statusCode).toBe(401);
    expect((await via(attacker, basic(c.clientId, c.secret))).statusCode).toBe(429);
    expect((await via(freshIp(), basic(c.clientId, c.secret))).statusCode).toBe(200);
  });

  it('after 10 failures from one address answers 429 to any client id from it', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const a = app(pool, w);
    const ip = freshIp();
    for (let i = 0; i < 10; i++) await post(a, '/oauth2/token', grant, { authorization: basic(`guess-${i}`, 'x'), ip });
    expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret), ip })).statusCode).toBe(429);
    expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret) })).statusCode).toBe(200);
  });

  it('a client whose credentials passed recently keeps getting tokens from an address locked out by a guesser behind it', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const a = app(pool, w);
    const ip = freshIp();
    expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret), ip })).statusCode).toBe(200);
    for (let i = 0; i < 10; i++) await post(a, '/oauth2/token', grant, { authorization: basic(`guess-${i}`, 'x'), ip });
    expect((await post(a, '/oauth2/token', grant, { authorization: basic(`guess-10`, 'x'), ip })).statusCode).toBe(429);
    expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret), ip })).statusCode).toBe(200);
  });

  it('a client disabled since its credentials passed is locked out with everyone else at that address', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const a = app(pool, w);
    const ip = freshIp();
    expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret), ip })).statusCode).toBe(200);
    await disableClient(pool, c.clientId);
    expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret), ip })).statusCode).toBe(401);
    for (let i = 0; i < 10; i++) await post(a, '/oauth2/token', grant, { authorization: basic(`guess-${i}`, 'x'), ip });
    expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret), ip })).statusCode).toBe(429);
  });

  it('a client whose secret was rotated since it passed is locked out with everyone else at that address', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const a = app(pool, w);
    const ip = freshIp();
    expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret), ip })).statusCode).toBe(200);
    await rotateSecret(pool, c.clientId);
    for (let i = 0; i < 10; i++) await post(a, '/oauth2/token', grant, { authorization: basic(`guess-${i}`, 'x'), ip });
    // The old secret is let through once, fails against the new hash, is forgotten, and counts.
    expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret), ip })).statusCode).toBe(401);
    expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret), ip })).statusCode).toBe(429);
  });

  describe('while every secret check slot and waiting place is taken', () => {
    it.each([
      ['/oauth2/token', grant],
      ['/oauth2/introspect', { token: 'not-a-token' }],
      ['/oauth2/revoke', { token: 'not-a-token' }],
    ])('%s answers 503 temporarily_unavailable with Retry-After: 1, counts no failure, audits nothing, and answers once the line drains', async (endpoint, form) => {
      const w = await world(pool);
      const c = await client(pool);
      // One counted failure would be enough for this limiter to answer 429 next.
      const a = app(pool, w, { limiter: new FailureLimiter({ maxFailures: 1 }), validator: { verify: (t: string) => verifyToken(w, t) as Promise<Record<string, unknown>> } });
      const ip = freshIp();
      const busy = await withSecretChecksHeld(() => post(a, endpoint, form, { authorization: basic(c.clientId, c.secret), ip }));
      expect([busy.statusCode, busy.headers['retry-after'], busy.json<{ error: string }>().error]).toEqual([503, '1', 'temporarily_unavailable']);
      expect(await auditEntries(pool, 'client.authenticate', 'client', c.clientId)).toEqual([]);
      expect((await post(a, endpoint, form, { authorization: basic(c.clientId, c.secret), ip })).statusCode).toBe(200);
    });
  });

  it('a secret check whose client closed the connection while it waited is not made, counted or audited', async () => {
    const w = await world(pool);
    const c = await client(pool);
    let scrypts = 0;
    const a = app(pool, w, { limiter: new FailureLimiter({ maxFailures: 1 }), onSecretScrypt: () => scrypts++ });
    await a.listen({ host: '127.0.0.1', port: 0 });
    try {
      await withSecretChecksHeld(async () => {
        const socket = connect((a.server.address() as AddressInfo).port, '127.0.0.1');
        const body = 'grant_type=client_credentials';
        socket.write(`POST /oauth2/token HTTP/1.1\r\nhost: localhost\r\nauthorization: ${basic(c.clientId, 'wrong-secret')}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
        await vi.waitFor(() => expect(scryptSlots.waiting).toBe(scryptSlots.maxWaiting));
        socket.destroy();
        await vi.waitFor(async () => expect(await new Promise((r) => a.server.getConnections((_e, n) => r(n)))).toBe(0));
      }, 1);
      await holdEverySlotOnce(); // so the abandoned check has had its turn and given its slot back
      await new Promise((resolve) => setImmediate(resolve));
      expect(scrypts).toBe(0);
      expect(await auditEntries(pool, 'client.authenticate', 'client', c.clientId)).toEqual([]);
      expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret) })).statusCode).toBe(200);
    } finally {
      await a.close();
    }
  });

  it('a scope outside the client gets 400 invalid_scope naming the allowed scopes', async () => {
    const w = await world(pool);
    const c = await client(pool, ['read']);
    const res = await post(app(pool, w), '/oauth2/token', { ...grant, scope: 'read admin' }, { authorization: basic(c.clientId, c.secret) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_scope', error_description: expect.stringContaining('"admin"') });
  });

  it("an audience the client may not have gets 400 invalid_target naming those it may, even once its credentials are remembered", async () => {
    const w = await world(pool, { audiences: ['https://a.test', 'https://b.test'] });
    const c = await addClient(pool, { clientId: `aud-${Date.now()}`, scopes: ['read'], audiences: ['https://a.test'] });
    const a = app(pool, w);
    try {
      const ask = (audience?: string) => post(a, '/oauth2/token', { ...grant, ...(audience ? { audience } : {}) }, { authorization: basic(c.clientId, c.secret) });
      expect((await ask()).json()).toMatchObject({ access_token: expect.any(String) });
      const res = await ask('https://b.test');
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'invalid_target', error_description: expect.stringMatching(/"https:\/\/b\.test".*Request one of: https:\/\/a\.test,/) });
    } finally {
      await a.close();
    }
  });

  it('a paused issuer gets 503 temporarily_unavailable and no token is issued', async () => {
    const w = await world(pool);
    const c = await client(pool);
    await pauseIssuance(pool, w.issuer, 'incident', { role: 'RevocationResponder' });
    const before = await issuedCount(pool, w.issuer);
    const res = await post(app(pool, w), '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret) });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ error: 'temporarily_unavailable' });
    expect(await issuedCount(pool, w.issuer)).toBe(before);
  });

  it('an unsupported grant_type gets 400 unsupported_grant_type', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const res = await post(app(pool, w), '/oauth2/token', { grant_type: 'password' }, { authorization: basic(c.clientId, c.secret) });
    expect(res.json()).toMatchObject({ error: 'unsupported_grant_type' });
  });

  it('a repeated parameter gets 400 invalid_request', async () => {
    const w = await world(pool);
    const res = await app(pool, w).inject({ method: 'POST', url: '/oauth2/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=client_credentials&scope=a&scope=b' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('scope') });
  });

  it('a JSON body gets 400 invalid_request asking for a form', async () => {
    const w = await world(pool);
    const res = await app(pool, w).inject({ method: 'POST', url: '/oauth2/token', payload: { grant_type: 'client_credentials' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('x-www-form-urlencoded') });
  });

  describe('credentials verified recently', () => {
    /** The pool the endpoints see, counting the reads of the clients table made through it. */
    const countingClientReads = (): { pool: Pool; reads: () => number } => {
      let reads = 0;
      const counted = new Proxy(pool, {
        get(target, prop, receiver) {
          if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown;
          return (...args: unknown[]) => {
            if (typeof args[0] === 'string' && /FROM clients\b/.test(args[0])) reads++;
            return (target.query as (...a: unknown[]) => unknown)(...args);
          };
        },
      });
      return { pool: counted, reads: () => reads };
    };

    /** A client whose credentials the app has just verified once (a token was issued), an asker for more, and the app's scrypt count. */
    const rememberedClient = async (scopes?: string[]) => {
      const w = await world(pool);
      const c = await client(pool, scopes);
      let scrypts = 0;
      const a = app(pool, w, { onSecretScrypt: () => scrypts++ });
      const ask = (form: Record<string, string>) => post(a, '/oauth2/token', form, { authorization: basic(c.clientId, c.secret) });
      expect((await ask(grant)).statusCode).toBe(200);
      return { w, c, ask, scrypts: () => scrypts };
    };

    it('a second token request with the same credentials reads no client row', async () => {
      const w = await world(pool);
      const c = await client(pool);
      const counted = countingClientReads();
      const a = app(counted.pool, w);
      for (let i = 0; i < 2; i++) expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret) })).statusCode).toBe(200);
      expect(counted.reads()).toBe(1);
    });

    it.each([
      ["the client's secret is rotated", 'bad_secret', rotateSecret],
      ['the client is disabled', 'disabled', disableClient],
    ] as const)('are refused once %s: 401 invalid_client, audited as %s, nothing issued', async (_change, reason, change) => {
      const { w, c, ask } = await rememberedClient();
      await change(pool, c.clientId);
      const res = await ask(grant);
      expect([res.statusCode, res.json<{ error: string }>().error]).toEqual([401, 'invalid_client']);
      const entries = await auditEntries(pool, 'client.authenticate', 'client', c.clientId);
      expect(entries.map((e) => e.details.reason)).toEqual([reason]);
      expect(await issuedCount(pool, w.issuer)).toBe(1);
    });

    it('once the secret is rotated, a request that would fail for another reason still gets 401 invalid_client, not the client\'s scopes', async () => {
      const { c, ask } = await rememberedClient();
      await rotateSecret(pool, c.clientId);
      const res = await ask({ ...grant, scope: 'admin' });
      expect([res.statusCode, res.json<{ error: string }>().error]).toEqual([401, 'invalid_client']);
      expect(res.body).not.toContain('read');
    });

    it('once the secret is rotated, an out-of-scope request is audited as a failed authentication, not as the client asking for that scope', async () => {
      const { c, ask } = await rememberedClient();
      await rotateSecret(pool, c.clientId);
      expect((await ask({ ...grant, scope: 'admin' })).statusCode).toBe(401);
      expect(await auditEntries(pool, 'token.issue', 'client', c.clientId)).toEqual([]);
      expect((await auditEntries(pool, 'client.authenticate', 'client', c.clientId)).map((e) => e.details.reason)).toEqual(['bad_secret']);
    });

    it('with the right secret, an out-of-scope request gets 400 invalid_scope and exactly one refusal entry', async () => {
      const { c, ask } = await rememberedClient(['read']);
      expect((await ask({ ...grant, scope: 'admin' })).statusCode).toBe(400);
      expect((await auditEntries(pool, 'token.issue', 'client', c.clientId)).map((e) => [e.outcome, e.details.code])).toEqual([['refused', 'INVALID_SCOPE']]);
    });

    it('while the issuer is paused, answer 503 without paying scrypt again', async () => {
      const { w, ask, scrypts } = await rememberedClient();
      await pauseIssuance(pool, w.issuer, 'incident', { role: 'RevocationResponder' });
      for (let i = 0; i < 3; i++) expect((await ask(grant)).statusCode).toBe(503);
      expect(scrypts()).toBe(1);
    });

    it('an out-of-scope request is refused without paying scrypt again', async () => {
      const { ask, scrypts } = await rememberedClient(['read']);
      for (let i = 0; i < 3; i++) expect((await ask({ ...grant, scope: 'admin' })).statusCode).toBe(400);
      expect(scrypts()).toBe(1);
    });

    it('once the secret is rotated, the old secret is refused without paying scrypt again (it cannot match a new random secret)', async () => {
      const { c, ask, scrypts } = await rememberedClient();
      await rotateSecret(pool, c.clientId);
      expect((await ask(grant)).statusCode).toBe(401);
      expect(scrypts()).toBe(1);
    });

    it.each([
      ["the client's secret is rotated", rotateSecret],
      ['the client is disabled', disableClient],
    ] as const)('once %s, a bad grant_type gets 401 invalid_client, not 400', async (_change, change) => {
      const { c, ask } = await rememberedClient();
      await change(pool, c.clientId);
      expect((await ask({ grant_type: 'password' })).statusCode).toBe(401);
      expect(await auditEntries(pool, 'client.authenticate', 'client', c.clientId)).toHaveLength(1);
    });

    it('once the client is disabled, an out-of-scope request gets 401 invalid_client and no scope refusal entry', async () => {
      const { c, ask } = await rememberedClient(['read']);
      await disableClient(pool, c.clientId);
      expect((await ask({ ...grant, scope: 'admin' })).statusCode).toBe(401);
      expect(await auditEntries(pool, 'token.issue', 'client', c.clientId)).toEqual([]);
    });

    it('never remember a wrong secret: a guess after a success still pays the full check and is refused', async () => {
      const w = await world(pool);
      const c = await client(pool);
      const a = app(pool, w);
      expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, c.secret) })).statusCode).toBe(200);
      expect((await post(a, '/oauth2/token', grant, { authorization: basic(c.clientId, `${c.secret}x`) })).statusCode).toBe(401);
    });
  });
});
