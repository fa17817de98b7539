import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditActor } from '../../agents/auditor/types.js';
import { isPaused, resumeIssuance } from '../../agents/token-issuer/issuance-control.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';
import { result, seedActiveKey } from './support.js';

/**
 * Another process (a reset run of the same workflow, a revocation, an operator) may move a
 * rotation's keys while it runs: the run, and its compensation, act on the keys as they are, not as
 * the run believes them to be.
 */
describe('a rotation whose keys were moved meanwhile', () => {
  let stack: RotationStack;
  /** Run once, just before the named activity's next attempt executes, with its input. */
  const before = new Map<string, (input: { kid: string; policyVersion: string }) => Promise<void>>();
  const hooks: ActivityInterceptorsFactory = (ctx) => ({
    inbound: {
      async execute(input, next) {
        const hook = before.get(ctx.info.activityType);
        if (hook) {
          before.delete(ctx.info.activityType);
          await hook(input.args[0] as { kid: string; policyVersion: string });
        }
        return next(input);
      },
    },
  });

  beforeAll(async () => {
    stack = await startRotationStack({ name: 'comp-states', activityInterceptors: [hooks] });
  });
  afterAll(() => stack?.stop());
  beforeEach(() => before.clear());

  /** Someone other than the run: its effects carry a request id of their own. */
  const elsewhere = (policyVersion: string) => ({ requestId: `test-elsewhere-${randomUUID()}`, policyVersion, actor: { role: 'KeyManager', workflowId: 'test-elsewhere' } satisfies AuditActor });
  const keyStates = async () => Object.fromEntries((await stack.services.keyManager.listKeys({ issuer: stack.issuer })).map((k) => [k.kid, k.state]));
  const activeKid = async () => (await stack.services.keyManager.activeKey(stack.issuer))?.kid ?? (await seedActiveKey(stack));
  const runEntries = async (workflowId: string, action: string) =>
    (await stack.pool.query<{ outcome: string; details: Record<string, unknown> }>(`SELECT outcome, details FROM audit_log WHERE action = $1 AND actor ->> 'workflowId' = $2`, [action, workflowId])).rows;
  const rotationLock = async () => (await stack.pool.query('SELECT workflow_id FROM rotation_locks WHERE issuer = $1', [stack.issuer])).rows;
  /** What an earlier run of the workflow committed before it was reset (or an attempt whose reply was lost): the new key active, the old one retiring. */
  const activateElsewhere = (kid: string, policyVersion: string) => stack.services.keyManager.activate({ ...elsewhere(policyVersion), issuer: stack.issuer, kid });
  const revokeElsewhere = (kid: string, policyVersion: string, reason: string) => stack.services.keyManager.revoke({ ...elsewhere(policyVersion), kid, reason });

  it('restores the previous key when the new key was already active before the run activated it (a reset run, a lost reply)', async () => {
    const oldKid = await activeKid();
    before.set('activateKey', async ({ kid, policyVersion }) => void (await activateElsewhere(kid, policyVersion)));
    const handle = await stack.rotate('activated before the reset');
    await stack.decide(handle, 'approve', 'cli:alice');
    const r = await result(handle);
    expect(r.outcome).toBe('rolled_back');
    expect(await keyStates()).toMatchObject({ [oldKid]: 'active', [r.newKid!]: 'failed' });
    expect(await isPaused(stack.pool, stack.issuer)).toBe(false);
  });

  it('ends failed, with its outcome recorded and the rotation lock released, when the new key was revoked before activation', async () => {
    const oldKid = await activeKid();
    before.set('activateKey', async ({ kid, policyVersion }) => void (await revokeElsewhere(kid, policyVersion, 'leaked while pending')));
    const handle = await stack.rotate('new key revoked while pending');
    await stack.decide(handle, 'approve', 'cli:alice');
    const r = await result(handle);
    expect(r).toMatchObject({ outcome: 'failed', reason: expect.stringContaining(`${r.newKid} is revoked`) });
    expect(await keyStates()).toMatchObject({ [oldKid]: 'active', [r.newKid!]: 'revoked' });
    expect(await runEntries(handle.workflowId, 'rotation.failed')).toEqual([expect.objectContaining({ outcome: 'failed' })]);
    expect(await rotationLock()).toEqual([]);
    expect(await isPaused(stack.pool, stack.issuer)).toBe(false);
  });

  it('completes when the previous key was revoked during the overlap, recording that it was already revoked', async () => {
    const oldKid = await activeKid();
    before.set('retireKey', async ({ kid, policyVersion }) => void (await revokeElsewhere(kid, policyVersion, 'compromised during the overlap')));
    const handle = await stack.rotate('previous key revoked during the overlap');
    await stack.decide(handle, 'approve', 'cli:alice');
    const r = await result(handle);
    expect(r).toMatchObject({ outcome: 'completed', previousKid: oldKid, reason: expect.stringContaining('already revoked') });
    expect(await keyStates()).toMatchObject({ [oldKid]: 'revoked', [r.newKid!]: 'active' });
    expect(await runEntries(handle.workflowId, 'rotation.completed')).toEqual([expect.objectContaining({ details: expect.objectContaining({ reason: expect.stringContaining('already revoked') }) })]);
    expect(await isPaused(stack.pool, stack.issuer)).toBe(false);
  });

  it('leaves a new key that passed its canary active, issuance running, when the retire step fails and the previous key cannot be restored', async () => {
    const oldKid = await activeKid();
    before.set('retireKey', async ({ kid, policyVersion }) => {
      await revokeElsewhere(kid, policyVersion, 'compromised during the overlap');
      throw ApplicationFailure.nonRetryable('the key store stayed unreachable', 'TEST_UNREACHABLE');
    });
    const handle = await stack.rotate('retire step fails');
    await stack.decide(handle, 'approve', 'cli:alice');
    const r = await result(handle);
    expect(r).toMatchObject({ outcome: 'failed', reason: expect.stringContaining(`${r.newKid} stays active`) });
    expect(await keyStates()).toMatchObject({ [oldKid]: 'revoked', [r.newKid!]: 'active' });
    expect(await isPaused(stack.pool, stack.issuer)).toBe(false);
  });

  it('pauses issuance when the new key is active, not known good, and the previous key cannot be restored', async () => {
    await activeKid();
    before.set('activateKey', async ({ kid, policyVersion }) => {
      const { previous } = await activateElsewhere(kid, policyVersion);
      await revokeElsewhere(previous!.kid, policyVersion, 'compromised while retiring');
    });
    const handle = await stack.rotate('nothing to roll back to');
    await stack.decide(handle, 'approve', 'cli:alice');
    const r = await result(handle);
    expect(r).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('issuance paused') });
    expect(await keyStates()).toMatchObject({ [r.newKid!]: 'active' });
    expect(await isPaused(stack.pool, stack.issuer)).toBe(true);
    await resumeIssuance(stack.pool, stack.issuer, { role: 'Human', cliUser: 'cli:alice' });
  });

  it('still ends, failed and saying so, when pausing issuance fails too', async () => {
    await activeKid();
    before.set('activateKey', async ({ kid, policyVersion }) => {
      const { previous } = await activateElsewhere(kid, policyVersion);
      await revokeElsewhere(previous!.kid, policyVersion, 'compromised while retiring');
    });
    before.set('pauseIssuance', () => Promise.reject(ApplicationFailure.nonRetryable('the issuance store stayed unreachable', 'TEST_UNREACHABLE')));
    const handle = await stack.rotate('no pause either');
    await stack.decide(handle, 'approve', 'cli:alice');
    const r = await result(handle);
    expect(r).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('issuance could not be paused (the issuance store stayed unreachable)') });
    expect(await runEntries(handle.workflowId, 'rotation.failed')).toEqual([expect.objectContaining({ outcome: 'failed' })]);
    expect(await rotationLock()).toEqual([]);
  });
});
