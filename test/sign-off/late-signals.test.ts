import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRevocation } from '../../client/revocations.js';
import type { RevocationResult } from '../../workflows/revocation.js';
import { result, seedActiveKey } from '../rotation/support.js';
import { deferred } from '../support/deferred.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

/**
 * A decision signal that arrives once a run has passed its last wait for one (while its final step
 * runs) decides nothing, but is not lost: the run's end records it in the audit log, unchecked.
 * A slow final step is a held activity: the worker runs it once the test lets it go.
 */
describe('a decision signal that comes after the run has passed its last wait', () => {
  let stack: RotationStack;
  const held = new Map<string, { entered: ReturnType<typeof deferred<void>>; release: ReturnType<typeof deferred<void>> }>();
  const slowSteps: ActivityInterceptorsFactory = (ctx) => ({
    inbound: {
      async execute(input, next) {
        const hold = held.get(ctx.info.activityType);
        if (hold) {
          hold.entered.resolve();
          await hold.release.promise;
        }
        return next(input);
      },
    },
  });
  const holding = (activityType: string) => {
    const hold = { entered: deferred(), release: deferred() };
    held.set(activityType, hold);
    return { entered: hold.entered.promise, release: () => (held.delete(activityType), hold.release.resolve()) };
  };
  const unhandled = async (handle: WorkflowHandle) =>
    (await stack.pool.query<{ outcome: string; details: Record<string, unknown> }>(`SELECT outcome, details FROM audit_log WHERE action = 'signoff.signals_unhandled' AND actor ->> 'workflowId' = $1 ORDER BY seq`, [handle.workflowId])).rows;

  beforeAll(async () => {
    stack = await startRotationStack({ name: 'latesignals', issuer: { postRetireOverlap: '6s' }, activityInterceptors: [slowSteps] });
  });
  afterAll(() => stack?.stop());

  it('a rollback sent while the previous key is being retired is recorded as unhandled, and the rotation completes', async () => {
    const oldKid = await seedActiveKey(stack);
    const retirement = holding('retireKey');
    const handle = await stack.rotate();
    await stack.decide(handle, 'approve', 'cli:alice');
    await retirement.entered;
    await stack.decide(handle, 'rollback', 'cli:bob', 'too late');
    retirement.release();

    const r = await result(handle);
    expect(r.outcome).toBe('completed');
    const keys = await stack.services.keyManager.listKeys({ issuer: stack.issuer });
    expect(Object.fromEntries(keys.map((k) => [k.kid, k.state]))).toEqual({ [oldKid]: 'retired', [r.newKid!]: 'active' });
    expect(await unhandled(handle)).toEqual([{ outcome: 'refused', details: expect.objectContaining({ runOutcome: 'completed', count: 1, counts: { approve: 0, reject: 0, rollback: 1 }, signals: [{ decision: 'rollback', receivedAt: expect.any(String) }] }) }]);
  });

  it('a rejection sent after a revocation was approved is recorded as unhandled, and the revocation stands', async () => {
    const confirmation = holding('confirmTokenRevocation');
    const handle = await startRevocation(stack.client, { kind: 'jti', value: `late-${randomUUID()}`, issuer: stack.issuer, reason: 'leaked token', requester: 'cli:carol', taskQueue: stack.taskQueue });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(handle, 'approve', 'cli:alice');
    await confirmation.entered;
    await stack.decide(handle, 'reject', 'cli:bob', 'false alarm after all');
    confirmation.release();

    expect((await handle.result() as RevocationResult).outcome).toBe('revoked');
    expect(await unhandled(handle)).toEqual([{ outcome: 'refused', details: expect.objectContaining({ runOutcome: 'revoked', count: 1, counts: { approve: 0, reject: 1, rollback: 0 }, signals: [{ decision: 'reject', receivedAt: expect.any(String) }] }) }]);
  });

  it('a late rollback is listed first however many other late signals came with it, and all are counted', async () => {
    await seedActiveKey(stack);
    const retirement = holding('retireKey');
    const handle = await stack.rotate();
    await stack.decide(handle, 'approve', 'cli:alice');
    await retirement.entered;
    for (let i = 0; i < 21; i++) await handle.signal('approve', { attestation: `noise ${i}` });
    await stack.decide(handle, 'rollback', 'cli:bob', 'too late');
    await handle.signal('reject', { attestation: 'noise' });
    retirement.release();

    expect((await result(handle)).outcome).toBe('completed');
    const [entry, ...more] = await unhandled(handle);
    expect(more).toEqual([]);
    const signals = entry!.details.signals as Array<{ decision: string }>;
    expect(entry!.details).toMatchObject({ count: 23, counts: { approve: 21, reject: 1, rollback: 1 } });
    expect(signals).toHaveLength(20);
    expect(signals.slice(0, 2).map((x) => x.decision)).toEqual(['rollback', 'reject']);
  });

  it('a run that ends with no signal left over records no such entry', async () => {
    await seedActiveKey(stack);
    const handle = await stack.rotate();
    await stack.decide(handle, 'approve', 'cli:alice');
    expect((await result(handle)).outcome).toBe('completed');
    expect(await unhandled(handle)).toEqual([]);
  });
});
