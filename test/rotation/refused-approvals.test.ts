import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPolicyChange } from '../../client/policy.js';
import { policyDatabase, type PolicyDb } from '../policy/support.js';
import { signRawAttestation } from '../support/raw-attestation.js';
import { startRotationStack, type RotationStack } from '../support/rotation-stack.js';
import { result, sleep } from './support.js';

async function ignoredRefusals(stack: RotationStack, workflowId: string, count: number): Promise<string[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { rows } = await stack.pool.query<{ refusal: string }>(
      `SELECT details ->> 'refusal' AS refusal FROM audit_log WHERE action = 'approval.ignored' AND subject ->> 'workflowId' = $1 ORDER BY seq`,
      [workflowId],
    );
    if (rows.length >= count || Date.now() > deadline) return rows.map((r) => r.refusal);
    await sleep(100);
  }
}

describe('decision signals that must not count', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'refused' });
  });
  afterAll(() => stack?.stop());

  it('a signal without an attestation, as `temporal workflow signal` would send, is ignored and audited', async () => {
    const handle = await stack.rotate();
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await handle.signal('approve', {} as { attestation: string });
    await handle.signal('approve', { attestation: 'eyJhbGciOiJub25lIn0.e30.' });
    expect(await ignoredRefusals(stack, handle.workflowId, 2)).toEqual([expect.stringMatching(/^attestation:/), expect.stringMatching(/^attestation:/)]);
    expect((await stack.status(handle)).phase).toBe('awaiting_sign_off');
    expect((await stack.status(handle)).approvals).toEqual([]);
    await stack.decide(handle, 'reject', 'cli:bob', 'test over');
    expect((await result(handle)).outcome).toBe('rejected');
  });

  it('an attestation bound to another run, or to another plan hash, is ignored', async () => {
    const handle = await stack.rotate();
    const otherRun = await stack.attest(handle, 'approve', 'cli:alice', { runId: '00000000-0000-4000-8000-000000000000' });
    const otherPlan = await stack.attest(handle, 'approve', 'cli:alice', { planHash: 'f'.repeat(64) });
    await handle.signal('approve', { attestation: otherRun });
    await handle.signal('approve', { attestation: otherPlan });
    expect(await ignoredRefusals(stack, handle.workflowId, 2)).toHaveLength(2);
    expect((await stack.status(handle)).approvals).toEqual([]);
    await stack.decide(handle, 'reject', 'cli:bob', 'test over');
    expect((await result(handle)).outcome).toBe('rejected');
  });

  it('the requester cannot approve their own run', async () => {
    const handle = await stack.rotate('self-serve', 'cli:carol');
    await stack.decide(handle, 'approve', 'cli:carol');
    expect(await ignoredRefusals(stack, handle.workflowId, 1)).toEqual(['self-approval']);
    expect((await stack.status(handle)).phase).toBe('awaiting_sign_off');
    await stack.decide(handle, 'reject', 'cli:bob', 'test over');
    expect((await result(handle)).outcome).toBe('rejected');
  });

  it('a decision is audited for its own run, even when its attestation reuses the jti of a decision on another run', async () => {
    const jti = randomUUID();
    const rejectWith = async (handle: Awaited<ReturnType<RotationStack['rotate']>>) => {
      const s = await stack.waitFor(handle, (x) => x.planHash !== undefined, 'a plan');
      const now = Math.floor(Date.now() / 1000);
      const claims = { channel: 'cli', approver: 'cli:bob', decision: 'reject', reason: 'not now', workflowId: handle.workflowId, runId: (await handle.describe()).runId, planHash: s.planHash, iat: now, exp: now + 300, jti };
      const attestation = await signRawAttestation(claims, stack.approverKey('cli:bob'));
      await handle.signal('reject', { attestation });
      expect((await result(handle)).outcome).toBe('rejected');
    };
    const first = await stack.rotate();
    await rejectWith(first);
    const second = await stack.rotate();
    await rejectWith(second);
    const { rows } = await stack.pool.query<{ workflow_id: string }>(
      `SELECT subject ->> 'workflowId' AS workflow_id FROM audit_log WHERE action = 'approval.reject' AND subject ->> 'workflowId' = ANY($1)`,
      [[first.workflowId, second.workflowId]],
    );
    expect(rows.map((r) => r.workflow_id).sort()).toEqual([first.workflowId, second.workflowId].sort());
  });

  it('a decision\'s check has no attempt limit (its retry policy sets no maximum): a long outage does not fail the run', async () => {
    const handle = await stack.rotate();
    await stack.decide(handle, 'reject', 'cli:bob', 'test over');
    expect((await result(handle)).outcome).toBe('rejected');
    const scheduled = (await handle.fetchHistory()).events!
      .map((e) => e.activityTaskScheduledEventAttributes)
      .find((a) => a?.activityType?.name === 'checkDecision');
    expect(scheduled?.retryPolicy?.maximumAttempts ?? 0).toBe(0);
  });

  it('the first terminal decision wins: an approval after a rejection does not revive the run', async () => {
    const handle = await stack.rotate();
    await stack.decide(handle, 'reject', 'cli:bob', 'no');
    await stack.decide(handle, 'approve', 'cli:alice').catch(() => undefined);
    expect((await result(handle)).outcome).toBe('rejected');
  });
});

