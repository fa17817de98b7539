import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';
import { result, seedActiveKey } from './support.js';

/** What a run must leave untouched when it does not proceed: every key, its state, the JWKS. */
async function snapshot(stack: RotationStack) {
  const keys = await stack.services.keyManager.listKeys({ issuer: stack.issuer });
  return { keys: keys.map((k) => `${k.kid}:${k.state}`).sort(), jwks: await stack.jwksKids() };
}

describe('a run that is not approved changes nothing', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'nochange', approvals: { timeout: '3s', escalationInterval: '1s' } });
    await seedActiveKey(stack);
  });
  afterAll(() => stack?.stop());

  it('a rejection ends the run rejected, with its reason, and leaves keys and JWKS as they were', async () => {
    const before = await snapshot(stack);
    const handle = await stack.rotate('maybe not');
    await stack.decide(handle, 'reject', 'cli:bob', 'change freeze until Monday');
    const r = await result(handle);
    expect(r).toMatchObject({ outcome: 'rejected', reason: 'change freeze until Monday' });
    expect(await snapshot(stack)).toEqual(before);
  });

  it('no decision before the approval timeout ends the run expired and leaves keys and JWKS as they were', async () => {
    const before = await snapshot(stack);
    const handle = await stack.rotate('nobody answers');
    const r = await result(handle);
    expect(r.outcome).toBe('expired');
    expect(await snapshot(stack)).toEqual(before);
  });
});
