import { randomUUID } from 'node:crypto';
import type { Payload } from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time.js';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCallId, parseCallId } from '../../workflows/call-ids.js';
import { EncryptionCodec } from '../../infra/temporal/codec/encryption-codec.js';
import { loadPayloadKeyring } from '../../infra/temporal/codec/keyring.js';
import type { RunReconciliation } from '../../agents/auditor/run-reconciliation.js';
import { eventually } from '../policy/support.js';
import { keyturnProcess } from '../support/cli.js';
import { result, seedActiveKey } from '../rotation/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const { CommandType } = temporal.api.enums.v1;

/**
 * Someone with access to the namespace but no payload key takes over a workflow id a finished
 * rotation used: they start a new run under it on a task queue no keyturn worker polls, answer its
 * workflow tasks themselves, and schedule the finished run's steps with the inputs copied byte for
 * byte from its history (inputs are encrypted for their activity id, so they copy the id too).
 */
describe('an activity call copied into another run', () => {
  let stack: RotationStack;
  let finished: { workflowId: string; runId: string; events: HistoryEvent[] };
  const hijacked: { otherRun?: string } = {};
  const history = async (workflowId: string, runId: string): Promise<HistoryEvent[]> =>
    (await stack.client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
  const scheduled = (type: string) => {
    const e = finished.events.find((x) => x.activityTaskScheduledEventAttributes?.activityType?.name === type);
    if (!e) throw new Error(`no ${type} call in the finished run`);
    return e.activityTaskScheduledEventAttributes!;
  };

  /** Starts a run under the finished run's workflow id and answers its first workflow task with `commands` (given its run id). */
  const hijack = async (commands: temporal.api.command.v1.ICommand[] | ((runId: string) => temporal.api.command.v1.ICommand[])): Promise<string> => {
    const taskQueue = `nobody-polls-${randomUUID()}`;
    const started: temporal.api.workflowservice.v1.IStartWorkflowExecutionResponse = await stack.client.workflowService.startWorkflowExecution({
      namespace: stack.namespace, workflowId: finished.workflowId, workflowType: { name: 'rotationWorkflow' }, taskQueue: { name: taskQueue },
      requestId: randomUUID(), identity: 'someone with namespace access', workflowRunTimeout: msToTs('2 minutes'),
    });
    const task = await stack.client.connection.withDeadline(Date.now() + 30_000, () => stack.client.workflowService.pollWorkflowTaskQueue({ namespace: stack.namespace, taskQueue: { name: taskQueue }, identity: 'someone with namespace access' }));
    await stack.client.workflowService.respondWorkflowTaskCompleted({ namespace: stack.namespace, taskToken: task.taskToken, identity: 'someone with namespace access', commands: typeof commands === 'function' ? commands(started.runId!) : commands });
    return started.runId!;
  };
  const copiedCall = (type: string, as: { activityType?: string; activityId?: string; input?: temporal.api.common.v1.IPayloads } = {}): temporal.api.command.v1.ICommand => {
    const call = scheduled(type);
    return {
      commandType: CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
      scheduleActivityTaskCommandAttributes: {
        activityId: as.activityId ?? call.activityId, activityType: { name: as.activityType ?? type }, taskQueue: { name: stack.taskQueue },
        input: as.input ?? call.input, header: call.header, startToCloseTimeout: msToTs('30 seconds'), retryPolicy: { maximumAttempts: 1 },
      },
    };
  };
  /**
   * The input of the finished run's `type` call written for another activity id, or as a history from
   * before payload labels would hold it: the test holds the payload key, so it can write either.
   */
  const olderInput = async (type: string, as: { activityId: string } | 'unlabelled'): Promise<temporal.api.common.v1.IPayloads> => {
    const call = scheduled(type);
    const codec = new EncryptionCodec(loadPayloadKeyring());
    const plain = await codec.decode(call.input!.payloads! as Payload[], { type: 'activity', namespace: stack.namespace, workflowId: finished.workflowId, activityId: call.activityId!, isLocal: false });
    const context = as === 'unlabelled' ? undefined : { type: 'activity' as const, namespace: stack.namespace, workflowId: finished.workflowId, activityId: as.activityId, isLocal: false };
    return { payloads: await codec.encode(plain, context) };
  };
  const failureOf = async (runId: string) => {
    let failed: temporal.api.failure.v1.IFailure | undefined;
    await eventually(async () => {
      failed = (await history(finished.workflowId, runId)).find((e) => e.activityTaskFailedEventAttributes)?.activityTaskFailedEventAttributes?.failure ?? undefined;
      return failed !== undefined;
    }, 30_000);
    await stack.client.workflow.getHandle(finished.workflowId, runId).terminate('test over');
    return failed!;
  };
  const auditedBy = async (runId: string) =>
    (await stack.pool.query(`SELECT seq FROM audit_log WHERE actor ->> 'runId' = $1`, [runId])).rowCount;

  beforeAll(async () => {
    stack = await startRotationStack({ name: 'run-bound-calls' });
    await seedActiveKey(stack);
    const handle = await stack.rotate('the run whose calls are copied');
    await stack.decide(handle, 'approve', 'cli:alice');
    expect((await result(handle)).outcome).toBe('completed');
    const { runId } = await handle.describe();
    finished = { workflowId: handle.workflowId, runId, events: await history(handle.workflowId, runId) };
  }, 120_000);
  afterAll(() => stack?.stop());

  it('names each call\'s type and run in its activity id', () => {
    const calls = finished.events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!);
    expect(calls.length).toBeGreaterThan(5);
    for (const c of calls) expect(parseCallId(c.activityId!)).toMatchObject({ activityType: c.activityType!.name, originalRunId: finished.runId });
  });

  it('is not run in a new run under the same workflow id: the worker refuses it (ACTIVITY_ID_OTHER_RUN)', async () => {
    const runId = await hijack([copiedCall('activateKey')]);
    const failure = await failureOf(runId);
    expect(failure.applicationFailureInfo?.type).toBe('ACTIVITY_ID_OTHER_RUN');
    expect(await auditedBy(runId)).toBe(0);
    hijacked.otherRun = runId;
  });

  it('keyturn audit show flags that call: its id names another run, and the worker refused it', async () => {
    const shown = await keyturnProcess(stack, 'audit', 'show', finished.workflowId, '--run-id', hijacked.otherRun!, '--json');
    expect(shown.status).not.toBe(0);
    const report = JSON.parse(shown.stdout) as RunReconciliation;
    const flagged = report.rows.filter((r) => r.status === 'mismatch');
    expect(flagged).toEqual([expect.objectContaining({ history: expect.objectContaining({ activityType: 'activateKey' }), note: expect.stringMatching(new RegExp(`names a call of run ${finished.runId}.*refused the task: its id or input was not written for it \\(ACTIVITY_ID_OTHER_RUN\\)`)) })]);
  });

  it('is not run as another activity type: the worker refuses it (ACTIVITY_ID_OTHER_CALL)', async () => {
    const runId = await hijack([copiedCall('activateKey', { activityType: 'retireKey' })]);
    const failure = await failureOf(runId);
    expect(failure.applicationFailureInfo?.type).toBe('ACTIVITY_ID_OTHER_CALL');
    expect(await auditedBy(runId)).toBe(0);
  });

  it('is not run under a plain id, as runs from before call ids scheduled, in a run started after the upgrade (ACTIVITY_ID_PLAIN)', async () => {
    const input = await olderInput('activateKey', { activityId: '3' });
    const runId = await hijack([copiedCall('activateKey', { activityId: '3', input })]);
    const failure = await failureOf(runId);
    expect(failure.applicationFailureInfo?.type).toBe('ACTIVITY_ID_PLAIN');
    expect(await auditedBy(runId)).toBe(0);
    const shown = await keyturnProcess(stack, 'audit', 'show', finished.workflowId, '--run-id', runId, '--json');
    const report = JSON.parse(shown.stdout) as RunReconciliation;
    expect(report.rows.filter((r) => r.status === 'mismatch').map((r) => r.note)).toEqual([expect.stringMatching(/plain id \(3\) was scheduled after the upgrade to call ids/)]);
  });

  it('is not run on an input from a history before payload labels, even under the run\'s own call id (PAYLOAD_UNLABELLED)', async () => {
    const input = await olderInput('activateKey', 'unlabelled');
    const runId = await hijack((ownRun) => [copiedCall('activateKey', { activityId: formatCallId({ activityType: 'activateKey', originalRunId: ownRun, seq: 1 }), input })]);
    const failure = await failureOf(runId);
    expect(failure.applicationFailureInfo?.type).toBe('PAYLOAD_UNLABELLED');
    expect(await auditedBy(runId)).toBe(0);
  });

  it('is not run a second time when the run schedules its id again after the call closed (ACTIVITY_CALL_REPEATED)', async () => {
    // The run's own call id, with an input written for it (the test holds the payload key): the
    // first scheduling runs (KeyManager refuses it: the key is already active); the same call
    // scheduled again, as someone answering the run's workflow tasks could, is refused unrun.
    const taskQueue = `nobody-polls-${randomUUID()}`;
    const identity = 'someone with namespace access';
    const started = await stack.client.workflowService.startWorkflowExecution({
      namespace: stack.namespace, workflowId: finished.workflowId, workflowType: { name: 'rotationWorkflow' }, taskQueue: { name: taskQueue },
      requestId: randomUUID(), identity, workflowRunTimeout: msToTs('2 minutes'),
    });
    const runId = started.runId!;
    const activityId = formatCallId({ activityType: 'activateKey', originalRunId: runId, seq: 1 });
    const input = await olderInput('activateKey', { activityId });
    const answer = async () => {
      const task = await stack.client.connection.withDeadline(Date.now() + 30_000, () => stack.client.workflowService.pollWorkflowTaskQueue({ namespace: stack.namespace, taskQueue: { name: taskQueue }, identity }));
      await stack.client.workflowService.respondWorkflowTaskCompleted({ namespace: stack.namespace, taskToken: task.taskToken, identity, commands: [copiedCall('activateKey', { activityId, input })] });
    };
    const failures = async () => (await history(finished.workflowId, runId)).flatMap((e) => (e.activityTaskFailedEventAttributes?.failure ? [e.activityTaskFailedEventAttributes.failure] : []));
    await answer();
    await eventually(async () => (await failures()).length === 1, 30_000);
    const auditedAfterFirst = await auditedBy(runId);
    await answer();
    await eventually(async () => (await failures()).length === 2, 30_000);
    await stack.client.workflow.getHandle(finished.workflowId, runId).terminate('test over');
    const [first, second] = await failures();
    expect(first!.applicationFailureInfo?.type).toBe('KEY_TRANSITION_FORBIDDEN');
    expect(second!.applicationFailureInfo?.type).toBe('ACTIVITY_CALL_REPEATED');
    expect(await auditedBy(runId)).toBe(auditedAfterFirst);
    const shown = await keyturnProcess(stack, 'audit', 'show', finished.workflowId, '--run-id', runId, '--json');
    expect(shown.status).not.toBe(0);
    const report = JSON.parse(shown.stdout) as RunReconciliation;
    expect(report.rows.filter((r) => r.status === 'mismatch').map((r) => r.note)).toEqual([expect.stringMatching(/was first scheduled at .*: the same call scheduled again after it closed.*the call had been scheduled before \(ACTIVITY_CALL_REPEATED\)/)]);
  });

  it('still runs in a run reset from the run it names: a reset keeps the original run id', async () => {
    const handle = await stack.rotate('the run that is reset');
    await stack.waitFor(handle, (st) => st.phase === 'awaiting_sign_off', 'sign-off');
    const { runId: baseRunId } = await handle.describe();
    const lastTask = (await history(handle.workflowId, baseRunId)).filter((e) => e.workflowTaskCompletedEventAttributes).at(-1)!;
    const { runId } = await stack.client.workflowService.resetWorkflowExecution({
      namespace: stack.namespace, workflowExecution: { workflowId: handle.workflowId, runId: baseRunId },
      workflowTaskFinishEventId: lastTask.eventId, requestId: randomUUID(), reason: 'operator reset in a test',
    });
    const reset = stack.client.workflow.getHandle(handle.workflowId, runId!);
    await stack.waitFor(reset, (st) => st.phase === 'awaiting_sign_off', 'sign-off after the reset');
    await stack.decide(reset, 'reject', 'cli:alice', 'not this week');
    expect((await result(reset)).outcome).toBe('rejected');
    const after = (await history(handle.workflowId, runId!)).filter((e) => Number(e.eventId) > Number(lastTask.eventId) && e.activityTaskScheduledEventAttributes);
    expect(after.length).toBeGreaterThan(0);
    for (const e of after) expect(parseCallId(e.activityTaskScheduledEventAttributes!.activityId!)?.originalRunId).toBe(baseRunId);
    const failed = (await history(handle.workflowId, runId!)).filter((e) => e.activityTaskFailedEventAttributes);
    expect(failed).toEqual([]);
  });
});
