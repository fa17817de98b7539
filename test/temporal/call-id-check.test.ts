import { randomUUID } from 'node:crypto';
import type { Context } from '@temporalio/activity';
import { describe, expect, it } from 'vitest';
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
}

/** Runs one task through the interceptor; 'ran' when the activity itself was called. */
async function run(t: Task): Promise<string> {
  const runId = t.runId ?? randomUUID();
  const started = t.started ?? { at: BEFORE };
  const client = {
    workflowService: {
      getWorkflowExecutionHistory: async () => ({ history: { events: [{ eventTime: { seconds: Math.floor(started.at / 1000), nanos: 0 }, workflowExecutionStartedEventAttributes: { originalExecutionRunId: started.originalRunId ?? runId } }] } }),
    },
  };
  const info = {
    activityId: t.activityId, activityType: t.activityType ?? 'activateKey', scheduledTimestampMs: t.scheduledAt ?? BEFORE,
    ...(t.withoutRun ? {} : { workflowExecution: { workflowId: `rotate-${randomUUID()}`, runId }, workflowNamespace: 'default' }),
  };
  const inbound = checkCallIds({ upgradedAt: async () => ('mark' in t ? t.mark : UPGRADE) })({ info, client } as unknown as Context).inbound!;
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

  it('refuses a task no workflow run scheduled (ACTIVITY_WITHOUT_RUN)', async () => {
    expect(await run({ activityId: '3', withoutRun: true })).toBe('ACTIVITY_WITHOUT_RUN');
  });
});
