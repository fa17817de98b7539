import { randomUUID } from 'node:crypto';
import proto from '@temporalio/proto';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRevocation } from '../../client/revocations.js';
import { namespaceExists, runStateIn } from '../../infra/temporal/run-state.js';
import { result, seedActiveKey } from '../rotation/support.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

const S = proto.temporal.api.enums.v1.WorkflowExecutionStatus;
/** A server that answers every describe with `status`, or fails it with gRPC `code`. */
const standIn = (answer: { status: number } | { code: number }) => ({
  withDeadline: <R>(_: number, fn: () => Promise<R>) => fn(),
  workflowService: {
    describeWorkflowExecution: () => ('status' in answer ? Promise.resolve({ workflowExecutionInfo: { status: answer.status } }) : Promise.reject(Object.assign(new Error(`gRPC ${answer.code}`), { code: answer.code }))),
    describeNamespace: () => Promise.reject(Object.assign(new Error('gRPC 5'), { code: 5 })),
  },
}) as never;
const anyRun = () => ({ workflowId: `rotate-${randomUUID()}`, runId: randomUUID() });

/** What the activity-call purge asks Temporal about each run with calls older than 400 days. */
describe('the state of a run, as the Temporal server reports it', () => {
  let stack: RotationStack;
  let connection: NativeConnection;
  let stateOf: ReturnType<typeof runStateIn>;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'runstate' });
    // The worker's own kind of connection.
    connection = await NativeConnection.connect({ address: stack.temporalAddress });
    stateOf = runStateIn(connection, stack.namespace);
    await seedActiveKey(stack);
  });
  afterAll(async () => {
    await connection?.close();
    await stack?.stop();
  });

  it('is open while the run waits for sign-off, and closed once it has ended', async () => {
    const handle = await stack.rotate();
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    const { runId } = await handle.describe();
    expect(await stateOf({ workflowId: handle.workflowId, runId })).toBe('open');
    await stack.decide(handle, 'reject', 'cli:alice', 'not now');
    await result(handle);
    expect(await stateOf({ workflowId: handle.workflowId, runId })).toBe('closed');
  });

  it("a key revocation's containment is held by its run, which reads open while it waits for sign-off", async () => {
    const kid = await seedActiveKey(stack);
    const handle = await startRevocation(stack.client, { kind: 'kid', value: kid, reason: 'key seen in a paste', requester: 'cli:carol', taskQueue: stack.taskQueue });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    const { runId } = await handle.describe();
    const holds = await stack.pool.query<{ workflow_id: string; run_id: string }>(
      `SELECT h.workflow_id, h.run_id FROM containment_holds h JOIN revocations r ON r.id = h.revocation_id WHERE r.kind = 'kid' AND r.value = $1 AND r.temporary`, [kid]);
    expect(holds.rows).toEqual([{ workflow_id: handle.workflowId, run_id: runId }]);
    expect(await stateOf({ workflowId: handle.workflowId, runId })).toBe('open');
    await stack.decide(handle, 'reject', 'cli:alice', 'false alarm');
    await handle.result();
    expect(await stateOf({ workflowId: handle.workflowId, runId })).toBe('closed');
  });

  it('is closed for a run the namespace does not know (gone with its retention)', async () => {
    expect(await stateOf(anyRun())).toBe('closed');
  });

  it('is asked of a namespace only once the namespace is known to exist', async () => {
    expect(await namespaceExists(connection, stack.namespace)).toBe(true);
    expect(await namespaceExists(connection, `no-such-namespace-${randomUUID()}`)).toBe(false);
  });

  it.each([
    ['COMPLETED', S.WORKFLOW_EXECUTION_STATUS_COMPLETED],
    ['FAILED', S.WORKFLOW_EXECUTION_STATUS_FAILED],
    ['CANCELED', S.WORKFLOW_EXECUTION_STATUS_CANCELED],
    ['TERMINATED', S.WORKFLOW_EXECUTION_STATUS_TERMINATED],
    ['CONTINUED_AS_NEW', S.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW],
    ['TIMED_OUT', S.WORKFLOW_EXECUTION_STATUS_TIMED_OUT],
  ])('is closed for a run whose status is %s', async (_, status) => {
    expect(await runStateIn(standIn({ status }), 'default')(anyRun())).toBe('closed');
  });

  it('is open for a paused run, which resumes', async () => {
    expect(await runStateIn(standIn({ status: S.WORKFLOW_EXECUTION_STATUS_PAUSED }), 'default')(anyRun())).toBe('open');
  });

  it('is unknown for a status keyturn does not know, so the run keeps its calls', async () => {
    expect(await runStateIn(standIn({ status: 99 }), 'default')(anyRun())).toBe('unknown');
  });

  it('is unknown when the server cannot be asked, so the run keeps its calls', async () => {
    expect(await runStateIn(standIn({ code: 14 }), 'default')(anyRun())).toBe('unknown');
  });
});
