import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ActivityCallLedger, purgeClosedRunCalls, type ActivityCall, type RunState } from '../../agents/shared/activity-calls.js';
import type { Queryable } from '../../agents/shared/db.js';
import { APP_ROLE } from '../../db/pool.js';
import { superuserPool, testPool } from '../support/db.js';

const pool = testPool();
afterAll(() => pool.end());

const call = (o: Partial<ActivityCall> = {}): ActivityCall => ({ workflowId: `rotate-${randomUUID()}`, runId: randomUUID(), activityId: 'kt1/r/1/activateKey', scheduledMs: 1_764_590_400_123, ...o });

describe('the activity-call ledger', () => {
  it('answers a call\'s own scheduling the first time it sees it, and again for its retries', async () => {
    const ledger = new ActivityCallLedger(pool);
    const c = call();
    expect(await ledger.firstScheduledMs(c)).toBe(c.scheduledMs);
    expect(await ledger.firstScheduledMs(c)).toBe(c.scheduledMs);
  });

  it('answers the first scheduling when the run schedules the same call id again', async () => {
    const ledger = new ActivityCallLedger(pool);
    const c = call();
    await ledger.firstScheduledMs(c);
    expect(await ledger.firstScheduledMs({ ...c, scheduledMs: c.scheduledMs + 60_000 })).toBe(c.scheduledMs);
  });

  it('answers the first of two schedulings of a new call recorded in one statement', async () => {
    let statements = 0;
    const db: Queryable = {
      query(text, values) {
        statements++;
        return pool.query(text, values);
      },
    };
    const ledger = new ActivityCallLedger(db);
    const c = call();
    const together = [ledger.firstScheduledMs(c), ledger.firstScheduledMs({ ...c, scheduledMs: c.scheduledMs + 1 })];
    expect(await Promise.all(together)).toEqual([c.scheduledMs, c.scheduledMs]);
    expect(statements).toBe(1);
  });

  it('answers a call another worker records at the same moment with that worker\'s scheduling', async () => {
    const c = call();
    const other = await pool.connect();
    try {
      await other.query('BEGIN');
      await other.query('INSERT INTO activity_calls (workflow_id, run_id, activity_id, scheduled_ms) VALUES ($1, $2, $3, $4)', [c.workflowId, c.runId, c.activityId, c.scheduledMs]);
      const asked = new ActivityCallLedger(pool).firstScheduledMs({ ...c, scheduledMs: c.scheduledMs + 1 });
      await new Promise((r) => setTimeout(r, 200));
      await other.query('COMMIT');
      expect(await asked).toBe(c.scheduledMs);
    } finally {
      other.release();
    }
  });

  it('keeps calls of other runs and workflows apart', async () => {
    const ledger = new ActivityCallLedger(pool);
    const c = call();
    await ledger.firstScheduledMs(c);
    expect(await ledger.firstScheduledMs({ ...c, runId: randomUUID(), scheduledMs: 5 })).toBe(5);
    expect(await ledger.firstScheduledMs({ ...c, workflowId: `rotate-${randomUUID()}`, scheduledMs: 6 })).toBe(6);
  });

  describe('purge', () => {
    /**
     * Runs `fn` in a transaction that is rolled back, so no worker of another test file, whose own
     * purge asks a real Temporal about these made-up runs, ever sees them. Rows are recorded and aged
     * as the database owner, then the purge runs as the runtime role, as in a worker.
     */
    const privately = async (fn: (tx: Queryable, runs: Record<'open' | 'closed' | 'unknown' | 'recent', ActivityCall>, stateOf: (r: { runId: string }) => Promise<RunState>) => Promise<void>) => {
      const admin = superuserPool();
      const tx = await admin.connect();
      try {
        await tx.query('BEGIN');
        const runs = { open: call(), closed: call(), unknown: call(), recent: call() };
        await new ActivityCallLedger(tx).firstScheduledMs(runs.recent);
        for (const c of [runs.open, runs.closed, runs.unknown]) {
          await tx.query(`INSERT INTO activity_calls (workflow_id, run_id, activity_id, scheduled_ms, recorded_at) VALUES ($1, $2, $3, $4, now() - interval '401 days')`, [c.workflowId, c.runId, c.activityId, c.scheduledMs]);
        }
        await tx.query(`SET LOCAL ROLE ${APP_ROLE}`);
        const state = new Map<string, RunState>([[runs.open.runId, 'open'], [runs.closed.runId, 'closed'], [runs.unknown.runId, 'unknown'], [runs.recent.runId, 'closed']]);
        await fn(tx, runs, async ({ runId }) => state.get(runId) ?? 'open');
      } finally {
        await tx.query('ROLLBACK').catch(() => {});
        tx.release();
        await admin.end();
      }
    };
    const left = async (tx: Queryable, calls: ActivityCall[]) =>
      (await tx.query<{ run_id: string }>('SELECT run_id FROM activity_calls WHERE run_id = ANY($1)', [calls.map((c) => c.runId)])).rows.map((r) => r.run_id).sort();

    it('removes the calls recorded more than 400 days ago of runs Temporal reports closed', () =>
      privately(async (tx, runs, stateOf) => {
        await purgeClosedRunCalls(tx, stateOf);
        expect(await left(tx, [runs.closed])).toEqual([]);
      }));

    it('keeps every call of a run that is still open, however old', () =>
      privately(async (tx, runs, stateOf) => {
        await purgeClosedRunCalls(tx, stateOf);
        expect(await left(tx, [runs.open])).toEqual([runs.open.runId]);
      }));

    it('keeps the calls of a run whose state could not be read, and those recorded in the last 400 days', () =>
      privately(async (tx, runs, stateOf) => {
        await purgeClosedRunCalls(tx, stateOf);
        expect(await left(tx, [runs.unknown, runs.recent])).toEqual([runs.unknown.runId, runs.recent.runId].sort());
      }));

    it('removes no call recorded in the last 400 days, even of a run named to it directly', () =>
      privately(async (tx, { recent }) => {
        const { rows } = await tx.query<{ purged: number }>('SELECT purge_activity_calls($1::text[], $2::text[]) AS purged', [[recent.workflowId], [recent.runId]]);
        expect(rows[0]!.purged).toBe(0);
        expect(await left(tx, [recent])).toEqual([recent.runId]);
      }));

    it('leaves the purge that workers from before this rule call answering, and removing nothing', () =>
      privately(async (tx, runs) => {
        const { rows } = await tx.query<{ purged: number }>('SELECT purge_activity_calls(10000) AS purged');
        expect(rows[0]!.purged).toBe(0);
        expect(await left(tx, [runs.open, runs.closed])).toEqual([runs.open.runId, runs.closed.runId].sort());
      }));

    it('pages through every run with old calls', () =>
      privately(async (tx, runs, stateOf) => {
        const report = await purgeClosedRunCalls(tx, stateOf, 1);
        expect(await left(tx, [runs.closed, runs.open])).toEqual([runs.open.runId]);
        expect(report.open).toBeGreaterThanOrEqual(1);
        expect(report.unknown).toBeGreaterThanOrEqual(1);
      }));
  });
});
