import { decodeProtectedHeader } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../agents/auditor/audit-log.js';
import { fixedClock, systemClock } from '../../agents/shared/clock.js';
import { addClient, disableClient } from '../../agents/token-issuer/clients.js';
import { pauseIssuance } from '../../agents/token-issuer/issuance-control.js';
import { tokensByKid, tokensBySub } from '../../agents/token-issuer/issued-tokens.js';
import { CANARY_AUDIENCE } from '../../agents/shared/canary.js';
import { CANARY_SUBJECT, TokenIssuer } from '../../agents/token-issuer/token-issuer.js';
import { createValidator } from '../../agents/validator/index.js';
import { isKeyturnError } from '../../config/errors.js';
import { testPool } from '../support/db.js';
import { auditEntries, client, issuedCount, POLICY_VERSION, TTL, verifyToken, world } from './support.js';

const pool = testPool();
afterAll(() => pool.end());
const code = (e: unknown) => (isKeyturnError(e) ? e.code : String(e));

describe('TokenIssuer.issue', () => {
  it('issues an RFC 9068 access token: header alg/typ/kid and every claim, verifiable against the JWKS', async () => {
    const w = await world(pool);
    const c = await client(pool, ['read', 'write'], 'acme');
    const t = await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' });
    expect(decodeProtectedHeader(t.accessToken)).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: t.kid });
    const claims = await verifyToken(w, t.accessToken);
    expect(claims).toEqual({
      iss: w.issuer,
      sub: c.clientId,
      aud: 'https://api.example.test',
      exp: claims.iat! + TTL,
      iat: claims.iat,
      nbf: claims.iat,
      jti: t.jti,
      scope: 'read write',
      client_id: c.clientId,
      tenant: 'acme',
      policy_version: POLICY_VERSION,
    });
    expect(t.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('the lifetime is exactly the policy TTL, in the token and in expiresIn', async () => {
    const clock = fixedClock('2030-01-01T00:00:00.500Z');
    const w = await world(pool, { accessTokenTtlSeconds: 120 }, clock);
    const c = await client(pool);
    const t = await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' });
    const payload = JSON.parse(Buffer.from(t.accessToken.split('.')[1]!, 'base64url').toString()) as { iat: number; exp: number };
    expect(payload.iat).toBe(Date.parse('2030-01-01T00:00:00Z') / 1000);
    expect(payload.exp - payload.iat).toBe(120);
    expect(t.expiresIn).toBe(120);
  });

  it('aud is an array when the policy has several audiences, and the requested one when asked', async () => {
    const w = await world(pool, { audiences: ['https://a.test', 'https://b.test'] });
    const c = await client(pool);
    expect((await verifyToken(w, (await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' })).accessToken)).aud).toEqual(['https://a.test', 'https://b.test']);
    const one = await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process', audience: 'https://b.test' });
    expect((await verifyToken(w, one.accessToken)).aud).toBe('https://b.test');
  });

  it('refuses an audience outside the policy with INVALID_TARGET', async () => {
    const w = await world(pool);
    const c = await client(pool);
    await expect(w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process', audience: 'https://evil.test' })).rejects.toSatisfy((e) => code(e) === 'INVALID_TARGET');
  });

  it("a client limited to some audiences gets tokens for those of the issuer's only, and is refused another with INVALID_TARGET (audited)", async () => {
    const w = await world(pool, { audiences: ['https://a.test', 'https://b.test', 'https://c.test'] });
    const c = await addClient(pool, { clientId: `aud-${Date.now()}`, scopes: ['read'], audiences: ['https://c.test', 'https://a.test', 'https://elsewhere.test'] });
    const issue = (audience?: string) => w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process', ...(audience ? { audience } : {}) });
    expect((await verifyToken(w, (await issue()).accessToken)).aud).toEqual(['https://a.test', 'https://c.test']);
    expect((await verifyToken(w, (await issue('https://c.test')).accessToken)).aud).toBe('https://c.test');
    await expect(issue('https://b.test')).rejects.toSatisfy((e) => code(e) === 'INVALID_TARGET');
    expect((await auditEntries(pool, 'token.issue', 'client', c.clientId)).filter((e) => e.outcome === 'refused').map((e) => e.details)).toEqual([expect.objectContaining({ code: 'INVALID_TARGET', audience: expect.objectContaining({ first: ['https://b.test'] }) })]);
    expect(await issuedCount(pool, w.issuer)).toBe(2);
  });

  it("a client limited to audiences the issuer does not serve gets no token, rather than one for every audience", async () => {
    const w = await world(pool);
    const c = await addClient(pool, { clientId: `aud-${Date.now()}`, scopes: ['read'], audiences: ['https://elsewhere.test'] });
    await expect(w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' })).rejects.toSatisfy((e) => code(e) === 'INVALID_TARGET');
    expect(await issuedCount(pool, w.issuer)).toBe(0);
  });

  it('grants only requested scopes, and refuses a scope outside the client with INVALID_SCOPE (audited)', async () => {
    const w = await world(pool);
    const c = await client(pool, ['read', 'write']);
    expect((await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process', requestedScopes: ['read'] })).scope).toBe('read');
    await expect(w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process', requestedScopes: ['read', 'admin'] })).rejects.toSatisfy((e) => code(e) === 'INVALID_SCOPE');
    expect((await auditEntries(pool, 'token.issue', 'client', c.clientId)).map((e) => [e.outcome, e.details.code])).toEqual([['refused', 'INVALID_SCOPE']]);
  });

  it('does not audit a scope refusal on remembered credentials: the caller must verify them first and ask again', async () => {
    const w = await world(pool);
    const c = await client(pool, ['read']);
    const remembered = { secretHash: 'scrypt$remembered', remembered: true };
    await expect(w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: remembered, requestedScopes: ['admin'] })).rejects.toSatisfy((e) => code(e) === 'INVALID_SCOPE');
    expect(await auditEntries(pool, 'token.issue', 'client', c.clientId)).toEqual([]);
  });

  it('records each issued token (jti, sub, client, kid, exp), findable by kid and by sub', async () => {
    const w = await world(pool);
    const c = await client(pool);
    const t = await w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' });
    const [byKid] = await tokensByKid(pool, t.kid);
    expect(byKid).toMatchObject({ jti: t.jti, issuer: w.issuer, sub: c.clientId, clientId: c.clientId, kid: t.kid, policyVersion: POLICY_VERSION });
    expect(byKid!.exp.getTime() - byKid!.iat.getTime()).toBe(TTL * 1000);
    expect((await tokensBySub(pool, c.clientId)).map((r) => r.jti)).toEqual([t.jti]);
    expect(await tokensBySub(pool, c.clientId, new Date(0))).toEqual([]);
  });

  it('a paused issuer refuses with ISSUANCE_PAUSED and signs nothing', async () => {
    const w = await world(pool);
    const c = await client(pool);
    await pauseIssuance(pool, w.issuer, 'incident', { role: 'RevocationResponder' });
    let signed = 0;
    const km = w.km;
    const spying = { signingHandle: async (iss: string) => ({ ...(await km.signingHandle(iss)), sign: async () => (signed++, new Uint8Array()) }) };
    const tokens = new TokenIssuer({ pool, signer: spying, appendAudit, clock: systemClock, policy: () => w.policy });
    await expect(tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' })).rejects.toSatisfy((e) => code(e) === 'ISSUANCE_PAUSED');
    expect(signed).toBe(0);
    expect(await issuedCount(pool, w.issuer)).toBe(0);
  });

  it('refuses a disabled client with CLIENT_NOT_AUTHORIZED', async () => {
    const w = await world(pool);
    const c = await client(pool);
    await disableClient(pool, c.clientId);
    await expect(w.tokens.issue({ issuer: w.issuer, clientId: c.clientId, authentication: 'in-process' })).rejects.toSatisfy((e) => code(e) === 'CLIENT_NOT_AUTHORIZED');
  });

  it('refuses an issuer that is not in the policy with ISSUER_UNKNOWN', async () => {
    const w = await world(pool);
    const c = await client(pool);
    await expect(w.tokens.issue({ issuer: 'https://other.test', clientId: c.clientId, authentication: 'in-process' })).rejects.toSatisfy((e) => code(e) === 'ISSUER_UNKNOWN');
  });
});

describe('TokenIssuer.issueCanary', () => {
  it('issues a verifiable canary (sub keyturn:canary, no client), records and audits it', async () => {
    const w = await world(pool);
    const t = await w.tokens.issueCanary(w.issuer, { step: 'canary-after' });
    const claims = await verifyToken(w, t.accessToken);
    expect(claims).toMatchObject({ sub: CANARY_SUBJECT, client_id: CANARY_SUBJECT, iss: w.issuer, jti: t.jti, aud: CANARY_AUDIENCE });
    expect(claims.scope).toBeUndefined();
    const [rec] = await tokensByKid(pool, t.kid);
    expect(rec).toMatchObject({ jti: t.jti, sub: CANARY_SUBJECT });
    expect(rec!.clientId).toBeUndefined();
    expect((await auditEntries(pool, 'token.canary', 'jti', t.jti)).map((e) => e.details)).toEqual([{ kid: t.kid, exp: claims.exp, step: 'canary-after' }]);
  });

  it("issues a canary no relying party accepts (its own audience), so one read from a run's history is no credential", async () => {
    const w = await world(pool);
    const jwks = await w.km.jwks(w.issuer);
    const p = w.policy.issuers[0]!;
    const relyingParty = createValidator({ issuer: w.issuer, audience: p.audiences[0]!, algorithms: ['ES256'], keys: jwks.keys, clockSkewSeconds: p.clockSkewSeconds, maxTokenAgeSeconds: p.maxTokenAgeSeconds });
    const t = await w.tokens.issueCanary(w.issuer, { step: 'canary-after' });

    await expect(relyingParty.verify(t.accessToken)).rejects.toMatchObject({ code: 'AUD_MISMATCH' });
  });
});
