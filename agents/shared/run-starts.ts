import { randomBytes } from 'node:crypto';
import { KeyturnError } from '../../config/errors.js';
import type { Queryable } from './db.js';

/** How long a start request can be used, judged by the database clock. */
export const START_VALIDITY_DAYS = 7;
/** A starter's clock may run ahead of the database's by this much. */
const FUTURE_SKEW = '10 minutes';
/** Consumed nonces are remembered this long after their date: by then a copy is refused by its date. */
const REMEMBERED = `${START_VALIDITY_DAYS + 1} days`;

/** `t<issued at, ms since the epoch in base 36>_<random>`: the random part is 16+ bytes. */
const DATED = /^t([0-9a-z]{1,11})_([A-Za-z0-9_-]{22,43})$/;
/** What the table accepts: dated nonces, and the undated ones of runs started before they were dated. */
const ANY_NONCE = /^[A-Za-z0-9_-]{22,64}$/;

/** A fresh nonce for one start request: dated now, 16 random bytes. */
export const newStartNonce = (now = Date.now()): string => `t${Math.floor(now).toString(36)}_${randomBytes(16).toString('base64url')}`;

interface Start {
  nonce: string | undefined;
  workflowId: string;
  runId: string;
}

/**
 * Consumes a start request's nonce for this run. A retry of the same run's first activity finds its
 * own row and goes on, whatever the date. Otherwise: another run's nonce (a copied start request,
 * under another id or after the first run ended) is refused with START_REPLAYED, a request without
 * a dated nonce with START_NONCE_MISSING, and one dated more than 7 days ago (or ahead of the
 * database clock) with START_EXPIRED. A dated nonce is recorded even when refused, so a copy of a
 * refused request is refused as replayed, never accepted later.
 */
export async function consumeStartNonce(db: Queryable, start: Start): Promise<void> {
  const missing = () => new KeyturnError('START_NONCE_MISSING', `run ${start.workflowId} was started without a dated start nonce`, 'Start runs through keyturn (CLI, Slack, schedules) of the same version as the workers; a start request written by hand is refused.');
  if (typeof start.nonce !== 'string' || !ANY_NONCE.test(start.nonce)) throw missing();
  if (await ownedByThisRun(db, start)) return;
  const dated = DATED.exec(start.nonce);
  const issuedAtMs = dated ? parseInt(dated[1]!, 36) : NaN;
  if (!Number.isSafeInteger(issuedAtMs)) throw missing();

  const { rows } = await db.query<{ inserted: boolean; fresh: boolean; ahead: boolean }>(
    `WITH ins AS (
       INSERT INTO run_starts (nonce, workflow_id, run_id, issued_at) VALUES ($1, $2, $3, to_timestamp($4::bigint / 1000.0))
       ON CONFLICT (nonce) DO NOTHING RETURNING issued_at)
     SELECT EXISTS (SELECT 1 FROM ins) AS inserted,
            to_timestamp($4::bigint / 1000.0) >= now() - make_interval(days => $5) AS fresh,
            to_timestamp($4::bigint / 1000.0) > now() + interval '${FUTURE_SKEW}' AS ahead`,
    [start.nonce, start.workflowId, start.runId, issuedAtMs, START_VALIDITY_DAYS],
  );
  const r = rows[0]!;
  // Lost a race with another run presenting the same nonce: judge it as if its row had been there.
  if (!r.inserted) {
    if (await ownedByThisRun(db, start)) return;
    throw replayed(start, '?');
  }
  if (r.fresh && !r.ahead) return;
  const when = new Date(issuedAtMs).toISOString();
  throw r.ahead
    ? new KeyturnError('START_EXPIRED', `run ${start.workflowId} carries a start request dated ${when}, ahead of the database clock`, 'The starter\'s clock runs ahead: fix it and start a new run. Nothing was changed.')
    : new KeyturnError('START_EXPIRED', `run ${start.workflowId} carries a start request dated ${when}: a start request is used within ${START_VALIDITY_DAYS} days`, 'Start a new run; if this one waited while workers were down, nothing was changed.');
}

/** True when this run already owns the nonce (a retry); throws START_REPLAYED when another run does. */
async function ownedByThisRun(db: Queryable, start: Start): Promise<boolean> {
  const { rows } = await db.query<{ workflow_id: string; run_id: string }>('SELECT workflow_id, run_id FROM run_starts WHERE nonce = $1', [start.nonce]);
  const first = rows[0];
  if (!first) return false;
  if (first.workflow_id === start.workflowId && first.run_id === start.runId) return true;
  throw replayed(start, first.workflow_id);
}

function replayed(start: Start, firstWorkflowId: string): KeyturnError {
  return new KeyturnError('START_REPLAYED', `run ${start.workflowId} carries the start request of run ${firstWorkflowId}: a start request is used once`, 'Start a new run through keyturn; if nobody here started this one, someone with Temporal access copied a start request from a history.');
}

/**
 * Forgets nonces dated more than 8 days ago (a copy of one is refused by its date), a batch at a
 * time and skipping rows another transaction holds. Best effort: run outside any run's transaction.
 */
export async function purgeRunStarts(db: Queryable, batch = 1000): Promise<number> {
  const res = await db.query(
    `DELETE FROM run_starts WHERE nonce IN (
       SELECT nonce FROM run_starts WHERE issued_at < now() - interval '${REMEMBERED}' LIMIT $1 FOR UPDATE SKIP LOCKED)`,
    [batch],
  );
  return res.rowCount ?? 0;
}
