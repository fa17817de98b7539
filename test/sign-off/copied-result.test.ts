import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReconciliation } from '../../agents/auditor/run-reconciliation.js';
import { result, seedActiveKey } from '../rotation/support.js';
import { keyturnProcess } from '../support/cli.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

type Answer = { workflowId: string; decision: string | undefined; answer: unknown };
type Checked = { vote?: { decision?: string } };
/** The accepted decision of a check's answer, bound (the result inside) or not (histories from before the binding). */
const decisionOf = (answer: unknown): string | undefined => {
  const a = answer as Checked & { value?: Checked };
  return (a.value ?? a).vote?.decision;
};

/**
 * Someone who can answer activity tasks in the namespace, but holds no payload key, answers a sign-off
 * check with a whole encrypted result copied from another run's history. The stand-in sits outside
 * the worker: it sees each result as the history holds it (decrypted here, re-encrypted on the way
 * back: the same plaintext, as a copy would carry) and can answer a task with any of them.
 */
describe('a sign-off check answered with a result copied from another run', () => {
  let stack: RotationStack;
  const seen: Answer[] = [];
  let copy: { workflowId: string; answer: unknown } | undefined;
  const outsider: ActivityInterceptorsFactory = (ctx) => ({
    inbound: {
      async execute(input, next) {
        const workflowId = ctx.info.workflowExecution?.workflowId ?? '';
        if (ctx.info.activityType !== 'checkDecision') return next(input);
        if (copy?.workflowId === workflowId) return copy.answer;
        const answer = await next(input);
        seen.push({ workflowId, decision: decisionOf(answer), answer });
        return answer;
      },
    },
  });
  const acceptedAnswer = (handle: WorkflowHandle, decision: string): unknown => {
    const found = seen.find((s) => s.workflowId === handle.workflowId && s.decision === decision);
    if (!found) throw new Error(`no accepted ${decision} check seen for ${handle.workflowId}`);
    return found.answer;
  };
  const unboundEntries = async (handle: WorkflowHandle): Promise<number> =>
    (await stack.pool.query(`SELECT 1 FROM audit_log WHERE action = 'signoff.check_unbound' AND actor ->> 'workflowId' = $1`, [handle.workflowId])).rowCount ?? 0;
  const until = async (what: string, ok: () => Promise<boolean>): Promise<void> => {
    for (let i = 0; i < 200; i++) {
      if (await ok()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  beforeAll(async () => {
    stack = await startRotationStack({ name: 'copied-result', issuer: { postRetireOverlap: '8s' }, outsideAnswers: [outsider] });
  });
  afterAll(() => stack?.stop());

  it('does not roll a rotation back on a rollback vote copied from another run', async () => {
    await seedActiveKey(stack);
    const rolledBack = await stack.rotate('the run whose rollback is copied');
    await stack.decide(rolledBack, 'approve', 'cli:alice');
    await stack.waitFor(rolledBack, (s) => s.phase === 'overlap', 'the overlap');
    await stack.decide(rolledBack, 'rollback', 'cli:bob', 'clients report 401s');
    expect((await result(rolledBack)).outcome).toBe('rolled_back');

    const handle = await stack.rotate('the run answered with the copy');
    await stack.decide(handle, 'approve', 'cli:alice');
    await stack.waitFor(handle, (s) => s.phase === 'overlap', 'the overlap');
    copy = { workflowId: handle.workflowId, answer: acceptedAnswer(rolledBack, 'rollback') };
    await handle.signal('rollback', { attestation: 'never checked' });
    const r = await result(handle);
    expect(r.outcome).toBe('completed');
    expect(await unboundEntries(handle)).toBe(1);
  });

  it('keyturn audit show flags the check that was answered with the copy', async () => {
    const shown = await keyturnProcess(stack, 'audit', 'show', copy!.workflowId, '--json');
    const report = JSON.parse(shown.stdout) as RunReconciliation;
    expect(shown.status).not.toBe(0);
    const flagged = report.rows.filter((row) => row.note?.includes('was not produced for this call'));
    expect(flagged.map((row) => row.history?.activityType)).toEqual(['checkDecision']);
  });

  it('does not count an approval copied from another run, and an honest approval after it still does', async () => {
    const approved = seen.find((s) => s.decision === 'approve')!;
    const handle = await stack.rotate('approved with a copy');
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    copy = { workflowId: handle.workflowId, answer: approved.answer };
    await handle.signal('approve', { attestation: 'never checked' });
    await until('the refusal of the copied check', async () => (await unboundEntries(handle)) === 1);
    expect((await stack.status(handle)).phase).toBe('awaiting_sign_off');
    copy = undefined;
    await stack.decide(handle, 'approve', 'cli:alice');
    const r = await result(handle);
    expect(r.outcome).toBe('completed');
    expect(r.approvals.map((v) => v.approver)).toEqual(['cli:alice']);
  });
});
