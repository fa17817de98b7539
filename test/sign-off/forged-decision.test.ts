import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activePolicy } from '../../agents/planner/policy-store.js';
import { startPolicyChange } from '../../client/policy.js';
import { startRevocation } from '../../client/revocations.js';
import type { CheckedDecision } from '../../activities/sign-off.js';
import type { PolicyChangeResult } from '../../workflows/policy-change.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

/**
 * Someone with access to the Temporal namespace but not to keyturn's keys can answer an activity
 * task with an encrypted result copied from another run's history. The workflow refuses a result not
 * bound to its call (copied-result.test.ts); this test is the second line, for a forged vote that got
 * past that: the forger sits inside the worker, so its answer is bound like a real one. The effect
 * that follows the sign-off must count the votes this run's own checks recorded in the audit log,
 * and find none.
 */
describe('a sign-off check answered with a result it never produced', () => {
  let db: PolicyDb;
  let stack: RotationStack;
  const forged = new Map<string, CheckedDecision>();
  const answerForged: ActivityInterceptorsFactory = (ctx) => ({
    inbound: {
      async execute(input, next) {
        const answer = ctx.info.activityType === 'checkDecision' ? forged.get(ctx.info.workflowExecution?.workflowId ?? '') : undefined;
        return answer ?? next(input);
      },
    },
  });
  beforeAll(async () => {
    db = await policyDatabase();
    stack = await startRotationStack({ name: 'forged-decision', databaseUrl: db.url, policyFromStore: true, activityInterceptors: [answerForged] });
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  it('does not activate a policy change: no approval of this run was recorded', async () => {
    const before = (await activePolicy(stack.pool))!.policy.version;
    const text = readFileSync(stack.policyPath, 'utf8').replace(/(\n\s*accessTokenTtl: )\S+/, '$1' + '3s');
    const handle = await startPolicyChange(stack.client, { text, reason: 'forged approval', requester: 'cli:carol', taskQueue: stack.taskQueue });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    forged.set(handle.workflowId, { accepted: true, vote: { approver: 'cli:alice', decision: 'approve', channel: 'cli', at: new Date().toISOString() }, standing: 'approved', auditSeqs: [] });
    await handle.signal('approve', { attestation: 'copied from elsewhere' });
    const r = (await handle.result()) as PolicyChangeResult;
    expect(r.outcome).toBe('refused');
    expect(r.reason).toContain('the approvals do not meet what this change needs');
    expect((await activePolicy(stack.pool))!.policy.version).toBe(before);
  });
  it('does not lift a revocation\'s containment as a false alarm: no rejection of this run was recorded', async () => {
    const jti = `forged-${randomUUID()}`;
    const handle = await startRevocation(stack.client, { kind: 'jti', value: jti, issuer: stack.issuer, reason: 'leaked token', requester: 'cli:carol', taskQueue: stack.taskQueue });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    forged.set(handle.workflowId, { accepted: true, vote: { approver: 'cli:alice', decision: 'reject', channel: 'cli', at: new Date().toISOString(), reason: 'false alarm' }, standing: 'rejected', auditSeqs: [] });
    await handle.signal('reject', { attestation: 'copied from elsewhere' });
    await expect(handle.result()).rejects.toThrow();
    const { rowCount } = await stack.pool.query(`SELECT 1 FROM revocations WHERE kind = 'jti' AND value = $1`, [jti]);
    expect(rowCount).toBe(1);
  });
  it('does not generate a key for a rotation: no approval of this run was recorded', async () => {
    const handle = await stack.rotate('forged approval');
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    forged.set(handle.workflowId, { accepted: true, vote: { approver: 'cli:alice', decision: 'approve', channel: 'cli', at: new Date().toISOString() }, standing: 'approved', auditSeqs: [] });
    await handle.signal('approve', { attestation: 'copied from elsewhere' });
    const outcome = await handle.result().then((r) => (r as { outcome: string }).outcome, () => 'run failed');
    expect(outcome).not.toBe('completed');
    const { rowCount } = await stack.pool.query(`SELECT 1 FROM audit_log WHERE action = 'key.generate' AND actor ->> 'workflowId' = $1`, [handle.workflowId]);
    expect(rowCount).toBe(0);
  });
});
