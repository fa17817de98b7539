import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import type { ActivityExecuteInput, ActivityInterceptorsFactory } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReconciliation } from '../../agents/auditor/run-reconciliation.js';
import { startRevocation } from '../../client/revocations.js';
import { RESULT_BINDING_HEADER } from '../../workflows/result-binding.js';
import { eventually } from '../policy/support.js';
import { result, seedActiveKey } from '../rotation/support.js';
import { keyturnProcess } from '../support/cli.js';
import { deferred } from '../support/deferred.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

type Checked = { vote?: { decision?: string } };
/** A check as the history holds it: its input, the header it carried and its answer. */
type Seen = { workflowId: string; decision: string | undefined; input: ActivityExecuteInput; answer: unknown };
/**
 * What an outsider does with one check call: answer it with `answer`; hold it and answer with what
 * `hold` resolves to; or have the worker run it with other input and headers, and pass on the answer.
 */
type Play =
  | { answer: unknown }
  | { hold: (input: ActivityExecuteInput, taskToken: Uint8Array) => Promise<unknown> }
  | { run: (input: ActivityExecuteInput) => ActivityExecuteInput; then: (answer: unknown) => void };

const decisionOf = (answer: unknown): string | undefined => {
  const a = answer as Checked & { value?: Checked };
  return (a.value ?? a).vote?.decision;
};

/**
 * Someone who can answer activity tasks in the namespace, but holds no payload key, answers a sign-off
 * check with an encrypted result copied from another run, or has keyturn's own worker produce one for
 * this run's nonce (readable in the call's header) by scheduling a check elsewhere. The stand-in sits
 * outside the worker: it sees each check as the history holds it (decrypted here, re-encrypted on the
 * way back: the same plaintext, as a copy would carry) and can answer a call with any of them.
 */
