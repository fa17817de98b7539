import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import { stopChild } from '../../infra/process.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';
import { result, seedActiveKey, sleep } from './support.js';

/**
 * kill -9 of the worker process at each step of a rotation in turn. Every run must end completed
 * with exactly one new key, one active key, the old key retired and a JWKS holding only the new key.
 */
interface Step {
  step: string;
  /** Approve only once the worker is dead (the signal waits in the history for the next worker). */
  approveWhileDown?: boolean;
  reached: (stack: RotationStack, handle: WorkflowHandle, oldKid: string) => Promise<boolean>;
}

const keysOf = (stack: RotationStack) => stack.services.keyManager.listKeys({ issuer: stack.issuer });

const STEPS: Step[] = [
  { step: 'awaiting sign-off (approved while no worker runs)', approveWhileDown: true, reached: async (stack, handle) => (await stack.status(handle)).phase === 'awaiting_sign_off' },
  { step: 'after the new key is generated (pending, before the lead time ends)', reached: async (stack, _h, old) => (await keysOf(stack)).some((k) => k.kid !== old && k.state === 'pending') },
  { step: 'right after activation (before the canary)', reached: async (stack, _h, old) => (await keysOf(stack)).some((k) => k.kid !== old && k.state === 'active') },
  { step: 'during the overlap (old key retiring)', reached: async (stack, _h, old) => (await keysOf(stack)).some((k) => k.kid === old && k.state === 'retiring') },
];

function workerProcess(stack: RotationStack): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], { env: stack.workerProcessEnv(), stdio: ['ignore', 'ignore', 'ignore'] });
}

describe('a worker killed with SIGKILL at each step of a rotation', () => {
  let stack: RotationStack | undefined;
  let db: PolicyDb | undefined;
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) await stopChild(c, 5_000);
    await stack?.stop();
    await db?.drop();
    stack = undefined;
    db = undefined;
  });

  it.each(STEPS)('$step: the run completes with one new key and a consistent JWKS', async ({ step, approveWhileDown, reached }) => {
    // Worker processes serve the active policy of their database, as in production: one database per case.
    db = await policyDatabase();
    stack = await startRotationStack({ name: 'chaos', databaseUrl: db.url, policyFromStore: true, noWorker: true, issuer: { prePublishLead: '3s', postRetireOverlap: '8s' } });
    children.push(workerProcess(stack));
    const oldKid = await seedActiveKey(stack);
    const handle = await stack.rotate(`chaos: ${step}`);
    if (!approveWhileDown) await stack.decide(handle, 'approve', 'cli:alice');
    while (!(await reached(stack, handle, oldKid))) await sleep(10);
    // Signed while a worker can still answer the plan query; delivered once none runs.
    const attestation = approveWhileDown ? await stack.attest(handle, 'approve', 'cli:alice') : undefined;
    children[0]!.kill('SIGKILL');
    if (attestation) await handle.signal('approve', { attestation });
    children.push(workerProcess(stack));

    const r = await result(handle);
    const keys = await stack.services.keyManager.listKeys({ issuer: stack.issuer });
    expect(r.outcome).toBe('completed');
    expect(keys.filter((k) => k.kid !== oldKid)).toHaveLength(1);
    expect(keys.filter((k) => k.state === 'active').map((k) => k.kid)).toEqual([r.newKid]);
    expect(keys.find((k) => k.kid === oldKid)!.state).toBe('retired');
    expect(await stack.jwksKids()).toEqual([r.newKid]);
    // A new worker process must bundle the workflows and wait out the dead one's tasks: slow under a loaded CI.
  }, 180_000);
});
