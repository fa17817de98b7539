import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newStartNonce } from '../../agents/shared/run-starts.js';
import { revocationWorkflow, type RevocationResult } from '../../workflows/revocation.js';
import { rotationWorkflow } from '../../workflows/rotation.js';
import type { RotationInput } from '../../workflows/types.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';
import { result, seedActiveKey } from './support.js';

/**
 * A start request is encrypted, so someone with Temporal access cannot read or alter it, but could
 * copy it from a history and send it again under another id. Its one-time nonce stops the copy at
 * the run's first activity, before anything is planned, contained or changed.
 */
describe('a start request copied from a history', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'replayed-start' });
    await seedActiveKey(stack);
  });
  afterAll(() => stack?.stop());

  const entriesOf = async (workflowId: string) =>
    (await stack.pool.query<{ action: string }>(`SELECT action FROM audit_log WHERE actor ->> 'workflowId' = $1 ORDER BY seq`, [workflowId])).rows.map((r) => r.action);

  it('a rotation sent again under another id fails at planning with START_REPLAYED, and only its failure is audited', async () => {
    const input: RotationInput = { issuer: stack.issuer, reason: 'captured', requester: { kind: 'cli', id: 'cli:requester' }, planId: 'aaaaaaaaaaaa', startNonce: newStartNonce() };
    const first = await stack.client.workflow.start(rotationWorkflow, { workflowId: `rotate-first-${Date.now()}`, taskQueue: stack.taskQueue, args: [input] });
    await stack.waitFor(first, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(first, 'reject', 'cli:bob', 'not now');
    expect((await result(first)).outcome).toBe('rejected');

    const copy = await stack.client.workflow.start(rotationWorkflow, { workflowId: `rotate-copy-${Date.now()}`, taskQueue: stack.taskQueue, args: [input] });
    expect(await result(copy)).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('is used once') });
    // Only the run's own failure is audited: nothing planned, no key generated.
    expect(await entriesOf(copy.workflowId)).toEqual(['rotation.failed']);
  });

  it('a token revocation sent again contains nothing: only its failure is audited', async () => {
    const request = { kind: 'jti' as const, value: `jti-${Date.now()}`, issuer: stack.issuer, reason: 'leaked', requester: 'cli:requester', startNonce: newStartNonce() };
    const first = await stack.client.workflow.start(revocationWorkflow, { workflowId: `revoke-first-${Date.now()}`, taskQueue: stack.taskQueue, args: [request] });
    await stack.waitFor(first, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(first, 'reject', 'cli:bob', 'false alarm');
    await first.result();

    const copy = await stack.client.workflow.start(revocationWorkflow, { workflowId: `revoke-copy-${Date.now()}`, taskQueue: stack.taskQueue, args: [request] });
    expect(((await copy.result()) as RevocationResult)).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('is used once') });
    expect(await entriesOf(copy.workflowId)).toEqual(['revocation.failed']);
  });

  it('a token revocation refused at planning still uses its start: a copy fails as replayed', async () => {
    const request = { kind: 'jti' as const, value: `jti-${Date.now()}`, issuer: 'https://not-in-the-policy.example', reason: 'leaked', requester: 'cli:requester', startNonce: newStartNonce() };
    const first = await stack.client.workflow.start(revocationWorkflow, { workflowId: `revoke-refused-${Date.now()}`, taskQueue: stack.taskQueue, args: [request] });
    expect(((await first.result()) as RevocationResult)).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('not-in-the-policy') });

    const copy = await stack.client.workflow.start(revocationWorkflow, { workflowId: `revoke-refused-copy-${Date.now()}`, taskQueue: stack.taskQueue, args: [request] });
    expect(((await copy.result()) as RevocationResult)).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('is used once') });
  });

  it('a start request written by hand, without a nonce, fails at planning with START_NONCE_MISSING', async () => {
    const input: RotationInput = { issuer: stack.issuer, reason: 'by hand', requester: { kind: 'cli', id: 'cli:requester' }, planId: 'bbbbbbbbbbbb' };
    const handle = await stack.client.workflow.start(rotationWorkflow, { workflowId: `rotate-hand-${Date.now()}`, taskQueue: stack.taskQueue, args: [input] });
    expect(await result(handle)).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('without a dated start nonce') });
  });
});