describe('a sign-off check answered with a result that is not its own', () => {
  let stack: RotationStack;
  const seen: Seen[] = [];
  const plays = new Map<string, Play>();
  const outsider: ActivityInterceptorsFactory = (ctx) => ({
    inbound: {
      async execute(input, next) {
        const workflowId = ctx.info.workflowExecution?.workflowId ?? '';
        if (ctx.info.activityType !== 'checkDecision') return next(input);
        const play = plays.get(workflowId);
        if (play && 'answer' in play) return play.answer;
        if (play && 'hold' in play) return play.hold(input, ctx.info.taskToken);
        if (play && 'run' in play) {
          const answer = await next(play.run(input));
          play.then(answer);
          return answer;
        }
        const answer = await next(input);
        seen.push({ workflowId, decision: decisionOf(answer), input, answer });
        return answer;
      },
    },
  });
  const accepted = (handle: WorkflowHandle, decision: string): Seen => {
    const found = seen.find((s) => s.workflowId === handle.workflowId && s.decision === decision);
    if (!found) throw new Error(`no accepted ${decision} check seen for ${handle.workflowId}`);
    return found;
  };
  const entries = async (handle: WorkflowHandle, action: string): Promise<Array<Record<string, unknown>>> =>
    (await stack.pool.query<{ details: Record<string, unknown> }>(`SELECT details FROM audit_log WHERE action = $1 AND (actor ->> 'workflowId' = $2 OR subject ->> 'workflowId' = $2) ORDER BY seq`, [action, handle.workflowId])).rows.map((r) => r.details);
  let rolledBack: WorkflowHandle;
  let firstVictim: string | undefined;
  /** A rotation in its overlap, sent a rollback signal whose every check the outsider answers with the copied accepted rollback. */
  const inOverlapWithCopiedRollback = async (reason: string): Promise<WorkflowHandle> => {
    const handle = await stack.rotate(reason);
    await stack.decide(handle, 'approve', 'cli:alice');
    await stack.waitFor(handle, (s) => s.phase === 'overlap', 'the overlap');
    plays.set(handle.workflowId, { answer: accepted(rolledBack, 'rollback').answer });
    await handle.signal('rollback', { attestation: 'never checked' });
    return handle;
  };

  beforeAll(async () => {
    stack = await startRotationStack({ name: 'copied-result', issuer: { postRetireOverlap: '8s' }, outsideAnswers: [outsider] });
    await seedActiveKey(stack);
    rolledBack = await stack.rotate('the run whose rollback is copied');
    await stack.decide(rolledBack, 'approve', 'cli:alice');
    await stack.waitFor(rolledBack, (s) => s.phase === 'overlap', 'the overlap');
    await stack.decide(rolledBack, 'rollback', 'cli:bob', 'clients report 401s');
    if ((await result(rolledBack)).outcome !== 'rolled_back') throw new Error('the run to copy from did not roll back');
  }, 120_000);
  afterAll(() => stack?.stop());

  it('does not roll a rotation back on a rollback vote copied from another run', async () => {
    const handle = await inOverlapWithCopiedRollback('the run answered with the copy');
    firstVictim = handle.workflowId;
    await eventually(async () => (await entries(handle, 'signoff.check_unanswered')).length >= 1, 30_000);
    plays.delete(handle.workflowId);
    expect((await result(handle)).outcome).toBe('completed');
    expect(await entries(handle, 'signoff.check_unanswered')).toContainEqual(expect.objectContaining({ decision: 'rollback', unbound: true }));
  });

  it('keeps the previous key past the end of the overlap while a rollback signal received in time waits for its own check', async () => {
    const handle = await inOverlapWithCopiedRollback('the run whose rollback check is answered with copies past its overlap');
    // Checked at once, then 5 s and 15 s later (unanswered checks back off); the overlap ends after 8 s.
    await eventually(async () => (await entries(handle, 'signoff.check_unanswered')).length >= 3, 40_000);

    const held = await stack.status(handle);
    expect(Date.now()).toBeGreaterThan(Date.parse(held.deadlines.retireAt!));
    expect(held.phase).toBe('overlap');
    expect(await entries(handle, 'key.retire')).toEqual([]);
    // Each unanswered check has its own audit entry.
    expect((await entries(handle, 'signoff.check_unanswered')).map((d) => d.attempt)).toEqual([1, 2, 3]);
    plays.delete(handle.workflowId);
    // Its own check refuses the signal (no valid attestation); only then is the previous key retired.
    expect((await result(handle)).outcome).toBe('completed');
    expect(await entries(handle, 'approval.ignored')).toContainEqual(expect.objectContaining({ signal: 'rollback', refusal: expect.stringMatching(/^attestation:/) }));
  });

  it('rolls back rather than go on once the previous key has been held for the sign-off timeout with its rollback check never answered', async () => {
    const handle = await inOverlapWithCopiedRollback('the run whose rollback check is answered with copies until its hold ends');
    // The overlap ends after 8 s; the hold, 60 s (the stack's sign-off timeout) after that.
    const r = await result(handle);
    plays.delete(handle.workflowId);

    expect(r).toMatchObject({ outcome: 'rolled_back', reason: expect.stringContaining('got no answer of its own to its check within 60s') });
    expect(await entries(handle, 'key.retire')).toEqual([]);
    expect(await entries(handle, 'key.restore')).toHaveLength(1);
  }, 150_000);

  it('keyturn audit show flags the check that was answered with the copy', async () => {
    const shown = await keyturnProcess(stack, 'audit', 'show', firstVictim!, '--json');
    const report = JSON.parse(shown.stdout) as RunReconciliation;
    expect(shown.status).not.toBe(0);
    const flagged = report.rows.filter((row) => row.note?.includes('was not produced for this call'));
    expect(flagged.length).toBeGreaterThanOrEqual(1);
    expect(new Set(flagged.map((row) => row.history?.activityType))).toEqual(new Set(['checkDecision']));
  });

  it('does not count an approval copied from another run, and checks the signal again once the copies stop', async () => {
    const handle = await stack.rotate('approved with a copy');
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    plays.set(handle.workflowId, { answer: accepted(rolledBack, 'approve').answer });
    await handle.signal('approve', { attestation: 'never checked' });
    await eventually(async () => (await entries(handle, 'signoff.check_unanswered')).length >= 1, 30_000);
    expect((await stack.status(handle)).phase).toBe('awaiting_sign_off');
    plays.delete(handle.workflowId);
    // The signal was kept: checked again, its own check refuses it.
    await eventually(async () => (await entries(handle, 'approval.ignored')).length >= 1, 30_000);
    expect((await entries(handle, 'approval.ignored'))[0]).toMatchObject({ signal: 'approve', refusal: expect.stringMatching(/^attestation:/) });
    await stack.decide(handle, 'approve', 'cli:alice');
    const r = await result(handle);
    expect(r.outcome).toBe('completed');
    expect(r.approvals.map((v) => v.approver)).toEqual(['cli:alice']);
  });

  it('does not roll back on a result keyturn\'s worker produced for this run\'s nonce in a check scheduled by another run', async () => {
    const victim = await stack.rotate('the run whose nonce is borrowed');
    await stack.decide(victim, 'approve', 'cli:alice');
    await stack.waitFor(victim, (s) => s.phase === 'overlap', 'the overlap');
    const elsewhere = await startRevocation(stack.client, { kind: 'jti', value: `decoy-${randomUUID()}`, issuer: stack.issuer, reason: 'a run the outsider can signal', requester: 'cli:carol', taskQueue: stack.taskQueue });
    await stack.waitFor(elsewhere, (s) => s.phase === 'awaiting_sign_off', 'sign-off');

    // 1. The victim's check is held; its header shows the nonce.
    const header = deferred<Payload>();
    const borrowed = deferred<unknown>();
    plays.set(victim.workflowId, { hold: (input) => (header.resolve(input.headers[RESULT_BINDING_HEADER]!), borrowed.promise) });
    await victim.signal('rollback', { attestation: 'never checked' });
    const nonce = await header.promise;
    plays.delete(victim.workflowId);
    // 2. The other run's check is run by keyturn's worker with the copied rollback check's input and
    //    the victim's nonce; 3. the victim's call is answered with what the worker returned.
    const copied = accepted(rolledBack, 'rollback').input;
    plays.set(elsewhere.workflowId, { run: (input) => ({ ...input, args: copied.args, headers: { ...input.headers, [RESULT_BINDING_HEADER]: nonce } }), then: borrowed.resolve });
    await elsewhere.signal('approve', { attestation: 'never checked' });

    expect((await result(victim)).outcome).toBe('completed');
    expect(await entries(victim, 'signoff.check_unanswered')).toContainEqual(expect.objectContaining({ decision: 'rollback', unbound: true }));
    // The worker's check itself refused to vouch for a run other than the one that scheduled it.
    expect(await entries(elsewhere, 'approval.ignored')).toContainEqual(expect.objectContaining({ refusal: 'check-scheduled-by-another-run' }));
    await elsewhere.terminate('test over');
  });
});

