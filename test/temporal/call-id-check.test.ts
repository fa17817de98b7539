import { randomUUID } from 'node:crypto';
import type { Context } from '@temporalio/activity';
import { describe, expect, it } from 'vitest';
import type { ActivityCall } from '../../agents/shared/activity-calls.js';
import { checkCallIds } from '../../workers/call-id-check.js';
import { formatCallId } from '../../workflows/call-ids.js';

const UPGRADE = new Date('2026-12-01T12:00:00Z');
const BEFORE = UPGRADE.getTime() - 3_600_000;
const AFTER = UPGRADE.getTime() + 3_600_000;

interface Task {
  activityId: string;
  activityType?: string;
  runId?: string;
  /** The run's started event: its original run id (another one after a reset) and time. */
  started?: { originalRunId?: string; at: number };
  scheduledAt?: number;
  withoutRun?: boolean;
  mark?: Date | undefined;
  workflowId?: string;
  /** The activity-call ledger the check consults: (workflow/run/activity id) → first scheduled ms. */
  ledger?: Map<string, number>;
  /** The ledger cannot tell yet (another worker is recording the call). */
  firstUnknown?: boolean;
  /** A scheduling of the same activity id in the run's history (a reset run's copy of the base run's events). */
  scheduledInHistoryAt?: number;
}

/** Runs one task through the interceptor; 'ran' when the activity itself was called. */
async function run(t: Task): Promise<string> {
  const runId = t.runId ?? randomUUID();
  const started = t.started ?? { at: BEFORE };
  const client = {
    workflowService: {
      getWorkflowExecutionHistory: async () => ({
        history: {
          events: [
            { eventTime: { seconds: Math.floor(started.at / 1000), nanos: 0 }, workflowExecutionStartedEventAttributes: { originalExecutionRunId: started.originalRunId ?? runId } },
            ...(t.scheduledInHistoryAt === undefined ? [] : [{ eventTime: { seconds: Math.floor(t.scheduledInHistoryAt / 1000), nanos: (t.scheduledInHistoryAt % 1000) * 1e6 }, activityTaskScheduledEventAttributes: { activityId: t.activityId } }]),
          ],
        },
      }),
    },
  };
  const info = {
    activityId: t.activityId, activityType: t.activityType ?? 'activateKey', scheduledTimestampMs: t.scheduledAt ?? BEFORE,
    ...(t.withoutRun ? {} : { workflowExecution: { workflowId: t.workflowId ?? `rotate-${randomUUID()}`, runId }, workflowNamespace: 'default' }),
  };
  const ledger = t.ledger ?? new Map<string, number>();
  const firstScheduledMs = async (c: ActivityCall) => {
    const key = `${c.workflowId}/${c.runId}/${c.activityId}`;
    if (t.firstUnknown) return undefined;
    if (!ledger.has(key)) ledger.set(key, c.scheduledMs);
    return ledger.get(key);
  };
  const inbound = checkCallIds({ upgradedAt: async () => ('mark' in t ? t.mark : UPGRADE), firstScheduledMs })({ info, client } as unknown as Context).inbound!;
  return inbound.execute!({ args: [], headers: {} }, async () => 'ran').then(
    (r) => String(r),
    (e: { type?: string; message?: string }) => e.type ?? `retried: ${e.message}`,
  );
}

