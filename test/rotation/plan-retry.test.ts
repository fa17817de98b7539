import { readFileSync } from 'node:fs';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disableChannelKey, generateChannelKey, registerChannelKey } from '../../agents/approvals/channel-keys.js';
import { startSigner } from '../../agents/approvals/start-request.js';
import { startPolicyChange } from '../../client/policy.js';
import { startRevocation } from '../../client/revocations.js';
import { startRotation } from '../../client/rotations.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';
import { setupAudit } from '../support/setup-audit.js';
import { result } from './support.js';

/**
 * A planning activity whose effects committed but whose reply was lost is retried. The retry must
 * not refuse a start request its first attempt accepted: the approver's key may have been disabled
 * in between (a lost laptop), and a refusal would fail a run that was planned, or, for a
 * revocation, leave a token contained with nobody asked to decide.
 */
describe('a planning step retried after its reply was lost', () => {
  let db: PolicyDb;
  let stack: RotationStack;
  /** Run once, after the first attempt of the named activity committed, before its reply is "lost". */
  const afterFirstAttempt = new Map<string, () => Promise<void>>();
  const attempts: string[] = [];
  const loseFirstReply: ActivityInterceptorsFactory = (ctx) => ({
    inbound: {
      async execute(input, next) {
        const out = await next(input);
        const hook = afterFirstAttempt.get(ctx.info.activityType);
        attempts.push(`${ctx.info.activityType}#${ctx.info.attempt}`);
        if (hook && ctx.info.attempt === 1) {
          afterFirstAttempt.delete(ctx.info.activityType);
          await hook();
          throw new Error('the reply was lost');
        }
        return out;
      },
    },
  });

  beforeAll(async () => {
    db = await policyDatabase();
    stack = await startRotationStack({ name: 'plan-retry', databaseUrl: db.url, policyFromStore: true, approvals: { requireSignedStart: true }, activityInterceptors: [loseFirstReply] });
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  /** A second key of carol's to sign starts with. */
  async function carolKey() {
    const key = await generateChannelKey();
    await registerChannelKey(stack.adminPool, { kid: key.kid, channel: 'cli', approver: 'cli:carol', publicJwk: key.publicJwk }, setupAudit);
    return { kid: key.kid, signer: startSigner('cli', { kid: key.kid, privateJwk: key.privateJwk }) };
  }
  /** Such a key, disabled once `activity` has committed its first attempt. */
  async function keyDisabledAfter(activity: string) {
    const key = await carolKey();
    afterFirstAttempt.set(activity, async () => void (await disableChannelKey(stack.pool, key.kid, setupAudit)));
    return key;
  }
  const entries = async (workflowId: string, action: string) =>
    (await stack.pool.query<{ details: Record<string, unknown> }>(`SELECT details FROM audit_log WHERE action = $1 AND actor ->> 'workflowId' = $2`, [action, workflowId])).rows;

  it('plans a rotation whose requester’s key was disabled between the attempts', async () => {
    const { kid, signer } = await keyDisabledAfter('planRotation');
    const handle = await startRotation(stack.client, { issuer: stack.issuer, reason: 'retried plan', requester: { kind: 'cli', id: 'cli:carol' }, taskQueue: stack.taskQueue, signStart: signer });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    expect(attempts).toContain('planRotation#2');
    const planned = await entries(handle.workflowId, 'rotation.planned');
    expect(planned).toHaveLength(1);
    expect(planned[0]!.details).toMatchObject({ requesterVerified: true, requesterKey: kid });
    // The retry returned the plan the first attempt recorded, the one approvers sign.
    expect((await stack.status(handle)).planHash).toBe(planned[0]!.details.planHash);
    await stack.decide(handle, 'reject', 'cli:bob', 'test over');
    expect((await result(handle)).outcome).toBe('rejected');
  });

  it('proposes a policy change, once, whose requester’s key was disabled between the attempts', async () => {
    const { kid, signer } = await keyDisabledAfter('proposePolicyChange');
    const text = readFileSync(stack.policyPath, 'utf8').replace(/escalationInterval: \S+/, 'escalationInterval: 25s');
    const handle = await startPolicyChange(stack.client, { text, reason: 'retried proposal', requester: 'cli:carol', taskQueue: stack.taskQueue, signStart: signer });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    expect(attempts).toContain('proposePolicyChange#2');
    const proposed = await entries(handle.workflowId, 'policy.proposed');
    expect(proposed).toHaveLength(1);
    expect(proposed[0]!.details).toMatchObject({ requesterVerified: true, requesterKey: kid });
    await stack.decide(handle, 'reject', 'cli:bob', 'test over');
    expect(await handle.result()).toMatchObject({ outcome: 'rejected' });
  });

  it('answers a retried policy proposal with the refusals its first attempt recorded, though the world changed since', async () => {
    const { signer } = await carolKey();
    // A rotation of the issuer in flight: changing its algorithm is refused...
    await stack.pool.query('INSERT INTO rotation_locks (issuer, workflow_id) VALUES ($1, $2)', [stack.issuer, 'rotate-elsewhere']);
    // ...until it ends, just after the first attempt recorded the refusal.
    afterFirstAttempt.set('proposePolicyChange', async () => void (await stack.pool.query('DELETE FROM rotation_locks WHERE workflow_id = $1', ['rotate-elsewhere'])));
    const text = readFileSync(stack.policyPath, 'utf8').replace(/algorithm: ES256/, 'algorithm: EdDSA');
    const handle = await startPolicyChange(stack.client, { text, reason: 'retried refusal', requester: 'cli:carol', taskQueue: stack.taskQueue, signStart: signer });
    expect(await handle.result()).toMatchObject({ outcome: 'refused', reason: expect.stringContaining('algorithm-changed-in-flight') });
    expect(attempts).toContain('proposePolicyChange#2');
    expect((await stack.pool.query(`SELECT outcome FROM audit_log WHERE action = 'policy.proposed' AND actor ->> 'workflowId' = $1`, [handle.workflowId])).rows).toEqual([{ outcome: 'refused' }]);
  });

  it('keeps a contained token revocation waiting for sign-off when its requester’s key was disabled between the attempts', async () => {
    const { kid, signer } = await keyDisabledAfter('planAndContainToken');
    const jti = `jti-retried-${Date.now()}`;
    const handle = await startRevocation(stack.client, { kind: 'jti', value: jti, issuer: stack.issuer, reason: 'retried plan', requester: 'cli:carol', taskQueue: stack.taskQueue, signStart: signer });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    expect(attempts).toContain('planAndContainToken#2');
    const planned = await entries(handle.workflowId, 'revocation.planned');
    expect(planned).toHaveLength(1);
    expect(planned[0]!.details).toMatchObject({ requesterVerified: true, requesterKey: kid });
    await stack.decide(handle, 'reject', 'cli:bob', 'test over');
    await handle.result();
  });
});
