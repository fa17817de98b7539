import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { APPROVERS, startRotationStack, type RotationStack } from '../support/rotation-stack.js';
import { result, seedActiveKey } from './support.js';

describe('the keyturn CLI drives a rotation end to end', () => {
  let stack: RotationStack;
  let keyFile: string;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'cli', approvals: { approvers: [...APPROVERS, 'cli:dave'] }, issuer: { postRetireOverlap: '8s' } });
    keyFile = join(stack.dataDir, 'dave.key');
    await seedActiveKey(stack);
  });
  afterAll(() => stack?.stop());

  /** Async on purpose: this process hosts the worker, which must keep answering the CLI's queries. */
  const keyturn = (...argsAndEnv: Array<string | NodeJS.ProcessEnv>) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      const args = argsAndEnv.filter((a): a is string => typeof a === 'string');
      const extraEnv = argsAndEnv.find((a): a is NodeJS.ProcessEnv => typeof a !== 'string');
      execFile(process.execPath, ['bin/keyturn.mjs', ...args], { env: {
        ...process.env,
        ...extraEnv,
        TEMPORAL_ADDRESS: stack.temporalAddress, TEMPORAL_NAMESPACE: stack.namespace, DATABASE_URL: stack.databaseUrl,
        KEYTURN_POLICY: stack.policyPath, KEYTURN_TASK_QUEUE: stack.taskQueue, KEYTURN_TEMPORAL_UI_URL: inject('temporalUiUrl') || 'http://127.0.0.1:8233',
      } }, (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
    });

  it('`approvers add-cli-key` writes a 0600 key file and `rotate` prints the run id and its Web UI link', async () => {
    const add = await keyturn('approvers', 'add-cli-key', 'cli:dave', '--out', keyFile, { KEYTURN_DB_ADMIN_URL: stack.databaseUrl });
    expect(add.status, add.stderr).toBe(0);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const rotate = await keyturn('rotate', '--issuer', stack.issuer, '--reason', 'cli drill');
    expect(rotate.status, rotate.stderr).toBe(0);
    const run = /^run (\S+)$/m.exec(rotate.stdout)?.[1];
    expect(run).toMatch(/^rotate-localhost-cli-/);
    expect(rotate.stdout).toMatch(new RegExp(`^web ui http://\\S+/namespaces/${stack.namespace}/workflows/${run}$`, 'm'));

    const handle = stack.client.workflow.getHandle(run!);
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    const status = await keyturn('status', run!);
    expect(status.stdout, status.stderr).toMatch(/phase\s+awaiting_sign_off/);

    const approve = await keyturn('approve', run!, '--key', keyFile);
    expect(approve.status, approve.stderr).toBe(0);
    await stack.waitFor(handle, (s) => s.phase === 'overlap', 'the overlap');
    const rollback = await keyturn('rollback', run!, '--key', keyFile, '--reason', 'drill: roll back');
    expect(rollback.status, rollback.stderr).toBe(0);
    expect(await result(handle)).toMatchObject({ outcome: 'rolled_back', approvals: [expect.objectContaining({ approver: 'cli:dave' })] });
  });

  it('`reject` without --reason is refused before anything is sent', async () => {
    const r = await keyturn('reject', 'rotate-anything', '--key', keyFile);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('REASON_REQUIRED');
  });
});
