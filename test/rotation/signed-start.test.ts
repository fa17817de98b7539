import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedStart, startSigner } from '../../agents/approvals/start-request.js';
import { newStartNonce } from '../../agents/shared/run-starts.js';
import { startPolicyChange } from '../../client/policy.js';
import { startRevocation } from '../../client/revocations.js';
import { runningRotations, startRotation } from '../../client/rotations.js';
import { ensureSchedules, handleFor, scheduleIdFor } from '../../client/schedules.js';
import { scheduledRotationWorkflow } from '../../workflows/scheduled-rotation.js';
import type { RevocationResult } from '../../workflows/revocation.js';
import { rotationWorkflow } from '../../workflows/rotation.js';
import type { RotationInput } from '../../workflows/types.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';
import { startRotationStack, type Approver, type RotationStack } from '../support/rotation-stack.js';
import { result } from './support.js';

/**
 * The sign-off gate refuses a requester's own approval, so the requester must be who they say.
 * A requester who signs the start request with their approver key is; with `requireSignedStart`
 * a run whose requester did not sign is refused at its first activity, before anything changes.
 */
describe('a policy that requires signed starts', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'signed-start', approvals: { requireSignedStart: true } });
  });
  afterAll(() => stack?.stop());

  const signedBy = (approver: Approver) => startSigner('cli', stack.approverKey(approver));
  const rotateAs = (approver: Approver, signer = signedBy(approver)) =>
    startRotation(stack.client, { issuer: stack.issuer, reason: 'signed', requester: { kind: 'cli', id: approver }, taskQueue: stack.taskQueue, signStart: signer });
  const entriesOf = async (workflowId: string) =>
    (await stack.pool.query<{ action: string; details: Record<string, unknown> }>(`SELECT action, details FROM audit_log WHERE actor ->> 'workflowId' = $1 ORDER BY seq`, [workflowId])).rows;
  const revocationEntries = async (jti: string) => (await stack.pool.query(`SELECT 1 FROM revocations WHERE kind = 'jti' AND value = $1`, [jti])).rowCount;

  it('plans a rotation its requester signed, and its plan records the key that vouched for them', async () => {
    const handle = await rotateAs('cli:alice');
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    const planned = (await entriesOf(handle.workflowId)).find((e) => e.action === 'rotation.planned');
    expect(planned?.details).toMatchObject({ requesterVerified: true, requesterKey: stack.approverKey('cli:alice').kid, requesterChannel: 'cli' });
    await stack.decide(handle, 'reject', 'cli:bob', 'test over');
    expect((await result(handle)).outcome).toBe('rejected');
  });

  it('refuses an unsigned rotation with START_UNSIGNED before anything is planned', async () => {
    const handle = await stack.rotate('unsigned', 'cli:alice');
    expect(await result(handle)).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('requires signed starts') });
    expect((await entriesOf(handle.workflowId)).map((e) => e.action)).toEqual(['rotation.failed']);
  });

  it("refuses a rotation naming bob as requester but signed with alice's key: she could otherwise approve it alone", async () => {
    const handle = await startRotation(stack.client, { issuer: stack.issuer, reason: 'forged', requester: { kind: 'cli', id: 'cli:bob' }, taskQueue: stack.taskQueue, signStart: signedBy('cli:alice') });
    expect(await result(handle)).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('requester-not-key-owner') });
    expect((await entriesOf(handle.workflowId)).map((e) => e.action)).toEqual(['rotation.failed']);
  });

  it("refuses bob's signed start copied onto another run", async () => {
    const workflowId = `rotate-signed-${Date.now()}`;
    const input: RotationInput = await signedStart(
      { issuer: stack.issuer, reason: 'signed', requester: { kind: 'cli' as const, id: 'cli:bob' }, planId: 'cccccccccccc', startNonce: newStartNonce() },
      { kind: 'rotation', workflowId, requester: 'cli:bob', signer: signedBy('cli:bob') },
    );
    const original = await stack.client.workflow.start(rotationWorkflow, { workflowId, taskQueue: stack.taskQueue, args: [input] });
    await stack.waitFor(original, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(original, 'reject', 'cli:alice', 'test over');
    await result(original);
    // What someone with Temporal access could do: send the same (encrypted) arguments under another
    // id. The same nonce is refused as replayed; a fresh one leaves the signature naming another run.
    const copy = await stack.client.workflow.start(rotationWorkflow, { workflowId: `${workflowId}-copy`, taskQueue: stack.taskQueue, args: [input] });
    expect(await result(copy)).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('is used once') });
    const renonced = await stack.client.workflow.start(rotationWorkflow, { workflowId: `${workflowId}-renonced`, taskQueue: stack.taskQueue, args: [{ ...input, startNonce: newStartNonce() }] });
    expect(await result(renonced)).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('other-run') });
    expect((await entriesOf(renonced.workflowId)).map((e) => e.action)).toEqual(['rotation.failed']);
  });

  it("refuses a rotation started by hand in the name of the issuer's schedule", async () => {
    const handle = await stack.client.workflow.start(rotationWorkflow, {
      workflowId: `rotate-fake-schedule-${Date.now()}`, taskQueue: stack.taskQueue,
      args: [{ issuer: stack.issuer, reason: 'scheduled rotation (every 90d)', requester: { kind: 'schedule', id: `schedule:${stack.issuer}` }, planId: 'dddddddddddd', startNonce: newStartNonce() }],
    });
    expect(await result(handle)).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('that schedule did not start it') });
  });

  it("refuses the rotation of a schedule's workflow started by hand, even one claiming the schedule's TemporalScheduledById", async () => {
    await ensureSchedules(stack.client, stack.policy, stack.taskQueue);
    try {
      const fake = await stack.client.workflow.start(scheduledRotationWorkflow, {
        workflowId: `${scheduleIdFor(stack.issuer)}-fake-${Date.now()}`, taskQueue: stack.taskQueue,
        args: [{ issuer: stack.issuer, reason: 'scheduled rotation (every 90d)' }],
        searchAttributes: { TemporalScheduledById: [scheduleIdFor(stack.issuer)] },
      });
      expect(await fake.result()).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('that schedule did not start it') });
    } finally {
      await handleFor(stack.client, stack.issuer).delete().catch(() => undefined);
    }
  });

  it("plans a rotation its issuer's schedule started, unsigned, as requested by nobody in particular", async () => {
    await ensureSchedules(stack.client, stack.policy, stack.taskQueue);
    try {
      await handleFor(stack.client, stack.issuer).trigger();
      let running: string[] = [];
      for (let i = 0; i < 100 && running.length === 0; i++) {
        running = await runningRotations(stack.client, stack.issuer);
        if (running.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
      const handle = stack.client.workflow.getHandle(running[0]!);
      await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
      expect((await entriesOf(handle.workflowId)).find((e) => e.action === 'rotation.planned')?.details).toMatchObject({ requesterVerified: false, requesterUnverifiedBecause: 'schedule' });
      await stack.decide(handle, 'reject', 'cli:bob', 'test over');
      await result(handle);
    } finally {
      await handleFor(stack.client, stack.issuer).delete().catch(() => undefined);
    }
  });

  it('contains a token revocation its requester signed, and its plan records who asked', async () => {
    const jti = `jti-signed-${Date.now()}`;
    const handle = await startRevocation(stack.client, { kind: 'jti', value: jti, issuer: stack.issuer, reason: 'leaked', requester: 'cli:alice', taskQueue: stack.taskQueue, signStart: signedBy('cli:alice') });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    expect(await revocationEntries(jti)).toBe(1);
    expect((await entriesOf(handle.workflowId)).find((e) => e.action === 'revocation.planned')?.details).toMatchObject({ requesterVerified: true, requester: 'cli:alice' });
    await stack.decide(handle, 'reject', 'cli:bob', 'false alarm');
    await handle.result();
  });

  it('refuses an unsigned key revocation at planning', async () => {
    const handle = await startRevocation(stack.client, { kind: 'kid', value: `kid-unsigned-${Date.now()}`, issuer: stack.issuer, reason: 'leaked', requester: 'cli:alice', taskQueue: stack.taskQueue });
    expect((await handle.result()) as RevocationResult).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('requires signed starts') });
    expect((await entriesOf(handle.workflowId)).map((e) => e.action)).toEqual(['revocation.failed']);
  });

  it('refuses an unsigned token revocation before anything is contained', async () => {
    const jti = `jti-unsigned-${Date.now()}`;
    const handle = await startRevocation(stack.client, { kind: 'jti', value: jti, issuer: stack.issuer, reason: 'leaked', requester: 'cli:alice', taskQueue: stack.taskQueue });
    expect((await handle.result()) as RevocationResult).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('requires signed starts') });
    expect(await revocationEntries(jti)).toBe(0);
  });

});

