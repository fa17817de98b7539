import { spawnSync } from 'node:child_process';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureSchedules, handleFor, scheduleIdFor } from '../../client/schedules.js';
import { runningRotations } from '../../client/rotations.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';
import { result, sleep } from './support.js';

describe('scheduled rotation: one Temporal Schedule per issuer, managed from the CLI', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'schedule', issuer: { rotationPeriod: '7d' } });
    await ensureSchedules(stack.client, stack.policy, stack.taskQueue);
  });
  afterAll(async () => {
    await handleFor(stack.client, stack.issuer).delete().catch(() => undefined);
    await stack?.stop();
  });

  const keyturn = (...args: string[]) =>
    spawnSync(process.execPath, ['bin/keyturn.mjs', ...args], {
      encoding: 'utf8',
      env: { ...process.env, TEMPORAL_ADDRESS: stack.temporalAddress, TEMPORAL_NAMESPACE: stack.namespace, DATABASE_URL: stack.databaseUrl, KEYTURN_POLICY: stack.policyPath },
    });
  const describeSchedule = () => handleFor(stack.client, stack.issuer).describe();

  it("runs every rotationPeriod of the policy with overlap policy skip", async () => {
    const d = await describeSchedule();
    expect(d.scheduleId).toBe(scheduleIdFor(stack.issuer));
    expect(d.spec.intervals?.map((i) => i.every)).toEqual([7 * 24 * 3600 * 1000]);
    expect(d.policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);
  });

  it('is created idempotently: ensuring it again keeps one schedule and its paused state', async () => {
    await handleFor(stack.client, stack.issuer).pause('freeze');
    await ensureSchedules(stack.client, stack.policy, stack.taskQueue);
    expect((await describeSchedule()).state.paused).toBe(true);
    await handleFor(stack.client, stack.issuer).unpause();
  });

  it('`keyturn schedule pause` and `resume` pause and resume it, keeping the reason as its note', async () => {
    const paused = keyturn('schedule', 'pause', stack.issuer, '--reason', 'change freeze');
    expect(paused.status, paused.stderr).toBe(0);
    expect(await describeSchedule()).toMatchObject({ state: { paused: true, note: expect.stringContaining('change freeze') } });
    const list = keyturn('schedule', 'list', '--json');
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ issuer: stack.issuer, every: '7d', paused: true })]);
    expect(keyturn('schedule', 'resume', stack.issuer).status).toBe(0);
    expect((await describeSchedule()).state.paused).toBe(false);
  });

  it('`keyturn schedule trigger` starts an ordinary rotation run requested by the schedule; a second trigger is skipped while it is in flight', async () => {
    expect(keyturn('schedule', 'trigger', stack.issuer).status).toBe(0);
    let running: string[] = [];
    for (let i = 0; i < 100 && running.length === 0; i++) {
      running = await runningRotations(stack.client, stack.issuer);
      await sleep(100);
    }
    expect(running).toHaveLength(1);
    const handle = stack.client.workflow.getHandle(running[0]!);
    expect((await handle.describe()).searchAttributes.KeyturnRequester).toEqual([`schedule:${stack.issuer}`]);
    expect(keyturn('schedule', 'trigger', stack.issuer).status).toBe(0);
    await sleep(1_000);
    expect(await runningRotations(stack.client, stack.issuer)).toHaveLength(1);
    await stack.decide(handle, 'reject', 'cli:bob', 'not now');
    expect((await result(handle)).outcome).toBe('rejected');
  });

  it("the schedule's own run ends with its rotation's result (a display payload the worker read in its envelope)", async () => {
    const runs: string[] = [];
    for await (const w of stack.client.workflow.list({ query: `WorkflowType = 'scheduledRotationWorkflow' AND TaskQueue = '${stack.taskQueue}'` })) runs.push(w.workflowId);
    expect(runs.length).toBeGreaterThanOrEqual(1);
    const parent = await result(stack.client.workflow.getHandle(runs[0]!));
    expect(parent).toMatchObject({ outcome: 'rejected', reason: 'not now' });
  });

  it('an unknown issuer gets an error that says where schedules come from', () => {
    const r = keyturn('schedule', 'pause', 'https://nobody.example', '--reason', 'x');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('SCHEDULE_NOT_FOUND');
  });
});
