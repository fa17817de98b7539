import { randomUUID } from 'node:crypto';
import { Client, WorkflowFailedError } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRotation } from '../../client/rotations.js';
import { FAILURE_CONVERTER_PATH } from '../../infra/temporal/codec/data-converter.js';
import { EncryptionCodec } from '../../infra/temporal/codec/encryption-codec.js';
import { loadPayloadKeyring } from '../../infra/temporal/codec/keyring.js';
import type { RunReconciliation } from '../../agents/auditor/run-reconciliation.js';
import { eventually } from '../policy/support.js';
import { result, seedActiveKey } from '../rotation/support.js';
import { keyturnProcess } from '../support/cli.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

/** A client as keyturn's were before payload labels: its starts and signals name no place. */
function clientBeforeLabels(stack: RotationStack): Client {
  const codec = new EncryptionCodec(loadPayloadKeyring());
  const unlabelled: PayloadCodec = { encode: (ps) => codec.encode(ps), decode: (ps, context) => codec.decode(ps, context) };
  return new Client({ connection: stack.client.connection, namespace: stack.namespace, dataConverter: { payloadCodecs: [unlabelled], failureConverterPath: FAILURE_CONVERTER_PATH } });
}

describe('workflow payloads and payload labels', () => {
  let stack: RotationStack;
  let copiedStart: string | undefined;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'payload-labels' });
    await seedActiveKey(stack);
  }, 120_000);
  afterAll(() => stack?.stop());

  it('a run whose start and signals name no place (started before labels) is still read, and completes', async () => {
    const before = clientBeforeLabels(stack);
    const handle = await startRotation(before, { issuer: stack.issuer, reason: 'started before payload labels', requester: { kind: 'cli', id: 'cli:requester' }, taskQueue: stack.taskQueue });
    const sameRun = before.workflow.getHandle(handle.workflowId);
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await sameRun.signal('approve', { attestation: await stack.attest(handle, 'approve', 'cli:alice') });
    expect((await result(handle)).outcome).toBe('completed');
  });

  it('a run started with an activity\'s input copied from a history fails at once (PAYLOAD_OTHER_CALL), before anything is planned', async () => {
    const source = await stack.rotate('the run whose step input is copied');
    await stack.decide(source, 'approve', 'cli:alice');
    await result(source);
    const events = (await source.fetchHistory()).events ?? [];
    const stepInput = events.find((e) => e.activityTaskScheduledEventAttributes)!.activityTaskScheduledEventAttributes!.input;
    const workflowId = `rotate-copied-input-${randomUUID()}`;
    await stack.client.workflowService.startWorkflowExecution({
      namespace: stack.namespace, workflowId, workflowType: { name: 'rotationWorkflow' }, taskQueue: { name: stack.taskQueue },
      input: stepInput, requestId: randomUUID(), identity: 'someone with namespace access',
    });
    const failed = await stack.client.workflow.getHandle(workflowId).result().then(() => undefined, (e: unknown) => e);
    expect(failed).toBeInstanceOf(WorkflowFailedError);
    expect((failed as WorkflowFailedError).cause).toMatchObject({ type: 'PAYLOAD_OTHER_CALL', nonRetryable: true });
    const planned = await stack.pool.query(`SELECT seq FROM audit_log WHERE actor ->> 'workflowId' = $1`, [workflowId]);
    expect(planned.rowCount).toBe(0);
    copiedStart = workflowId;
  });

  it('keyturn audit show flags that run\'s start as encrypted for another place', async () => {
    const shown = await keyturnProcess(stack, 'audit', 'show', copiedStart!, '--json');
    expect(shown.status).not.toBe(0);
    const report = JSON.parse(shown.stdout) as RunReconciliation;
    expect(report.rows.filter((r) => r.status === 'mismatch')).toEqual([
      expect.objectContaining({ history: expect.objectContaining({ label: 'WorkflowExecutionStarted' }), note: expect.stringMatching(/^its input \(event 1\) was encrypted for another place/) }),
    ]);
  });

  it('a plaintext signal (a bare Temporal client) is refused by its check and audited, and the run still completes', async () => {
    const handle = await stack.rotate('signalled in plaintext');
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    const bare = new Client({ connection: stack.client.connection, namespace: stack.namespace });
    await bare.workflow.getHandle(handle.workflowId).signal('approve', { attestation: 'not encrypted' });
    await eventually(async () => ((await stack.pool.query(`SELECT seq FROM audit_log WHERE action = 'approval.ignored' AND actor ->> 'workflowId' = $1`, [handle.workflowId])).rowCount ?? 0) > 0, 30_000);
    await stack.decide(handle, 'approve', 'cli:alice');
    const r = await result(handle);
    expect(r.outcome).toBe('completed');
    expect(r.approvals.map((v) => v.approver)).toEqual(['cli:alice']);
  });

  it('keyturn audit show flags none of an honest run\'s payloads', async () => {
    const honest = await stack.rotate('an honest run');
    await stack.decide(honest, 'approve', 'cli:alice');
    await result(honest);
    const shown = await keyturnProcess(stack, 'audit', 'show', honest.workflowId, '--json');
    expect(shown.stderr).toBe('');
    expect(shown.status).toBe(0);
  });
});
