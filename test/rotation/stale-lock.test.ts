import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyturnProcess } from '../support/cli.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';
import { result } from './support.js';

/**
 * A rotation holds its issuer's lock from planning until its end. A run that ends without its end
 * step (terminated by an operator, say) must not keep every later rotation of the issuer out.
 */
describe('the rotation lock of a run that ended without releasing it', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'stale-lock' });
  });
  afterAll(() => stack?.stop());

  it('is taken over, audited, by the next rotation of the issuer', async () => {
    const first = await stack.rotate('terminated while waiting for sign-off');
    await stack.waitFor(first, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await first.terminate('an operator ended it');
    const held = await stack.pool.query<{ workflow_id: string }>('SELECT workflow_id FROM rotation_locks WHERE issuer = $1', [stack.issuer]);
    expect(held.rows).toEqual([{ workflow_id: first.workflowId }]);

    const next = await stack.rotate('after the terminated one');
    await stack.waitFor(next, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    const reclaimed = await stack.pool.query<{ details: Record<string, unknown> }>(`SELECT details FROM audit_log WHERE action = 'rotation.lock_reclaimed' AND actor ->> 'workflowId' = $1`, [next.workflowId]);
    expect(reclaimed.rows.map((r) => r.details)).toEqual([{ from: first.workflowId, status: 'TERMINATED' }]);
    await stack.decide(next, 'reject', 'cli:bob', 'test over');
    expect((await result(next)).outcome).toBe('rejected');
    const shown = await keyturnProcess(stack, 'audit', 'show', next.workflowId);
    expect(shown.status, shown.stdout + shown.stderr).toBe(0);
  });

  it('the next rotation withdraws the pending key the ended run left published', async () => {
    const slow = await startRotationStack({ name: 'stale-lock-pending', issuer: { prePublishLead: '60s' } });
    try {
      const first = await slow.rotate('terminated with its first key pre-published');
      await slow.decide(first, 'approve', 'cli:alice');
      const pendingKid = async () => (await slow.services.keyManager.listKeys({ issuer: slow.issuer, states: ['pending'] }))[0]?.kid;
      while (!(await pendingKid())) await new Promise((r) => setTimeout(r, 50));
      const orphan = (await pendingKid())!;
      expect(await slow.jwksKids()).toContain(orphan);
      await first.terminate('an operator ended it');

      const next = await slow.rotate('after the terminated one');
      await slow.waitFor(next, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
      expect((await slow.services.keyManager.getKey(orphan)).state).toBe('failed');
      expect(await slow.jwksKids()).not.toContain(orphan);
      await slow.decide(next, 'reject', 'cli:bob', 'test over');
      expect((await result(next)).outcome).toBe('rejected');
    } finally {
      await slow.stop();
    }
  });
});
