import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRevocation } from '../../client/revocations.js';
import type { RevocationResult } from '../../workflows/revocation.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

/**
 * The notices to subscribers go out in the background while the run waits for sign-off. When the
 * subscribers cannot even be read (the database gone past every retry), the run still takes its
 * sign-off and ends, and says that nobody was told.
 */
describe('a revocation whose notice subscribers cannot be read', () => {
  let stack: RotationStack;
  const unreadable: ActivityInterceptorsFactory = (ctx) => ({
    inbound: {
      async execute(input, next) {
        if (ctx.info.activityType === 'listNoticeSubscribers') throw ApplicationFailure.nonRetryable('subscribers unreadable (test)', 'TEST_UNREADABLE');
        return next(input);
      },
    },
  });

  beforeAll(async () => {
    stack = await startRotationStack({ name: 'unlisted', activityInterceptors: [unreadable] });
  });
  afterAll(() => stack?.stop());

  it('still takes its sign-off and is revoked, reporting each event whose subscribers went unread', async () => {
    const handle = await startRevocation(stack.client, { kind: 'jti', value: `unlisted-${randomUUID()}`, issuer: stack.issuer, reason: 'leaked token', requester: 'cli:carol', taskQueue: stack.taskQueue });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(handle, 'approve', 'cli:alice');
    const r = (await handle.result()) as RevocationResult;
    expect(r.outcome).toBe('revoked');
    expect(r.notices).toEqual({ delivered: 0, failed: 0, unlisted: 2 });
    const recorded = await stack.pool.query<{ details: Record<string, unknown> }>(`SELECT details FROM audit_log WHERE action = 'revocation.revoked' AND actor ->> 'workflowId' = $1`, [handle.workflowId]);
    expect(recorded.rows[0]?.details.notices).toEqual({ delivered: 0, failed: 0, unlisted: 2 });
  });
});
