import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';
import { staleJwksProxy } from './stale-jwks-proxy.js';
import { result, seedActiveKey } from './support.js';

async function keyStates(stack: RotationStack): Promise<Record<string, string>> {
  const keys = await stack.services.keyManager.listKeys({ issuer: stack.issuer });
  return Object.fromEntries(keys.map((k) => [k.kid, k.state]));
}

describe('compensation: a failed canary rolls back to the previous key', () => {
  let stack: RotationStack;
  let proxy: Awaited<ReturnType<typeof staleJwksProxy>>;
  beforeAll(async () => {
    proxy = await staleJwksProxy();
    stack = await startRotationStack({ name: 'stalejwks', canaryJwksBase: () => proxy.base });
    proxy.target.url = stack.httpUrl;
  });
  afterAll(async () => {
    await stack?.stop();
    await proxy?.close();
  });

  it('ends rolled_back with the reason, the previous key active again, the new one failed and the JWKS back to its previous set', async () => {
    const oldKid = await seedActiveKey(stack);
    const jwksBefore = await stack.jwksKids();
    const handle = await stack.rotate('rotation behind a stale CDN');
    await stack.decide(handle, 'approve', 'cli:alice');
    const r = await result(handle);
    expect(r.outcome).toBe('rolled_back');
    expect(r.reason).toMatch(/canary validation failed/);
    expect(await keyStates(stack)).toEqual({ [oldKid]: 'active', [r.newKid!]: 'failed' });
    expect(await stack.jwksKids()).toEqual(jwksBefore);
  });
});

describe('compensation: an attested rollback signal during the overlap', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'rollbacksig', issuer: { postRetireOverlap: '8s' } });
  });
  afterAll(() => stack?.stop());

  it('restores the previous key and withdraws the new one', async () => {
    const oldKid = await seedActiveKey(stack);
    const handle = await stack.rotate();
    await stack.decide(handle, 'approve', 'cli:alice');
    await stack.waitFor(handle, (s) => s.phase === 'overlap', 'the overlap');
    await stack.decide(handle, 'rollback', 'cli:bob', 'clients report 401s');
    const r = await result(handle);
    expect(r).toMatchObject({ outcome: 'rolled_back', reason: expect.stringContaining('clients report 401s') });
    expect(await keyStates(stack)).toEqual({ [oldKid]: 'active', [r.newKid!]: 'failed' });
    expect(await stack.jwksKids()).toEqual([oldKid]);
  });

  it('a rollback attested during sign-off rolls the approved run back at its first wait, before activation', async () => {
    const oldKid = (await stack.services.keyManager.listKeys({ issuer: stack.issuer })).find((k) => k.state === 'active')?.kid ?? (await seedActiveKey(stack));
    const handle = await stack.rotate();
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(handle, 'rollback', 'cli:bob', 'hold this rotation');
    await stack.decide(handle, 'approve', 'cli:alice');
    const r = await result(handle);
    expect(r).toMatchObject({ outcome: 'rolled_back', reason: expect.stringContaining('hold this rotation') });
    expect(await keyStates(stack)).toMatchObject({ [oldKid]: 'active', [r.newKid!]: 'failed' });
  });

  it('a rollback signal without a valid attestation is ignored and the run completes', async () => {
    const handle = await stack.rotate();
    await stack.decide(handle, 'approve', 'cli:alice');
    await stack.waitFor(handle, (s) => s.phase === 'overlap', 'the overlap');
    await handle.signal('rollback', { attestation: 'forged' });
    const r = await result(handle);
    expect(r.outcome).toBe('completed');
  });
});
