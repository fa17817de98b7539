import { Batcher } from './batcher.js';
import type { Queryable } from './db.js';

/** One scheduling of an activity call, as its task tells it. */
export interface ActivityCall {
  workflowId: string;
  runId: string;
  activityId: string;
  /** When the Temporal server scheduled the call; a retry keeps its first attempt's. */
  scheduledMs: number;
}

/**
 * The activity-call ledger (activity_calls): records each call the first time a worker sees it and
 * answers when that call was first scheduled. Concurrent tasks share one statement (see Batcher).
 */
export class ActivityCallLedger {
  readonly #batcher: Batcher<ActivityCall, number | undefined>;

  constructor(db: Queryable) {
    this.#batcher = new Batcher((calls) => firstScheduled(db, calls), { maxBatch: 256 });
  }

  /**
   * When this call (workflow, run, activity id) was first scheduled: `call.scheduledMs` unless it was
   * scheduled before. Undefined only if the row cannot be read even after another transaction
   * recorded it at the same moment: ask again.
   */
  firstScheduledMs(call: ActivityCall): Promise<number | undefined> {
    return this.#batcher.submit(call);
  }
}

async function firstScheduled(db: Queryable, calls: readonly ActivityCall[]): Promise<(number | undefined)[]> {
  // The outer SELECT sees the table as it was before the INSERT: a call new in this batch is found
  // in `added` (its first scheduling in the batch wins), an older one in activity_calls.
  const { rows } = await db.query<{ first_ms: string | null }>(
    `WITH input AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY AS t(workflow_id, run_id, activity_id, scheduled_ms, ord)),
     added AS (
       INSERT INTO activity_calls (workflow_id, run_id, activity_id, scheduled_ms)
       SELECT workflow_id, run_id, activity_id, scheduled_ms FROM input ORDER BY ord
       ON CONFLICT DO NOTHING
       RETURNING workflow_id, run_id, activity_id, scheduled_ms)
     SELECT COALESCE(a.scheduled_ms, earlier.scheduled_ms)::text AS first_ms
       FROM input i
       LEFT JOIN added a ON (a.workflow_id, a.run_id, a.activity_id) = (i.workflow_id, i.run_id, i.activity_id)
       LEFT JOIN activity_calls earlier ON (earlier.workflow_id, earlier.run_id, earlier.activity_id) = (i.workflow_id, i.run_id, i.activity_id)
      ORDER BY i.ord`,
    [calls.map((c) => c.workflowId), calls.map((c) => c.runId), calls.map((c) => c.activityId), calls.map((c) => Math.trunc(c.scheduledMs))],
  );
  const firsts = rows.map((r) => (r.first_ms === null ? undefined : Number(r.first_ms)));
  // Null: another transaction recorded the call while this statement ran (its insert waited for
  // that one, and the statement's snapshot predates it). A new statement sees it.
  for (const [i, first] of firsts.entries()) {
    if (first !== undefined) continue;
    const c = calls[i]!;
    const again = await db.query<{ first_ms: string }>('SELECT scheduled_ms::text AS first_ms FROM activity_calls WHERE workflow_id = $1 AND run_id = $2 AND activity_id = $3', [c.workflowId, c.runId, c.activityId]);
    firsts[i] = again.rows[0] ? Number(again.rows[0].first_ms) : undefined;
  }
  return firsts;
}

/** A run with ledger rows older than 400 days, as Temporal reports it; 'unknown': it could not be asked. */
export type RunState = 'open' | 'closed' | 'unknown';
export interface LedgerRun {
  workflowId: string;
  runId: string;
}

export interface PurgeReport {
  /** Rows removed (older than 400 days, of closed runs). */
  purged: number;
  /** Runs with rows that old that are still open: their rows stay. */
  open: number;
  /** Runs with rows that old whose state could not be read: their rows stay until a later purge. */
  unknown: number;
}

/**
 * Removes ledger rows older than 400 days of the runs Temporal reports closed or no longer knows
 * (purge_activity_calls). An open run keeps every row, however old: it could still schedule one of
 * those calls again. A run whose state cannot be read keeps its rows until the next purge.
 */
export async function purgeClosedRunCalls(db: Queryable, stateOf: (run: LedgerRun) => Promise<RunState>, batch = 100): Promise<PurgeReport> {
  const report: PurgeReport = { purged: 0, open: 0, unknown: 0 };
  let after: LedgerRun = { workflowId: '', runId: '' };
  for (;;) {
    const { rows } = await db.query<{ workflow_id: string; run_id: string }>(
      `SELECT DISTINCT workflow_id, run_id FROM activity_calls
        WHERE recorded_at < now() - interval '400 days' AND (workflow_id, run_id) > ($1, $2)
        ORDER BY workflow_id, run_id LIMIT $3`,
      [after.workflowId, after.runId, batch],
    );
    const runs = rows.map((r) => ({ workflowId: r.workflow_id, runId: r.run_id }));
    const states = await Promise.all(runs.map((run) => stateOf(run)));
    const closed = runs.filter((_, i) => states[i] === 'closed');
    report.open += states.filter((st) => st === 'open').length;
    report.unknown += states.filter((st) => st === 'unknown').length;
    if (closed.length) {
      const gone = await db.query<{ purged: number }>('SELECT purge_activity_calls($1::text[], $2::text[]) AS purged', [closed.map((r) => r.workflowId), closed.map((r) => r.runId)]);
      report.purged += gone.rows[0]?.purged ?? 0;
    }
    if (runs.length < batch) return report;
    after = runs.at(-1)!;
  }
}