describe('the worker\'s check of an activity task\'s id', () => {
  it('runs a call whose id names its own type and run', async () => {
    const runId = randomUUID();
    expect(await run({ runId, activityId: formatCallId({ activityType: 'activateKey', originalRunId: runId, seq: 3 }) })).toBe('ran');
  });

  it('runs a call of a reset run whose id names the run it was reset from', async () => {
    const original = randomUUID();
    expect(await run({ started: { originalRunId: original, at: AFTER }, activityId: formatCallId({ activityType: 'activateKey', originalRunId: original, seq: 3 }) })).toBe('ran');
  });

  it('refuses a call id of another run (ACTIVITY_ID_OTHER_RUN)', async () => {
    expect(await run({ activityId: formatCallId({ activityType: 'activateKey', originalRunId: randomUUID(), seq: 3 }) })).toBe('ACTIVITY_ID_OTHER_RUN');
  });

  it('refuses a call id of another type (ACTIVITY_ID_OTHER_CALL)', async () => {
    const runId = randomUUID();
    expect(await run({ runId, activityType: 'retireKey', activityId: formatCallId({ activityType: 'activateKey', originalRunId: runId, seq: 3 }) })).toBe('ACTIVITY_ID_OTHER_CALL');
  });

  it('runs a plain id scheduled before the upgrade in a run started before it (a call from before the patch)', async () => {
    expect(await run({ activityId: '3', started: { at: BEFORE }, scheduledAt: BEFORE + 1000 })).toBe('ran');
  });

  it('refuses a plain id scheduled after the upgrade, even in a run started before it (ACTIVITY_ID_PLAIN)', async () => {
    expect(await run({ activityId: '3', started: { at: BEFORE }, scheduledAt: AFTER })).toBe('ACTIVITY_ID_PLAIN');
  });

  it('refuses a plain id in a run started after the upgrade (ACTIVITY_ID_PLAIN)', async () => {
    expect(await run({ activityId: '3', started: { at: AFTER }, scheduledAt: AFTER })).toBe('ACTIVITY_ID_PLAIN');
  });

  it('refuses a plain id in a reset run (ACTIVITY_ID_PLAIN)', async () => {
    expect(await run({ activityId: '3', started: { originalRunId: randomUUID(), at: BEFORE }, scheduledAt: BEFORE })).toBe('ACTIVITY_ID_PLAIN');
  });

  it('retries a plain id while the upgrade is not recorded, neither running nor refusing it', async () => {
    expect(await run({ activityId: '3', mark: undefined })).toMatch(/^retried: the upgrade to call ids is not recorded/);
  });

  it.each([['a malformed call id', 'kt1/run/3'], ['an id keyturn does not make', 'my-own-id']])('refuses %s (ACTIVITY_ID_MALFORMED)', async (_what, activityId) => {
    expect(await run({ activityId })).toBe('ACTIVITY_ID_MALFORMED');
  });

  it('runs a retry of a call: its first scheduling is the one recorded', async () => {
    const runId = randomUUID();
    const workflowId = `rotate-${randomUUID()}`;
    const ledger = new Map<string, number>();
    const activityId = formatCallId({ activityType: 'activateKey', originalRunId: runId, seq: 3 });
    expect(await run({ runId, workflowId, ledger, activityId, scheduledAt: AFTER })).toBe('ran');
    expect(await run({ runId, workflowId, ledger, activityId, scheduledAt: AFTER })).toBe('ran');
  });

  it('refuses a call id the run schedules again after its call closed (ACTIVITY_CALL_REPEATED)', async () => {
    const runId = randomUUID();
    const workflowId = `rotate-${randomUUID()}`;
    const ledger = new Map<string, number>();
    const activityId = formatCallId({ activityType: 'activateKey', originalRunId: runId, seq: 3 });
    expect(await run({ runId, workflowId, ledger, activityId, scheduledAt: AFTER })).toBe('ran');
    expect(await run({ runId, workflowId, ledger, activityId, scheduledAt: AFTER + 5000 })).toBe('ACTIVITY_CALL_REPEATED');
  });

  it('refuses a call of a reset run that its history shows scheduled before the reset (ACTIVITY_CALL_REPEATED)', async () => {
    const original = randomUUID();
    const activityId = formatCallId({ activityType: 'activateKey', originalRunId: original, seq: 3 });
    expect(await run({ started: { originalRunId: original, at: AFTER }, activityId, scheduledInHistoryAt: AFTER - 60_000, scheduledAt: AFTER + 5_000 })).toBe('ACTIVITY_CALL_REPEATED');
  });

  it('runs a call of a reset run whose only scheduling in its history is its own', async () => {
    const original = randomUUID();
    const activityId = formatCallId({ activityType: 'activateKey', originalRunId: original, seq: 3 });
    expect(await run({ started: { originalRunId: original, at: AFTER }, activityId, scheduledInHistoryAt: AFTER + 5_123, scheduledAt: AFTER + 5_123 })).toBe('ran');
  });

  it('retries a call whose first scheduling cannot be read yet, neither running nor refusing it', async () => {
    const runId = randomUUID();
    const activityId = formatCallId({ activityType: 'activateKey', originalRunId: runId, seq: 3 });
    expect(await run({ runId, activityId, firstUnknown: true })).toMatch(/^retried: could not read when/);
  });

  it('refuses a task no workflow run scheduled (ACTIVITY_WITHOUT_RUN)', async () => {
    expect(await run({ activityId: '3', withoutRun: true })).toBe('ACTIVITY_WITHOUT_RUN');
  });
});
