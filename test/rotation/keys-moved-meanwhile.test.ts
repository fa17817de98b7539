import { randomUUID } from 'node:crypto';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditActor } from '../../agents/auditor/types.js';
import { isPaused } from '../../agents/token-issuer/issuance-control.js';
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

  it('completes when the previous key was revoked during the overlap, recording that it was already revoked', async () => {
    const oldKid = await activeKid();
    before.set('retireKey', async ({ kid, policyVersion }) => void (await stack.services.keyManager.revoke({ ...elsewhere(policyVersion), kid, reason: 'compromised during the overlap' })));
    const handle = await stack.rotate('previous key revoked during the overlap');
    await stack.decide(handle, 'approve', 'cli:alice');
    const r = await result(handle);
    expect(r).toMatchObject({ outcome: 'completed', previousKid: oldKid, reason: expect.stringContaining('already revoked') });
    expect(await keyStates()).toMatchObject({ [oldKid]: 'revoked', [r.newKid!]: 'active' });
    expect(await runEntries(handle.workflowId, 'rotation.completed')).toEqual([expect.objectContaining({ details: expect.objectContaining({ reason: expect.stringContaining('already revoked') }) })]);
    expect(await isPaused(stack.pool, stack.issuer)).toBe(false);
  });
});
