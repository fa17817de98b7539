import { createHash } from 'node:crypto';
import { KeyturnError } from '../../config/errors.js';
import type { Queryable } from '../shared/db.js';

/** Identifies what a request asked for, so a reused request id with different arguments is refused. */
export function fingerprint(op: string, params: Record<string, unknown>): string {
  const sorted = Object.keys(params).sort().map((k) => [k, params[k] ?? null]);
  return createHash('sha256').update(JSON.stringify([op, sorted])).digest('hex');
}

export function assertRequestId(requestId: string): void {
  if (typeof requestId !== 'string' || requestId.length < 1 || requestId.length > 160) {
    throw new KeyturnError('REQUEST_ID_INVALID', 'requestId must be 1–160 characters', 'Derive it from the workflow and activity ids.');
  }
}

interface Stored<T> {
  fingerprint: string;
  value: T;
}

/**
 * Claims `requestId` inside the caller's transaction. Returns the first result when the id was
 * already used (a concurrent first attempt is waited for by the unique index), or undefined when
 * this attempt must do the work and then call `recordResult`.
 */
export async function claimRequest<T>(db: Queryable, requestId: string, op: string, fp: string, at: Date): Promise<{ replay: T } | undefined> {
  const ins = await db.query(
    `INSERT INTO key_requests (request_id, op, created_at) VALUES ($1, $2, $3)
     ON CONFLICT (request_id) DO NOTHING RETURNING request_id`,
    [requestId, op, at],
  );
  if (ins.rowCount === 1) return undefined;
  const prior = await priorResult<T>(db, requestId, op, fp);
  if (!prior) {
    throw new KeyturnError('REQUEST_IN_DOUBT', `request ${requestId} is recorded without a result`, 'Retry with the same request id.');
  }
  return prior;
}

/** The stored result of an earlier request, checking it was the same operation with the same arguments. */
export async function priorResult<T>(db: Queryable, requestId: string, op: string, fp: string): Promise<{ replay: T } | undefined> {
  const res = await db.query<{ op: string; result: Stored<T> | null }>('SELECT op, result FROM key_requests WHERE request_id = $1', [requestId]);
  const row = res.rows[0];
  if (!row || row.result === null) return undefined;
  if (row.op !== op || row.result.fingerprint !== fp) {
    throw new KeyturnError(
      'REQUEST_ID_CONFLICT',
      `request id ${requestId} was already used for a different ${row.op === op ? 'set of arguments' : `operation (${row.op})`}`,
      'Use a fresh request id for a different request.',
    );
  }
  return { replay: row.result.value };
}

export async function recordResult(db: Queryable, requestId: string, kid: string, fp: string, value: unknown): Promise<void> {
  await db.query('UPDATE key_requests SET kid = $2, result = $3::jsonb WHERE request_id = $1', [requestId, kid, JSON.stringify({ fingerprint: fp, value })]);
}
