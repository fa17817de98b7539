import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ActivityCallLedger, purgeActivityCalls, type ActivityCall } from '../../agents/shared/activity-calls.js';
import type { Queryable } from '../../agents/shared/db.js';
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

  it('purges only calls recorded more than 400 days ago', async () => {
    const ledger = new ActivityCallLedger(pool);
    const old = call();
    const recent = call();
    await Promise.all([ledger.firstScheduledMs(old), ledger.firstScheduledMs(recent)]);
    const admin = superuserPool();
    try {
      await admin.query(`UPDATE activity_calls SET recorded_at = now() - interval '401 days' WHERE workflow_id = $1`, [old.workflowId]);
    } finally {
      await admin.end();
    }
    while ((await purgeActivityCalls(pool)) > 0);
    const { rows } = await pool.query<{ workflow_id: string }>('SELECT workflow_id FROM activity_calls WHERE workflow_id = ANY($1)', [[old.workflowId, recent.workflowId]]);
    expect(rows.map((r) => r.workflow_id)).toEqual([recent.workflowId]);
  });
});
