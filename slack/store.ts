import type { Queryable } from '../agents/shared/db.js';
import type { RunProgress, SignOffRequestView } from './messages.js';

export interface SlackMessageRow {
  workflowId: string;
  runId: string;
  channel: string;
  ts: string | null;
  request: SignOffRequestView;
  progress: RunProgress;
}

/** Where each run's sign-off message lives, so later events update it in place. */
export interface SlackMessageStore {
  get(workflowId: string): Promise<SlackMessageRow | undefined>;
  /** Records the request before it is posted; replaces a row of an earlier run of the same workflow id. */
  upsertRequest(row: { workflowId: string; runId: string; channel: string; request: SignOffRequestView }): Promise<SlackMessageRow>;
  setTs(workflowId: string, ts: string): Promise<void>;
  /** Merges `patch` into the stored progress and returns the row as it now is. */
  mergeProgress(workflowId: string, patch: RunProgress): Promise<SlackMessageRow | undefined>;
}

type Row = { workflow_id: string; run_id: string; channel: string; ts: string | null; request: SignOffRequestView; progress: RunProgress };
const toRow = (r: Row): SlackMessageRow => ({ workflowId: r.workflow_id, runId: r.run_id, channel: r.channel, ts: r.ts, request: r.request, progress: r.progress });
const COLUMNS = 'workflow_id, run_id, channel, ts, request, progress';

export function pgSlackMessages(db: Queryable): SlackMessageStore {
  return {
    async get(workflowId) {
      const res = await db.query<Row>(`SELECT ${COLUMNS} FROM slack_messages WHERE workflow_id = $1`, [workflowId]);
      return res.rows[0] ? toRow(res.rows[0]) : undefined;
    },
    async upsertRequest(r) {
      const res = await db.query<Row>(
        `INSERT INTO slack_messages (workflow_id, run_id, channel, request) VALUES ($1, $2, $3, $4)
         ON CONFLICT (workflow_id) DO UPDATE
           SET run_id = EXCLUDED.run_id, channel = EXCLUDED.channel, request = EXCLUDED.request,
               ts = CASE WHEN slack_messages.run_id = EXCLUDED.run_id THEN slack_messages.ts END,
               progress = CASE WHEN slack_messages.run_id = EXCLUDED.run_id THEN slack_messages.progress ELSE '{}'::jsonb END,
               updated_at = now()
         RETURNING ${COLUMNS}`,
        [r.workflowId, r.runId, r.channel, JSON.stringify(r.request)],
      );
      return toRow(res.rows[0]!);
    },
    async setTs(workflowId, ts) {
      await db.query('UPDATE slack_messages SET ts = $2, updated_at = now() WHERE workflow_id = $1', [workflowId, ts]);
    },
    async mergeProgress(workflowId, patch) {
      const res = await db.query<Row>(
        `UPDATE slack_messages SET progress = progress || $2::jsonb, updated_at = now() WHERE workflow_id = $1 RETURNING ${COLUMNS}`,
        [workflowId, JSON.stringify(patch)],
      );
      return res.rows[0] ? toRow(res.rows[0]) : undefined;
    },
  };
}

/** The same store in memory, for a process without PostgreSQL (and for tests of the rendering). */
export function memorySlackMessages(): SlackMessageStore {
  const rows = new Map<string, SlackMessageRow>();
  const copy = (r: SlackMessageRow | undefined) => (r ? (JSON.parse(JSON.stringify(r)) as SlackMessageRow) : undefined);
  return {
    async get(id) {
      return copy(rows.get(id));
    },
    async upsertRequest(r) {
      const prev = rows.get(r.workflowId);
      const same = prev?.runId === r.runId;
      const row: SlackMessageRow = { ...r, ts: same ? prev!.ts : null, progress: same ? prev!.progress : {} };
      rows.set(r.workflowId, row);
      return copy(row)!;
    },
    async setTs(id, ts) {
      const r = rows.get(id);
      if (r) r.ts = ts;
    },
    async mergeProgress(id, patch) {
      const r = rows.get(id);
      if (!r) return undefined;
      r.progress = { ...r.progress, ...patch };
      return copy(r);
    },
  };
}
