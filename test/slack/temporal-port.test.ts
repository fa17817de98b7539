import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupAudit } from '../support/setup-audit.js';
import { createSlackChannelKey, createTemporalPort, loadSlackChannelKey } from '../../slack/temporal-port.js';
import type { KeyturnPort } from '../../slack/port.js';
import type { RunResult } from '../../workflows/types.js';
import { startRotationStack, type RotationStack, type RotationStackOptions } from '../support/rotation-stack.js';

/** A rotation stack whose approvers are in Slack, and the Slack app's Temporal port with a registered Slack key. */
async function slackPortStack(name: string, extra: { clock?: RotationStackOptions['clock'] } = {}): Promise<{ stack: RotationStack; port: KeyturnPort; stop: () => Promise<void> }> {
  const stack = await startRotationStack({
    name, ...extra,
    approvals: { approvers: ['U0ALICE', 'U0BOB'], quorum: 1, channels: ['slack'], slackChannel: 'C0APPROVE' },
  });
  const keyDir = mkdtempSync(join(tmpdir(), 'keyturn-slack-key-'));
  const keyFile = join(keyDir, 'slack-key.json');
  await createSlackChannelKey(stack.adminPool, keyFile, setupAudit);
  const port = createTemporalPort({ client: stack.client, namespace: stack.namespace, taskQueue: stack.taskQueue, channelKey: await loadSlackChannelKey({ KEYTURN_SLACK_KEY_FILE: keyFile }), db: stack.pool });
  return { stack, port, stop: async () => { await stack.stop(); rmSync(keyDir, { recursive: true, force: true }); } };
}

