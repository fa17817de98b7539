import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { doctorWorkflow } from '../../workflows/doctor.js';
import { startTestStack, type TestStack } from '../support/stack.js';

describe('foundation: real Temporal server, real worker, real PostgreSQL', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack('foundation');
  });
  afterAll(async () => stack?.stop());

  it('a workflow on the server has a worker write a row that the test reads back from PostgreSQL', async () => {
    const workflowId = `doctor-${Date.now()}`;
    const result = await stack.client.workflow.execute(doctorWorkflow, {
      workflowId,
      taskQueue: stack.taskQueue,
      args: ['hello from the foundation test'],
    });
    const row = await stack.pool.query('SELECT id::text, message FROM probe_runs WHERE workflow_id = $1', [workflowId]);
    expect(row.rows).toEqual([{ id: result.probeId, message: 'hello from the foundation test' }]);
  });

  it('the workflow is recorded as completed in the server history', async () => {
    const workflowId = `doctor-history-${Date.now()}`;
    await stack.client.workflow.execute(doctorWorkflow, { workflowId, taskQueue: stack.taskQueue, args: ['history'] });
    const description = await stack.client.workflow.getHandle(workflowId).describe();
    expect(description.status.name).toBe('COMPLETED');
  });
});
