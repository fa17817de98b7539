import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPaused } from '../../agents/token-issuer/issuance-control.js';
import { startRevocation } from '../../client/revocations.js';
import type { RevocationResult } from '../../workflows/revocation.js';
import { seedActiveKey } from '../rotation/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

/**
 * Two revocations of one key, each waiting for its own sign-off, share its containment. Rejecting one
 * as a false alarm must not lift the containment the other still holds.
 */
describe('two open revocations of the same key', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'tworuns' });
  });
  afterAll(() => stack?.stop());

  const kidEntry = async (kid: string) => (await stack.pool.query(`SELECT 1 FROM revocations WHERE kind = 'kid' AND value = $1 AND expires_at > now()`, [kid])).rowCount;

  it('a false alarm in one keeps the containment the other holds; the other\'s false alarm lifts it', async () => {
    const kid = await seedActiveKey(stack);
    const start = () => startRevocation(stack.client, { kind: 'kid', value: kid, reason: 'key seen in a paste', requester: 'cli:carol', taskQueue: stack.taskQueue });
    const first = await start();
    await stack.waitFor(first, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    const second = await start();
    await stack.waitFor(second, (s) => s.phase === 'awaiting_sign_off', 'sign-off');

    await stack.decide(first, 'reject', 'cli:alice', 'false alarm, says the first');
    // Nothing was lifted, so no subscriber is told it was.
    expect((await first.result()) as RevocationResult).toMatchObject({ outcome: 'false_alarm', containmentKeptFor: [second.workflowId] });
    expect(await kidEntry(kid)).toBe(1);
    expect(await isPaused(stack.pool, stack.issuer)).toBe(true);
    const kept = await stack.pool.query<{ details: { keptFor: Array<{ workflowId: string; state: string }> } }>(`SELECT details FROM audit_log WHERE action = 'revocation.false_alarm' AND actor ->> 'workflowId' = $1 AND details ? 'keptFor'`, [first.workflowId]);
    expect(kept.rows[0]?.details.keptFor).toEqual([expect.objectContaining({ workflowId: second.workflowId, state: 'open' })]);

    await stack.decide(second, 'reject', 'cli:alice', 'false alarm, says the second');
    expect(((await second.result()) as RevocationResult).outcome).toBe('false_alarm');
    expect(await kidEntry(kid)).toBe(0);
    expect(await isPaused(stack.pool, stack.issuer)).toBe(false);
  });
});