describe('Temporal port against the real rotation workflow', () => {
  let stack: RotationStack;
  let port: KeyturnPort;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ stack, port, stop } = await slackPortStack('slack-port'));
  });
  afterAll(() => stop?.());

  it('reads a waiting run, and a Slack approval it signs completes the rotation', async () => {
    const handle = await stack.rotate('slack port', 'cli:dave');
    const waiting = await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    const state = await port.runState(handle.workflowId);
    expect(state).toMatchObject({ workflowId: handle.workflowId, subject: stack.issuer, kind: 'rotation', phase: 'awaiting_sign_off', planHash: waiting.planHash, requester: 'cli:dave', decided: false });

    await port.decide({ workflowId: handle.workflowId, runId: state!.runId, planHash: state!.planHash!, decision: 'approve', approver: 'U0ALICE' });
    const result = (await handle.result()) as RunResult;
    expect(result.outcome).toBe('completed');
    expect(result.approvals).toEqual([expect.objectContaining({ approver: 'U0ALICE', channel: 'slack', decision: 'approve' })]);
    expect(await port.runState(handle.workflowId)).toMatchObject({ decided: true, phase: 'completed' });
  });

  it('starts a rotation and a revocation for a Slack user with the app key vouching for them in the start request', async () => {
    const planned = async (workflowId: string) =>
      (await stack.pool.query<{ details: Record<string, unknown> }>(`SELECT details FROM audit_log WHERE action LIKE '%.planned' AND actor ->> 'workflowId' = $1`, [workflowId])).rows[0]?.details;
    const rotation = await port.startRotation({ issuer: stack.issuer, reason: 'from slack', requester: 'U0CAROL' });
    await stack.waitFor(stack.client.workflow.getHandle(rotation.workflowId), (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    expect(await planned(rotation.workflowId)).toMatchObject({ requesterVerified: true, requesterChannel: 'slack' });
    const revocation = await port.revoke!({ kind: 'jti', value: `jti-slack-${Date.now()}`, issuer: stack.issuer, reason: 'leaked', requester: 'U0CAROL' });
    await stack.waitFor(stack.client.workflow.getHandle(revocation.workflowId), (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    expect(await planned(revocation.workflowId)).toMatchObject({ requesterVerified: true, requesterChannel: 'slack', requester: 'U0CAROL' });
    for (const run of [rotation, revocation]) {
      const handle = stack.client.workflow.getHandle(run.workflowId);
      await port.decide({ workflowId: run.workflowId, runId: run.runId, planHash: (await stack.status(handle)).planHash!, decision: 'reject', approver: 'U0ALICE', reason: 'test over' });
      await handle.result();
    }
  });

  it("refuses the approval of a run's own Slack requester, whom the app vouched for at the start", async () => {
    const run = await port.startRotation({ issuer: stack.issuer, reason: 'self-serve', requester: 'U0ALICE' });
    const handle = stack.client.workflow.getHandle(run.workflowId);
    const { planHash } = await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await port.decide({ workflowId: run.workflowId, runId: run.runId, planHash: planHash!, decision: 'approve', approver: 'U0ALICE' });
    const refusals = async () =>
      (await stack.pool.query<{ refusal: string }>(`SELECT details ->> 'refusal' AS refusal FROM audit_log WHERE action = 'approval.ignored' AND subject ->> 'workflowId' = $1`, [run.workflowId])).rows.map((r) => r.refusal);
    for (let i = 0; i < 100 && (await refusals()).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await refusals()).toEqual(['self-approval']);
    await port.decide({ workflowId: run.workflowId, runId: run.runId, planHash: planHash!, decision: 'reject', approver: 'U0BOB', reason: 'test over' });
    await handle.result();
  });

  it("lists a run to its issuer's approvers only, and shows one run only when it is of their issuers", async () => {
    const run = await port.startRotation({ issuer: stack.issuer, reason: 'status scope', requester: 'U0CAROL' });
    const handle = stack.client.workflow.getHandle(run.workflowId);
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    const listed = async (issuers: string[]) => (await port.status({ issuers })).map((r) => r.workflowId);
    // Visibility is eventually consistent: wait until the run is listed under its own issuer.
    for (let i = 0; i < 100 && !(await listed([stack.issuer])).includes(run.workflowId); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await listed([stack.issuer])).toContain(run.workflowId);
    expect(await listed(["https://other.example.test/it's", 'https://other.example.test/back\\slash\\'])).toEqual([]);
    expect(await listed([])).toEqual([]);
    expect(await port.status({ issuers: [stack.issuer], workflowId: run.workflowId })).toEqual([expect.objectContaining({ workflowId: run.workflowId, phase: 'awaiting_sign_off' })]);
    expect(await port.status({ issuers: ['https://other.example.test'], workflowId: run.workflowId })).toEqual([]);
    expect(await port.status({ issuers: [stack.issuer], workflowId: 'no-such-run' })).toEqual([]);
    await port.decide({ workflowId: run.workflowId, runId: run.runId, planHash: (await stack.status(handle)).planHash!, decision: 'reject', approver: 'U0ALICE', reason: 'test over' });
    await handle.result();
  });

  it('finds the issuers with unexpired tokens of a jti or a sub, for the revoke command\'s authorisation', async () => {
    const claims = JSON.parse(Buffer.from((await stack.token()).split('.')[1]!, 'base64url').toString()) as { jti: string; sub: string };
    expect(await port.tokenIssuers!('jti', claims.jti)).toEqual([stack.issuer]);
    expect(await port.tokenIssuers!('sub', claims.sub)).toContain(stack.issuer);
    expect(await port.tokenIssuers!('jti', 'no-such-jti')).toEqual([]);
  });

  it('finds the issuer of a signing key by its kid, and of no key for an unknown kid', async () => {
    const kid = (await stack.services.keyManager.activeKey(stack.issuer))!.kid;
    expect(await port.kidIssuer!(kid)).toBe(stack.issuer);
    expect(await port.kidIssuer!('no-such-kid')).toBeUndefined();
  });
});

describe('a Slack vote whose check runs after its attestation expired', () => {
  let stack: RotationStack;
  let port: KeyturnPort;
  let stop: (() => Promise<void>) | undefined;
  // The agents' clock runs 6 minutes ahead, as when a PostgreSQL outage held the check back that long.
  // A Slack vote is checked by the app at the click, so the worker judges its expiry at check time.
  beforeAll(async () => {
    ({ stack, port, stop } = await slackPortStack('slack-held', { clock: { now: () => new Date(Date.now() + 6 * 60_000) } }));
  });
  afterAll(() => stop?.());

  it('is refused as expired, although it was fresh when its signal arrived', async () => {
    const handle = await stack.rotate('held slack vote', 'cli:dave');
    const { planHash } = await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await port.decide({ workflowId: handle.workflowId, runId: (await handle.describe()).runId, planHash: planHash!, decision: 'approve', approver: 'U0ALICE' });
    const refusals = async () =>
      (await stack.pool.query<{ refusal: string }>(`SELECT details ->> 'refusal' AS refusal FROM audit_log WHERE action = 'approval.ignored' AND subject ->> 'workflowId' = $1`, [handle.workflowId])).rows.map((r) => r.refusal);
    for (let i = 0; i < 100 && (await refusals()).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await refusals()).toEqual(['attestation:expired']);
    expect((await stack.status(handle)).approvals).toEqual([]);
    await handle.terminate('test over');
  });
});
