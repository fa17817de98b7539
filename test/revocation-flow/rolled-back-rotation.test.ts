import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getPause } from '../../agents/token-issuer/issuance-control.js';
import { startRevocation } from '../../client/revocations.js';
import type { RevocationResult } from '../../workflows/revocation.js';
import type { RunResult } from '../../workflows/types.js';
import { seedActiveKey } from '../rotation/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

/** Every key of the stack's issuer, by kid: its state. */
async function keyStates(stack: RotationStack): Promise<Record<string, string>> {
  const keys = await stack.services.keyManager.listKeys({ issuer: stack.issuer });
  return Object.fromEntries(keys.map((k) => [k.kid, k.state]));
}

const revoke = (stack: RotationStack, kid: string) =>
  startRevocation(stack.client, { kind: 'kid', value: kid, reason: 'private key pasted in a CI log', requester: 'cli:requester', taskQueue: stack.taskQueue });

/** A rotation in its overlap (its new key active, the previous one retiring), and a revocation of the previous key waiting for sign-off. */
async function rotatedThenContained(stack: RotationStack) {
  const compromised = await seedActiveKey(stack);
  const rotation = await stack.rotate('scheduled hygiene');
  await stack.decide(rotation, 'approve', 'cli:alice');
  await stack.waitFor(rotation, (s) => s.phase === 'overlap', 'the rotation\'s overlap');
  const revocation = await revoke(stack, compromised);
  await stack.waitFor(revocation, (s) => s.phase === 'awaiting_sign_off', 'the revocation\'s sign-off');
  return { compromised, rotation, revocation };
}

/**
 * A rotation rolled back while a revocation of its previous key waits for sign-off: the contained
 * key is not made active again, and the approved revocation then leaves the rotation's key active.
 */
describe('a rotation rolled back while the revocation of its previous key waits for sign-off', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'rev-restore', issuer: { postRetireOverlap: '300s' } });
  });
  afterAll(() => stack?.stop());

  it('the rollback does not make the contained key active again: the rotation\'s key stays active and issuance is paused', async () => {
    const { compromised, rotation, revocation } = await rotatedThenContained(stack);

    await stack.decide(rotation, 'rollback', 'cli:bob', 'clients report 401s');
    const rolledBack = (await rotation.result()) as RunResult;

    // The previous key could not be restored: the run fails, saying issuance is paused.
    expect(rolledBack).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('issuance paused') });
    expect(await keyStates(stack)).toEqual({ [compromised]: 'retiring', [rolledBack.newKid!]: 'active' });
    expect(await getPause(stack.pool, stack.issuer)).toBeDefined();
    await expect(stack.token()).rejects.toThrow(/503/);
    await revocation.terminate('test over');
  });
});

describe('a revocation approved after a rollback of the rotation that replaced its key', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'rev-restore-ok', issuer: { postRetireOverlap: '300s' } });
  });
  afterAll(() => stack?.stop());

  it('revokes the contained key and leaves the rotation\'s key active', async () => {
    const { compromised, rotation, revocation } = await rotatedThenContained(stack);
    await stack.decide(rotation, 'rollback', 'cli:bob', 'clients report 401s');
    const rolledBack = (await rotation.result()) as RunResult;

    await stack.decide(revocation, 'approve', 'cli:alice');
    const r = (await revocation.result()) as RevocationResult;

    expect(r.outcome).toBe('revoked');
    expect(await keyStates(stack)).toEqual({ [compromised]: 'revoked', [rolledBack.newKid!]: 'active' });
    expect(await stack.jwksKids()).not.toContain(compromised);
  });
});
