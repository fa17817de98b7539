import { randomUUID } from 'node:crypto';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getPause } from '../../agents/token-issuer/issuance-control.js';
import { isContainmentPause } from '../../agents/revocation-responder/containment.js';
import { startRevocation } from '../../client/revocations.js';
import type { RevocationResult } from '../../workflows/revocation.js';
import { kidOf, seedActiveKey } from '../rotation/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

/** Every key of the stack's issuer, by kid: its state. */
async function keyStates(stack: RotationStack): Promise<Record<string, string>> {
  const keys = await stack.services.keyManager.listKeys({ issuer: stack.issuer });
  return Object.fromEntries(keys.map((k) => [k.kid, k.state]));
}

const revoke = (stack: RotationStack, kid: string) =>
  startRevocation(stack.client, { kind: 'kid', value: kid, reason: 'private key pasted in a CI log', requester: 'cli:requester', taskQueue: stack.taskQueue });

/**
 * A kid revocation of the active key, and a rotation that replaces that key while the revocation
 * waits for sign-off: the approved revocation revokes the key it contained, never the rotation's.
 */
describe('a rotation activates its new key while the revocation of the old active key waits for sign-off', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    // The rotation stays in its overlap (the compromised key retiring) for the whole test.
    stack = await startRotationStack({ name: 'rev-rotated', issuer: { postRetireOverlap: '300s' } });
  });
  afterAll(() => stack?.stop());

  it('the approved revocation revokes the compromised key, leaves the rotation\'s key active and resumes issuance with it', async () => {
    const compromised = await seedActiveKey(stack);
    const revocation = await revoke(stack, compromised);
    await stack.waitFor(revocation, (s) => s.phase === 'awaiting_sign_off', 'the revocation\'s sign-off');
    expect(isContainmentPause(await getPause(stack.pool, stack.issuer), compromised)).toBe(true);

    const rotation = await stack.rotate('scheduled hygiene');
    await stack.decide(rotation, 'approve', 'cli:alice');
    await stack.waitFor(rotation, (s) => s.phase === 'overlap', 'the rotation\'s overlap');
    const healthy = Object.entries(await keyStates(stack)).find(([, state]) => state === 'active')![0];
    expect(healthy).not.toBe(compromised);

    await stack.decide(revocation, 'approve', 'cli:bob');
    const r = (await revocation.result()) as RevocationResult;

    expect(r.outcome).toBe('revoked');
    expect(r.newKid).toBeUndefined();
    expect(await keyStates(stack)).toMatchObject({ [compromised]: 'revoked', [healthy]: 'active' });
    expect(await getPause(stack.pool, stack.issuer)).toBeUndefined();
    expect(kidOf(await stack.token())).toBe(healthy);
    expect(await stack.jwksKids()).not.toContain(compromised);
    await rotation.terminate('test over');
  });
});

describe('a rotation activates its key between the approved revocation\'s read of the key and its emergency activation', () => {
  let stack: RotationStack;
  /** The rotation's pending key, activated (as a rotation would) just before the emergency activation runs. */
  let rotationKey: string | undefined;
  const rotationWinsTheRace: ActivityInterceptorsFactory = (ctx) => ({
    inbound: {
      async execute(input, next) {
        const arg = input.args[0] as { expectedPreviousKid?: string } | undefined;
        if (ctx.info.activityType === 'activateKey' && arg?.expectedPreviousKid && rotationKey) {
          await stack.services.keyManager.activate({ requestId: `race-${randomUUID()}`, issuer: stack.issuer, kid: rotationKey, policyVersion: stack.policy.version, actor: { role: 'KeyManager', workflowId: 'a-concurrent-rotation' } });
        }
        return next(input);
      },
    },
  });
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'rev-race', activityInterceptors: [rotationWinsTheRace] });
  });
  afterAll(() => stack?.stop());

  it('the refused emergency key is marked failed, the compromised key revoked and the rotation\'s key keeps signing', async () => {
    const compromised = await seedActiveKey(stack);
    const revocation = await revoke(stack, compromised);
    await stack.waitFor(revocation, (s) => s.phase === 'awaiting_sign_off', 'the revocation\'s sign-off');
    rotationKey = (await stack.services.keyManager.generateKey({ requestId: `race-${randomUUID()}`, issuer: stack.issuer, alg: 'ES256', policyVersion: stack.policy.version, actor: { role: 'KeyManager', workflowId: 'a-concurrent-rotation' } })).kid;

    await stack.decide(revocation, 'approve', 'cli:bob');
    const r = (await revocation.result()) as RevocationResult;

    expect(r.outcome).toBe('revoked');
    expect(r.newKid).toBeUndefined();
    const states = await keyStates(stack);
    const emergency = Object.keys(states).find((kid) => kid !== compromised && kid !== rotationKey);
    expect(states).toEqual({ [compromised]: 'revoked', [rotationKey]: 'active', [emergency!]: 'failed' });
    expect(await getPause(stack.pool, stack.issuer)).toBeUndefined();
    expect(kidOf(await stack.token())).toBe(rotationKey);
  });
});
