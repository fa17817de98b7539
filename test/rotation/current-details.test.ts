import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';
import { result } from './support.js';

/** What the Web UI's User Metadata tab shows: the SDK's metadata query, answered in clear. */
const currentDetails = async (handle: WorkflowHandle) => (await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata')).currentDetails;

describe("a run's current details while it waits for a quorum of 2", () => {
  let stack: RotationStack;
  let handle: WorkflowHandle;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'details', approvals: { quorum: 2 } });
    handle = await stack.rotate('current details');
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off' && s.deadlines.approval !== undefined, 'the sign-off wait');
  });
  afterAll(() => stack?.stop());

  it('name the phase, the plan hash and the sign-off deadline before anyone votes', async () => {
    const status = await stack.status(handle);
    const details = await currentDetails(handle);
    expect(details).toMatch(/^\*\*Phase:\*\* awaiting_sign_off\n\n/);
    expect(details).toContain(`**Plan hash:** ${status.planHash}`);
    expect(details).toContain(`**Deadlines:** sign-off by ${status.deadlines.approval}`);
    expect(details).toContain('**Approvals:** none yet (quorum 2)');
  });

  it('list the approvals counted so far as each one arrives', async () => {
    await stack.decide(handle, 'approve', 'cli:alice');
    await stack.waitFor(handle, (s) => s.approvals.length === 1, 'the first approval');
    expect(await currentDetails(handle)).toContain('**Approvals:** cli:alice (approve) (quorum 2)');
  });

  it('end with the outcome phase and every vote', async () => {
    await stack.decide(handle, 'reject', 'cli:bob', 'not this week');
    expect((await result(handle)).outcome).toBe('rejected');
    const details = await currentDetails(handle);
    expect(details).toMatch(/^\*\*Phase:\*\* rejected\n\nnot this week\n\n/);
    expect(details).toContain('**Approvals:** cli:alice (approve), cli:bob (reject) (quorum 2)');
  });
});