describe('a quorum of 2', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'quorum', approvals: { quorum: 2 } });
  });
  afterAll(() => stack?.stop());

  it('one approval does not proceed, the same person twice does not count twice, two distinct approvers do', async () => {
    const handle = await stack.rotate();
    await stack.decide(handle, 'approve', 'cli:alice');
    await stack.waitFor(handle, (s) => s.approvals.length === 1, 'the first approval');
    await stack.decide(handle, 'approve', 'cli:alice');
    expect(await ignoredRefusals(stack, handle.workflowId, 1)).toEqual(['already-voted']);
    const waiting = await stack.status(handle);
    expect(waiting).toMatchObject({ phase: 'awaiting_sign_off', quorum: 2 });
    expect(waiting.approvals).toHaveLength(1);
    await stack.decide(handle, 'approve', 'cli:bob');
    const r = await result(handle);
    expect(r.outcome).toBe('completed');
    expect(r.approvals.map((v) => v.approver)).toEqual(['cli:alice', 'cli:bob']);
  });
});

describe('one person under two ids, with a quorum of 2', () => {
  let stack: RotationStack;
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'people', approvals: { quorum: 2, people: [['cli:alice', 'cli:carol']] } });
  });
  afterAll(() => stack?.stop());

  it('cannot approve their own run through their other id', async () => {
    const handle = await stack.rotate('one person, two ids', 'cli:carol');
    await stack.decide(handle, 'approve', 'cli:alice');
    expect(await ignoredRefusals(stack, handle.workflowId, 1)).toEqual(['self-approval']);
    expect((await stack.status(handle)).approvals).toEqual([]);
    await stack.decide(handle, 'reject', 'cli:bob', 'test over');
    expect((await result(handle)).outcome).toBe('rejected');
  });

  it('counts once: the second id\'s vote is refused as already voted, and a second person completes the quorum', async () => {
    const handle = await stack.rotate('two ids, one vote', 'cli:requester');
    await stack.decide(handle, 'approve', 'cli:alice');
    await stack.waitFor(handle, (s) => s.approvals.length === 1, 'the first approval');
    await stack.decide(handle, 'approve', 'cli:carol');
    expect(await ignoredRefusals(stack, handle.workflowId, 1)).toEqual(['already-voted']);
    expect((await stack.status(handle)).phase).toBe('awaiting_sign_off');
    await stack.decide(handle, 'approve', 'cli:bob');
    const r = await result(handle);
    expect(r.outcome).toBe('completed');
    expect(r.approvals.map((v) => v.approver)).toEqual(['cli:alice', 'cli:bob']);
  });
});

describe('a decision whose check runs after its attestation expired', () => {
  let stack: RotationStack;
  // The agents' clock runs 6 minutes ahead, as it is when a PostgreSQL outage held the check back
  // that long after the signal arrived: the attestation (5 minutes) has expired by check time.
  beforeAll(async () => {
    stack = await startRotationStack({ name: 'held-decision', clock: { now: () => new Date(Date.now() + 6 * 60_000) } });
  });
  afterAll(() => stack?.stop());

  it('refuses one that had already expired when its signal arrived', async () => {
    const handle = await stack.rotate();
    const s = await stack.waitFor(handle, (x) => x.phase === 'awaiting_sign_off' && x.planHash !== undefined, 'sign-off');
    const now = Math.floor(Date.now() / 1000);
    const claims = { channel: 'cli', approver: 'cli:bob', decision: 'approve', workflowId: handle.workflowId, runId: (await handle.describe()).runId, planHash: s.planHash, iat: now - 400, exp: now - 100, jti: randomUUID() };
    await handle.signal('approve', { attestation: await signRawAttestation(claims, stack.approverKey('cli:bob')) });
    expect(await ignoredRefusals(stack, handle.workflowId, 1)).toEqual(['attestation:expired']);
    expect((await stack.status(handle)).approvals).toEqual([]);
    await stack.decide(handle, 'reject', 'cli:bob', 'test over');
    expect((await result(handle)).outcome).toBe('rejected');
  });

  it('counts, because its expiry is judged when the signal reached the run', async () => {
    const handle = await stack.rotate();
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(handle, 'approve', 'cli:alice');
    const s = await stack.waitFor(handle, (x) => x.approvals.length > 0 || x.phase !== 'awaiting_sign_off', 'the approval to count');
    expect(s.approvals.map((a) => a.approver)).toEqual(['cli:alice']);
    const { rows } = await stack.pool.query<{ received: string }>(
      `SELECT details ->> 'signalReceivedAt' AS received FROM audit_log WHERE action = 'approval.approve' AND subject ->> 'workflowId' = $1`,
      [handle.workflowId],
    );
    expect(rows.map((r) => Math.abs(Date.parse(r.received) - Date.now()) < 60_000)).toEqual([true]);
  });

});

describe('a policy-change vote whose check runs after its attestation expired', () => {
  let db: PolicyDb;
  let stack: RotationStack;
  // As above, the agents' clock runs 6 minutes ahead. A vote on a policy change is judged when its
  // check runs, not when its signal arrived: the late-judging rule is only for rotation and
  // revocation votes held to today's policy at check time.
  beforeAll(async () => {
    db = await policyDatabase();
    stack = await startRotationStack({ name: 'held-policy-vote', databaseUrl: db.url, policyFromStore: true, clock: { now: () => new Date(Date.now() + 6 * 60_000) } });
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  it('is refused as expired, although it was fresh when its signal arrived', async () => {
    const text = readFileSync(stack.policyPath, 'utf8').replace(/escalationInterval: \S+/, 'escalationInterval: 20s');
    const handle = await startPolicyChange(stack.client, { text, reason: 'late vote', requester: 'cli:requester', taskQueue: stack.taskQueue });
    await stack.waitFor(handle, (s) => s.phase === 'awaiting_sign_off', 'sign-off');
    await stack.decide(handle, 'approve', 'cli:alice');
    expect(await ignoredRefusals(stack, handle.workflowId, 1)).toEqual(['attestation:expired']);
    expect((await stack.status(handle)).approvals).toEqual([]);
    await handle.terminate('test over');
  });
});
