import { randomUUID } from 'node:crypto';
import { Client, type WorkflowHandle } from '@temporalio/client';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../activities/notifier.js';
import type { RunReconciliation } from '../../agents/auditor/run-reconciliation.js';
import { startRevocation } from '../../client/revocations.js';
import type { RevocationResult } from '../../workflows/revocation.js';
import { eventually } from '../policy/support.js';
import { result, sleep } from '../rotation/support.js';
import { keyturnProcess } from '../support/cli.js';
import { deferred } from '../support/deferred.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';

/**
 * Anyone allowed to signal in the namespace can send `temporal workflow signal --name approve` in a
 * loop: the worker's codec hands each plaintext payload on only as a refusal, so the run sees an
 * empty attestation. Such a flood must not keep a sign-off gate open past its deadline, hold back its
 * reminders, let a vote sent after the deadline count, or write one audit entry per signal. The checks
 * are held by an activity interceptor where a test needs a signal's check to run past a point in time;
 * the deadline itself is the policy's, waited for on the clock the workflow also reads.
 */
const ORDER: string[] = [];
const held = new Map<string, { entered: ReturnType<typeof deferred<void>>; release: ReturnType<typeof deferred<void>> }>();
/** The next check of `workflowId` waits for `release()`; `entered` resolves once it runs. */
const holdNextCheck = (workflowId: string) => {
  const hold = { entered: deferred(), release: deferred() };
  held.set(workflowId, hold);
  return { entered: hold.entered.promise, release: () => hold.release.resolve() };
};
const checks: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const workflowId = ctx.info.workflowExecution?.workflowId ?? '';
      if (ctx.info.activityType !== 'checkDecision') return next(input);
      ORDER.push(`${workflowId} check`);
      const hold = held.get(workflowId);
      if (hold) {
        held.delete(workflowId);
        hold.entered.resolve();
        await hold.release.promise;
      }
      return next(input);
    },
  },
});
const notices = () => ({ notify: async (e: RunEvent) => void ORDER.push(`${e.workflowId} ${e.type}`) });

/** What a bare `temporal workflow signal` sends: a plaintext payload, no payload key. */
const bareSignal = (stack: RotationStack, handle: WorkflowHandle, name = 'approve') =>
  new Client({ connection: stack.client.connection, namespace: stack.namespace }).workflow.getHandle(handle.workflowId).signal(name, { attestation: 'not encrypted' });

const entries = async (stack: RotationStack, handle: WorkflowHandle, action: string) =>
  (await stack.pool.query<{ details: Record<string, unknown> }>(`SELECT details FROM audit_log WHERE action = $1 AND (actor ->> 'workflowId' = $2 OR subject ->> 'workflowId' = $2) ORDER BY seq`, [action, handle.workflowId])).rows.map((r) => r.details);

const checksScheduled = async (handle: WorkflowHandle) =>
  (await handle.fetchHistory()).events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'checkDecision').length;

/** Until the clock the workflow reads is past `iso`. */
async function past(iso: string): Promise<void> {
  while (Date.now() <= Date.parse(iso)) await sleep(50);
}

