import { randomBytes } from 'node:crypto';
import { KeyturnError } from '../../config/errors.js';
import type { Queryable } from './db.js';

/**
 * How long a start request can be used. A copy older than this is refused by its date alone, so a
 * consumed nonce is only remembered for this long (plus a day, for clocks that disagree).
 */
export const START_VALIDITY_MS = 7 * 24 * 3600_000;
const REMEMBERED_MS = START_VALIDITY_MS + 24 * 3600_000;
/** A starter's clock may run ahead of the worker's by this much. */
const FUTURE_SKEW_MS = 10 * 60_000;

/** `t<issued at, ms since the epoch in base 36>_<random>`: the random part is 16+ bytes. */
const NONCE = /^t([0-9a-z]{1,11})_([A-Za-z0-9_-]{22,43})$/;

/** Builds a dated nonce from an instant and at least 16 random bytes' worth of text (a workflow passes uuid4 hex). */
export function startNonceAt(issuedAtMs: number, random: string): string {
  return `t${Math.floor(issuedAtMs).toString(36)}_${random}`;
}

/** A fresh nonce for one start request: dated now, 16 random bytes. */
export const newStartNonce = (now = Date.now()): string => startNonceAt(now, randomBytes(16).toString('base64url'));

/**
 * Consumes a start request's nonce for this run. A retry of the same run's first activity finds its
 * own row and goes on; any other run (a copied start request, under another id or after the first
 * run ended) is refused with START_REPLAYED, a request without a dated nonce with
 * START_NONCE_MISSING, and one older than START_VALIDITY_MS with START_EXPIRED. Rows past that age
 * are purged on the way: their copies are refused by date.
 */
export async function consumeStartNonce(db: Queryable, start: { nonce: string | undefined; workflowId: string; runId: string }, now = new Date()): Promise<void> {
  const issuedAt = issuedAtOf(start.nonce);
  if (issuedAt === undefined) {
    throw new KeyturnError('START_NONCE_MISSING', `run ${start.workflowId} was started without a dated start nonce`, 'Start runs through keyturn (CLI, Slack, schedules) of the same version as the workers; a start request written by hand is refused.');
  }
  const age = now.getTime() - issuedAt;
  if (age > START_VALIDITY_MS || age < -FUTURE_SKEW_MS) {
    throw new KeyturnError('START_EXPIRED', `run ${start.workflowId} carries a start request dated ${new Date(issuedAt).toISOString()}: a start request is used within ${START_VALIDITY_MS / 86_400_000} days`, age < 0 ? 'The starter\'s clock runs ahead of this worker\'s: fix the clock and start a new run.' : 'Start a new run; if this one was queued while workers were down, nothing was changed.');
  }
  await db.query(`DELETE FROM run_starts WHERE consumed_at < $1::timestamptz`, [new Date(now.getTime() - REMEMBERED_MS)]);
  const inserted = await db.query('INSERT INTO run_starts (nonce, workflow_id, run_id) VALUES ($1, $2, $3) ON CONFLICT (nonce) DO NOTHING', [start.nonce, start.workflowId, start.runId]);
  if (inserted.rowCount === 1) return;
  const { rows } = await db.query<{ workflow_id: string; run_id: string }>('SELECT workflow_id, run_id FROM run_starts WHERE nonce = $1', [start.nonce]);
  const first = rows[0];
  if (first && first.workflow_id === start.workflowId && first.run_id === start.runId) return;
  throw new KeyturnError('START_REPLAYED', `run ${start.workflowId} carries the start request of run ${first?.workflow_id ?? '?'}: a start request is used once`, 'Start a new run through keyturn; if nobody here started this one, someone with Temporal access copied a start request from a history.');
}

function issuedAtOf(nonce: string | undefined): number | undefined {
  const m = typeof nonce === 'string' ? NONCE.exec(nonce) : null;
  if (!m) return undefined;
  const ms = parseInt(m[1]!, 36);
  return Number.isSafeInteger(ms) ? ms : undefined;
}
