import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeApproverKey } from '../../cli/approver-key.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';
import { eventually } from '../policy/support.js';
import { result } from './support.js';

describe('keyturn approve from a terminal', () => {
  let stack: RotationStack;
  let keyFile: string;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'cli-approve' });
    keyFile = join(stack.dataDir, 'alice.key');
    await writeApproverKey(keyFile, { approver: 'cli:alice', ...stack.approverKey('cli:alice') });
  });
  afterAll(() => stack?.stop());

  // Asynchronous: the worker answering the CLI's queries runs in this process.
  const keyturn = (...args: string[]) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['bin/keyturn.mjs', ...args], { env: stack.workerProcessEnv() }, (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
    });

  it('refuses to sign when the run carries another plan than the one reviewed, and signs nothing', async () => {
    const handle = await stack.rotate();
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    const r = await keyturn('approve', handle.workflowId, '--key', keyFile, '--plan', '0123456789ab');
    expect([r.status, r.stderr]).toEqual([2, expect.stringContaining('PLAN_CHANGED')]);
    expect((await stack.status(handle)).approvals).toEqual([]);
    await stack.decide(handle, 'reject', 'cli:bob', 'test over');
    expect((await result(handle)).outcome).toBe('rejected');
  });

  it('says which run, plan and approver it signs for, and the approval counts', async () => {
    const handle = await stack.rotate();
    const { planHash } = await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    const r = await keyturn('approve', handle.workflowId, '--key', keyFile, '--plan', planHash!.slice(0, 12));
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`signing approve for run ${handle.workflowId}`);
    expect(r.stdout).toContain(`plan ${planHash!.slice(0, 12)}, as cli:alice`);
    expect((await result(handle)).outcome).toBe('completed');
  });

  it('a run started with an approver key names that approver as requester, signed with the key, so the same key cannot approve it', async () => {
    const started = await keyturn('rotate', '--issuer', stack.issuer, '--reason', 'self-serve', '--key', keyFile);
    const workflowId = /^run (\S+)$/m.exec(started.stdout)![1]!;
    const handle = stack.client.workflow.getHandle(workflowId);
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    expect((await keyturn('approve', workflowId, '--key', keyFile)).status).toBe(0);
    const refusals = async () =>
      (await stack.pool.query<{ refusal: string }>(`SELECT details ->> 'refusal' AS refusal FROM audit_log WHERE action = 'approval.ignored' AND subject ->> 'workflowId' = $1`, [workflowId])).rows.map((r) => r.refusal);
    await eventually(async () => (await refusals()).includes('self-approval'), 30_000);
    const planned = await stack.pool.query<{ details: Record<string, unknown> }>(`SELECT details FROM audit_log WHERE action = 'rotation.planned' AND actor ->> 'workflowId' = $1`, [workflowId]);
    expect(planned.rows[0]?.details).toMatchObject({ requesterVerified: true, requesterKey: stack.approverKey('cli:alice').kid });
    await stack.decide(handle, 'reject', 'cli:bob', 'test over');
    expect((await result(handle)).outcome).toBe('rejected');
  });

  it('names an unknown run RUN_NOT_FOUND', async () => {
    const r = await keyturn('status', 'rotate-no-such-run');
    expect([r.status, r.stderr]).toEqual([2, expect.stringContaining('RUN_NOT_FOUND')]);
  });
});