describe('a sign-off gate flooded with decision signals, around its deadline', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'flood-deadline', approvals: { timeout: '8s', escalationInterval: '3s' }, activityInterceptors: [checks], notifier: notices });
  });
  afterAll(() => stack?.stop());

  const awaitingSignOff = async () => {
    const handle = await stack.rotate('flooded');
    const s = await stack.waitFor(handle, (x) => x.phase === 'awaiting_sign_off' && x.deadlines.approval !== undefined, 'sign-off');
    return { handle, deadline: s.deadlines.approval! };
  };

  it('signals received after the deadline are not checked, not even a genuine approval: the gate expires and the run records them unchecked', async () => {
    const { handle, deadline } = await awaitingSignOff();
    const check = holdNextCheck(handle.workflowId);
    await bareSignal(stack, handle);
    await check.entered;
    await past(deadline);
    for (let i = 0; i < 30; i++) await bareSignal(stack, handle);
    await stack.decide(handle, 'approve', 'cli:alice');
    check.release();

    const r = await result(handle);
    expect(r.outcome).toBe('expired');
    expect(r.approvals).toEqual([]);
    expect(await entries(stack, handle, 'approval.approve')).toEqual([]);
    // Only the signal received in time was checked.
    const ignored = await entries(stack, handle, 'approval.ignored');
    expect(ignored).toEqual([expect.objectContaining({ refusal: 'attestation:malformed' })]);
    expect(Date.parse(ignored[0]!.signalReceivedAt as string)).toBeLessThanOrEqual(Date.parse(deadline));
    expect(await checksScheduled(handle)).toBe(1);
    expect(await entries(stack, handle, 'signoff.signals_unhandled')).toEqual([expect.objectContaining({ runOutcome: 'expired', count: 31, counts: { approve: 31, reject: 0, rollback: 0 } })]);
  });

  it('a genuine approval received before the deadline counts, although its check runs after it', async () => {
    const { handle, deadline } = await awaitingSignOff();
    const check = holdNextCheck(handle.workflowId);
    await bareSignal(stack, handle);
    await check.entered;
    await stack.decide(handle, 'approve', 'cli:alice');
    await past(deadline);
    check.release();

    const r = await result(handle);
    expect(r.outcome).toBe('completed');
    expect(r.approvals.map((v) => v.approver)).toEqual(['cli:alice']);
    const [approved, ...more] = await entries(stack, handle, 'approval.approve');
    expect(more).toEqual([]);
    expect(Date.parse(approved!.signalReceivedAt as string)).toBeLessThanOrEqual(Date.parse(deadline));
  });

  it('a reminder that falls due while signals wait for their checks is sent before they are checked', async () => {
    const { handle, deadline } = await awaitingSignOff();
    const firstReminder = new Date(Date.parse(deadline) - 8_000 + 3_000).toISOString();
    const check = holdNextCheck(handle.workflowId);
    await bareSignal(stack, handle);
    await check.entered;
    await past(firstReminder);
    for (let i = 0; i < 5; i++) await bareSignal(stack, handle);
    check.release();

    expect((await result(handle)).outcome).toBe('expired');
    const mine = ORDER.filter((x) => x.startsWith(`${handle.workflowId} `)).map((x) => x.slice(handle.workflowId.length + 1));
    const held = mine.indexOf('check');
    expect(mine.slice(held, held + 3)).toEqual(['check', expect.stringMatching(/^signoff\.(reminder|escalated)$/), 'check']);
  });

  it('a revocation holding past its deadline escalates before it checks the signals that kept coming, and still checks them all', async () => {
    const handle = await startRevocation(stack.client, { kind: 'jti', value: `flood-${randomUUID()}`, issuer: stack.issuer, reason: 'leaked token', requester: 'cli:requester', taskQueue: stack.taskQueue });
    const { deadlines } = await stack.waitFor(handle, (x) => x.phase === 'awaiting_sign_off' && x.deadlines.approval !== undefined, 'sign-off');
    const check = holdNextCheck(handle.workflowId);
    await bareSignal(stack, handle);
    await check.entered;
    await past(deadlines.approval!);
    for (let i = 0; i < 5; i++) await bareSignal(stack, handle);
    check.release();
    await eventually(async () => (await entries(stack, handle, 'approval.ignored')).length === 6, 30_000);
    await stack.decide(handle, 'reject', 'cli:bob', 'test over');

    expect(((await handle.result()) as RevocationResult).outcome).toBe('false_alarm');
    const mine = ORDER.filter((x) => x.startsWith(`${handle.workflowId} `)).map((x) => x.slice(handle.workflowId.length + 1));
    const held = mine.indexOf('check');
    expect(mine.slice(held, held + 3)).toEqual(['check', 'signoff.escalated', 'check']);
  });
});

describe('a burst of refused decision signals', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'flood-budget' });
  });
  afterAll(() => stack?.stop());

  it('writes 20 approval.ignored entries of their own and one counting the rest, checks only those that could be attestations, and a genuine approval after them counts', async () => {
    const handle = await stack.rotate('flooded', 'cli:carol');
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    for (let i = 0; i < 60; i++) await bareSignal(stack, handle, i % 3 === 0 ? 'reject' : 'approve');
    // Attested, but the requester's own: each is checked, and refused without an entry of its own.
    for (let i = 0; i < 3; i++) await stack.decide(handle, 'approve', 'cli:carol');
    await stack.decide(handle, 'approve', 'cli:alice');

    const r = await result(handle);
    expect(r.outcome).toBe('completed');
    expect(r.approvals.map((v) => v.approver)).toEqual(['cli:alice']);
    const ignored = await entries(stack, handle, 'approval.ignored');
    const own = ignored.filter((d) => d.refusal !== 'audit-budget-exceeded');
    const summaries = ignored.filter((d) => d.refusal === 'audit-budget-exceeded');
    expect(own).toHaveLength(20);
    expect(own.every((d) => d.refusal === 'attestation:malformed')).toBe(true);
    expect(summaries).toEqual([expect.objectContaining({
      suppressed: 43,
      // Of the 60 bare signals every third was a reject: 7 of the first 20, 13 of the other 40.
      bySignal: { approve: 27 + 3, reject: 13, rollback: 0 },
      byRefusal: { 'attestation:malformed': 40, 'self-approval': 3 },
      approvers: { 'cli:carol (cli)': 3 },
    })]);
    // The first 20 and every attested signal were checked; the malformed ones past the budget were not.
    expect(await checksScheduled(handle)).toBe(20 + 3 + 1);

    // `keyturn audit show` flags the plaintext signals (written by someone without the payload key),
    // nothing else: every check and the summary pair with their entries, the unwritten refusals included.
    const shown = await keyturnProcess(stack, 'audit', 'show', handle.workflowId, '--json');
    const report = JSON.parse(shown.stdout) as RunReconciliation;
    const flagged = report.rows.filter((x) => x.status !== 'paired' && x.status !== 'info');
    expect(flagged).toHaveLength(60);
    expect(flagged.every((x) => x.history?.kind === 'signal' && /not written by keyturn/.test(x.note ?? ''))).toBe(true);
    const checkRows = report.rows.filter((x) => x.history?.activityType === 'checkDecision');
    expect(checkRows.map((x) => x.status).sort()).toEqual([...Array<string>(3).fill('info'), ...Array<string>(21).fill('paired')]);
    expect(report.rows.filter((x) => x.audit.some((a) => a.action === 'approval.ignored') && x.history?.activityType === 'recordHandoff')).toHaveLength(1);
  });
});
