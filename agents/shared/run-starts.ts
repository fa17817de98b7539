import { randomBytes } from 'node:crypto';
import { KeyturnError } from '../../config/errors.js';
import type { Queryable } from './db.js';

/** A fresh nonce for one start request (16 random bytes, base64url). */
export const newStartNonce = (): string => randomBytes(16).toString('base64url');

const NONCE = /^[A-Za-z0-9_-]{22,64}$/;

/**
 * Consumes a start request's nonce for this run. A retry of the same run's first activity finds its
 * own row and goes on; any other run (a copied start request, under another id or after the first
 * run ended) is refused with START_REPLAYED, as is a request without a nonce.
 */
export async function consumeStartNonce(db: Queryable, start: { nonce: string | undefined; workflowId: string; runId: string }): Promise<void> {
  if (typeof start.nonce !== 'string' || !NONCE.test(start.nonce)) {
    throw new KeyturnError('START_NONCE_MISSING', `run ${start.workflowId} was started without a start nonce`, 'Start runs through keyturn (CLI, Slack, schedules); a start request written by hand is refused.');
  }
  const inserted = await db.query('INSERT INTO run_starts (nonce, workflow_id, run_id) VALUES ($1, $2, $3) ON CONFLICT (nonce) DO NOTHING', [start.nonce, start.workflowId, start.runId]);
  if (inserted.rowCount === 1) return;
  const { rows } = await db.query<{ workflow_id: string; run_id: string }>('SELECT workflow_id, run_id FROM run_starts WHERE nonce = $1', [start.nonce]);
  const first = rows[0];
  if (first && first.workflow_id === start.workflowId && first.run_id === start.runId) return;
  throw new KeyturnError('START_REPLAYED', `run ${start.workflowId} carries the start request of run ${first?.workflow_id ?? '?'}: a start request is used once`, 'Start a new run through keyturn; if nobody here started this one, someone with Temporal access copied a start request from a history.');
}