describe('a policy that does not require signed starts', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'unsigned-start' });
  });
  afterAll(() => stack?.stop());

  it('plans an unsigned rotation and records its requester as unverified', async () => {
    const handle = await stack.rotate('unsigned', 'cli:alice');
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    const { rows } = await stack.pool.query<{ details: Record<string, unknown> }>(`SELECT details FROM audit_log WHERE action = 'rotation.planned' AND actor ->> 'workflowId' = $1`, [handle.workflowId]);
    expect(rows[0]?.details).toMatchObject({ requesterVerified: false, requesterUnverifiedBecause: 'unsigned' });
    await stack.decide(handle, 'reject', 'cli:bob', 'test over');
    expect((await result(handle)).outcome).toBe('rejected');
  });

  it('still refuses a signed start whose signature does not hold', async () => {
    const handle = await startRotation(stack.client, { issuer: stack.issuer, reason: 'forged', requester: { kind: 'cli', id: 'cli:bob' }, taskQueue: stack.taskQueue, signStart: startSigner('cli', stack.approverKey('cli:alice')) });
    expect(await result(handle)).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('requester-not-key-owner') });
  });
});

describe('a policy change under a policy that requires signed starts', () => {
  let db: PolicyDb;
  let stack: RotationStack;
  beforeAll(async () => {
    db = await policyDatabase();
    stack = await startRotationStack({ name: 'signed-policy', databaseUrl: db.url, policyFromStore: true, approvals: { requireSignedStart: true } });
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });
  const proposal = () => readFileSync(stack.policyPath, 'utf8').replace(/escalationInterval: \S+/, 'escalationInterval: 20s');
  const proposedDetails = async (workflowId: string) =>
    (await stack.pool.query<{ details: Record<string, unknown> }>(`SELECT details FROM audit_log WHERE action = 'policy.proposed' AND actor ->> 'workflowId' = $1`, [workflowId])).rows[0]?.details;

  it('is proposed when its requester signed it, and the proposal records who asked', async () => {
    const handle = await startPolicyChange(stack.client, { text: proposal(), reason: 'signed change', requester: 'cli:alice', taskQueue: stack.taskQueue, signStart: startSigner('cli', stack.approverKey('cli:alice')) });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    expect(await proposedDetails(handle.workflowId)).toMatchObject({ requesterVerified: true, requesterKey: stack.approverKey('cli:alice').kid });
    await stack.decide(handle, 'reject', 'cli:bob', 'test over');
    expect(await handle.result()).toMatchObject({ outcome: 'rejected' });
  });

  it('is refused unsigned, before it is proposed', async () => {
    const handle = await startPolicyChange(stack.client, { text: proposal(), reason: 'unsigned change', requester: 'cli:alice', taskQueue: stack.taskQueue });
    expect(await handle.result()).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('requires signed starts') });
    expect(await proposedDetails(handle.workflowId)).toBeUndefined();
  });
});
