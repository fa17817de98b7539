import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revoke } from '../../agents/validator/revocation-list.js';
import { seedActiveKey, sleep } from '../rotation/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

/** /oauth2/introspect as deployed: the full Validator, fed by KeyManager, with the LISTEN/NOTIFY revocation list. */
describe('POST /oauth2/introspect in a running keyturn HTTP service', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'introspect', issuer: { accessTokenTtl: '60s', postRetireOverlap: '62s' } });
    await seedActiveKey(stack);
  });
  afterAll(() => stack?.stop());

  const introspect = async (token: string) => {
    const c = stack.oauthClient;
    const res = await fetch(`${stack.httpUrl}/oauth2/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${c.clientId}:${c.secret}`).toString('base64')}` },
      body: new URLSearchParams({ token }).toString(),
    });
    return (await res.json()) as { active: boolean; [claim: string]: unknown };
  };

  /** Revocations reach the HTTP process by NOTIFY; poll briefly rather than assume a time. */
  const eventuallyInactive = async (token: string) => {
    for (let i = 0; i < 50; i++) {
      if (!(await introspect(token)).active) return true;
      await sleep(100);
    }
    return false;
  };

  it('answers active with the claims for a token keyturn issued', async () => {
    const token = await stack.token();
    expect(await introspect(token)).toMatchObject({ active: true, iss: stack.issuer, sub: stack.oauthClient.clientId });
  });

  it('answers inactive for a token whose signature was tampered with', async () => {
    const token = await stack.token();
    expect(await introspect(`${token.slice(0, -6)}AAAAAA`)).toEqual({ active: false });
  });

  it('answers inactive once the token is revoked by the client through /oauth2/revoke', async () => {
    const token = await stack.token();
    const c = stack.oauthClient;
    await fetch(`${stack.httpUrl}/oauth2/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${c.clientId}:${c.secret}`).toString('base64')}` },
      body: new URLSearchParams({ token }).toString(),
    });
    expect(await introspect(token)).toEqual({ active: false });
  });

  it('answers inactive once its subject is revoked by another process, learned through LISTEN/NOTIFY', async () => {
    const token = await stack.token();
    expect((await introspect(token)).active).toBe(true);
    await revoke(stack.pool, { kind: 'sub', value: stack.oauthClient.clientId, expiresAt: new Date(Date.now() + 120_000), reason: 'test', before: new Date(Date.now() + 1000) });
    expect(await eventuallyInactive(token)).toBe(true);
  });
});