describe('a sign-off check answered with a ciphertext copied byte for byte from another run\'s history', () => {
  it('is refused as a result for another call, and the run goes on: no rollback, the refusal audited', async () => {
    const stack = await startRotationStack({ name: 'copied-bytes', issuer: { postRetireOverlap: '8s' }, outsideAnswers: [holdVictim] });
    try {
      await seedActiveKey(stack);
      const source = await stack.rotate('the run whose rollback result is copied');
      await stack.decide(source, 'approve', 'cli:alice');
      await stack.waitFor(source, (s) => s.phase === 'overlap', 'the overlap');
      await stack.decide(source, 'rollback', 'cli:bob', 'clients report 401s');
      expect((await result(source)).outcome).toBe('rolled_back');
      const copy = await lastCheckResult(stack, source);

      const victim = await stack.rotate('the run answered with the copied bytes');
      await stack.decide(victim, 'approve', 'cli:alice');
      await stack.waitFor(victim, (s) => s.phase === 'overlap', 'the overlap');
      held.workflowId = victim.workflowId;
      await victim.signal('rollback', { attestation: 'never checked' });
      const taskToken = await held.token.promise;
      held.workflowId = undefined;
      await stack.client.workflowService.respondActivityTaskCompleted({ namespace: stack.namespace, taskToken, identity: 'someone with namespace access', result: { payloads: [copy] } });
      held.release();

      expect((await result(victim)).outcome).toBe('completed');
      const unanswered = await stack.pool.query<{ details: Record<string, unknown> }>(`SELECT details FROM audit_log WHERE action = 'signoff.check_unanswered' AND actor ->> 'workflowId' = $1`, [victim.workflowId]);
      expect(unanswered.rows.map((r) => r.details)).toContainEqual(expect.objectContaining({ decision: 'rollback', unbound: true }));
    } finally {
      held.release();
      await stack.stop();
    }
  });
});

/** Holds the check of `held.workflowId` (never answering it itself) and hands out its task token. */
const held = { workflowId: undefined as string | undefined, token: deferred<Uint8Array>(), release: () => {} };
const holdVictim: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      if (ctx.info.activityType !== 'checkDecision' || ctx.info.workflowExecution?.workflowId !== held.workflowId) return next(input);
      held.token.resolve(ctx.info.taskToken);
      await new Promise<void>((resolve) => (held.release = resolve));
      return undefined;
    },
  },
});

/** The newest sign-off check result of a run, as its history stores it (encrypted for that call). */
async function lastCheckResult(stack: RotationStack, handle: WorkflowHandle): Promise<Payload> {
  const events = (await stack.client.workflow.getHandle(handle.workflowId).fetchHistory()).events ?? [];
  const checks = new Set(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'checkDecision').map((e) => String(e.eventId)));
  const completed = events.filter((e) => e.activityTaskCompletedEventAttributes && checks.has(String(e.activityTaskCompletedEventAttributes.scheduledEventId)));
  const payload = completed.at(-1)?.activityTaskCompletedEventAttributes?.result?.payloads?.[0];
  if (!payload) throw new Error(`no completed check in ${handle.workflowId}`);
  return payload as Payload;
}
